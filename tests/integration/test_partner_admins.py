"""Delegated partner admins against a real Synapse: a fragment's admin plans and applies only
their own organisation, and is refused everywhere else (CLI and bot)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from borough import audit
from borough.db import AuditEntry, create_engine, session_factory
from borough.testing.waiting import wait_until
from provisioning.apply_lock import NETWORK_APPLY_LOCK, apply_lock_key
from tests.conftest import (
    Homeserver,
    HttpError,
    borough,
    someone_waits_for_an_advisory_lock,
    write_settings,
)
from tests.integration.running_bot import ThreadedBot, running_bot
from tests.integration.test_bot import Person

pytestmark = pytest.mark.integration

FRAGMENTS = Path(__file__).parents[1] / "fixtures" / "fragments"
ORG_FILE = FRAGMENTS / "main.yaml"


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory, settings_file: Path) -> Path:
    """A copy of the fragments fixture, applied in full by the service account."""
    folder = tmp_path_factory.mktemp("chart")
    shutil.copytree(FRAGMENTS, folder, dirs_exist_ok=True)
    result = borough("apply", "-q", str(folder / "main.yaml"), settings=settings_file)
    assert result.exit_code == 0, result.output
    return folder / "main.yaml"


def _entries(database_url: str, action: str) -> list[AuditEntry]:
    async def read() -> list[AuditEntry]:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                return await audit.entries(session, action=action)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _exists(hs: Homeserver, username: str) -> bool:
    try:
        hs.admin("GET", f"/_synapse/admin/v2/users/{hs.user_id(username)}")
    except HttpError as exc:
        assert exc.status == 404
        return False
    return True


def test_a_partner_admin_applies_only_their_own_organisation(
    chart: Path, settings_file: Path, homeserver: Homeserver, app_database_url: str
) -> None:
    fragment = chart.parent / "orgs" / "fhealth.yaml"
    fragment.write_text(
        fragment.read_text().replace(
            "  - {username: hnurse,",
            "  - {username: hmidwife, display_name: Mia Midwife, units: [hward]}\n"
            "  - {username: hnurse,",
        )
    )
    chart.write_text(
        chart.read_text().replace(
            "people:\n",
            "people:\n  - {username: fnew, display_name: Nia New, organisation: fcouncil}\n",
        )
    )
    plan = borough(
        "partner", "plan", str(chart), "--org", "fhealth", "--as", "@hadmin", settings=settings_file
    )
    assert plan.exit_code == 0, plan.output
    assert f"+ {homeserver.user_id('hmidwife')}" in plan.output
    assert "fnew" not in plan.output
    assert "outside 'fhealth' left for the admins of the main org file" in plan.output

    applied = borough(
        "partner", "apply", "-q", str(chart), "--org", "fhealth", "--as", "hadmin",
        settings=settings_file,
    )  # fmt: skip
    assert applied.exit_code == 0, applied.output
    assert _exists(homeserver, "hmidwife")
    assert not _exists(homeserver, "fnew")
    ward = homeserver.room_id("hward-general")
    members = homeserver.admin("GET", f"/_synapse/admin/v1/rooms/{ward}/members")["members"]
    assert homeserver.user_id("hmidwife") in members

    [entry] = _entries(app_database_url, "partner.apply")
    assert entry.actor == homeserver.user_id("hadmin")
    assert entry.target_ids == ["fhealth"]
    assert entry.details["done"] == entry.details["planned"] > 0


def test_a_partner_admin_deactivates_only_their_own_leavers(
    chart: Path, settings_file: Path, homeserver: Homeserver
) -> None:
    fragment = chart.parent / "orgs" / "fhealth.yaml"
    fragment.write_text(
        "\n".join(ln for ln in fragment.read_text().splitlines() if "hmidwife" not in ln) + "\n"
    )
    chart.write_text(
        "\n".join(ln for ln in chart.read_text().splitlines() if "username: fstaff" not in ln)
        + "\n"
    )
    args = ["partner", "apply", str(chart), "--org", "fhealth", "--as", "hadmin"]
    held = borough(*args, settings=settings_file)
    assert held.exit_code == 0, held.output
    assert f"- {homeserver.user_id('hmidwife')}" in held.output
    assert "[needs --deactivate-leavers]" in held.output
    assert "fstaff" not in held.output
    done = borough(*args, "--deactivate-leavers", settings=settings_file)
    assert done.exit_code == 0, done.output

    def deactivated(username: str) -> bool:
        path = f"/_synapse/admin/v2/users/{homeserver.user_id(username)}"
        return bool(homeserver.admin("GET", path)["deactivated"])

    assert deactivated("hmidwife")
    assert not deactivated("fstaff")  # the council's leaver is the main file's admins' call


def test_a_partner_admin_is_refused_outside_their_organisation(
    chart: Path, settings_file: Path, homeserver: Homeserver
) -> None:
    for command in ("plan", "apply"):
        result = borough(
            "partner", command, str(chart), "--org", "fcouncil", "--as", "@hadmin",
            settings=settings_file,
        )  # fmt: skip
        assert result.exit_code == 3, result.output
        assert (
            f"{homeserver.user_id('hadmin')} is not an admin of 'fcouncil'; you administer fhealth"
        ) in result.output
    assert not _exists(homeserver, "fnew")
    nobody = borough(
        "partner", "plan", str(chart), "--org", "fhealth", "--as", "@hnurse", settings=settings_file
    )
    assert nobody.exit_code == 3
    assert "listed under its 'admins:'" in nobody.output
    unknown = borough(
        "partner", "plan", str(chart), "--org", "nope", "--as", "@hadmin", settings=settings_file
    )
    assert unknown.exit_code == 2
    assert "there is no organisation 'nope' in the org chart" in unknown.output


def test_an_operator_token_must_belong_to_the_named_admin(
    chart: Path, settings_file: Path, homeserver: Homeserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOROUGH_OPERATOR_TOKEN", homeserver.login_as("hnurse"))
    borrowed = borough(
        "partner", "plan", str(chart), "--org", "fhealth", "--as", "@hadmin", settings=settings_file
    )
    assert borrowed.exit_code == 3
    assert "BOROUGH_OPERATOR_TOKEN belongs to" in borrowed.output
    monkeypatch.setenv("BOROUGH_OPERATOR_TOKEN", "syt_not_a_real_token")
    stale = borough("partner", "plan", str(chart), "--org", "fhealth", settings=settings_file)
    assert stale.exit_code == 3
    assert "the homeserver refused BOROUGH_OPERATOR_TOKEN (M_UNKNOWN_TOKEN)" in stale.output
    assert "syt_not_a_real_token" not in stale.output
    monkeypatch.setenv("BOROUGH_OPERATOR_TOKEN", homeserver.login_as("hadmin"))
    proven = borough("partner", "plan", str(chart), "--org", "fhealth", settings=settings_file)
    assert proven.exit_code == 0, proven.output


# --- the bot: !admin ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin_bot(homeserver: Homeserver, app_database_url: str, chart: Path) -> Iterator[ThreadedBot]:
    user_id, token = homeserver.synapse.register_user("adminbot", secrets.token_hex(8))
    with running_bot(
        homeserver, app_database_url, user_id, token, service_token=homeserver.service_token
    ) as bot:
        yield bot


def _suspended(hs: Homeserver, username: str) -> bool:
    return bool(hs.admin("GET", f"/_synapse/admin/v2/users/{hs.user_id(username)}")["suspended"])


def test_admin_commands_in_chat_are_scoped_to_the_askers_organisation(
    homeserver: Homeserver, admin_bot: ThreadedBot, app_database_url: str
) -> None:
    hana = Person(homeserver, "hadmin", admin_bot.user_id)
    hugo = Person(homeserver, "hnurse", admin_bot.user_id)

    # `!help` lists the admin commands to admins only (the org space's power levels say who).
    assert "- `!admin suspend PERSON REASON…`" in hana.ask("!help")
    assert "!admin" not in hugo.ask("!help")
    people = hana.ask("!admin people")
    assert people.startswith("**fhealth**: 2 people, 1 left")  # hmidwife left above
    assert f"Hugo Nurse ({homeserver.user_id('hnurse')})" in people
    assert "Finn Staff" not in people
    assert "Only admins of `fhealth` can do that" in hugo.ask("!admin people")

    refused = hana.ask("!admin suspend @fstaff posting at night")
    assert "Only admins of `fcouncil` can do that" in refused
    assert not _suspended(homeserver, "fstaff")
    assert "`reason` is missing" in hana.ask("!admin suspend hnurse")
    assert "I know of nobody called" in hana.ask("!admin suspend @ghost some reason")

    done = hana.ask("!admin suspend hnurse left the ward unattended")
    assert done.startswith(f"Suspended Hugo Nurse ({homeserver.user_id('hnurse')})")
    assert _suspended(homeserver, "hnurse")
    assert "already suspended" in hana.ask("!admin suspend hnurse again")
    assert "no longer suspended" in hana.ask("!admin unsuspend hnurse")
    assert not _suspended(homeserver, "hnurse")

    suspended, lifted = (
        _entries(app_database_url, "admin.suspend"),
        _entries(app_database_url, "admin.unsuspend"),
    )
    assert [(e.actor, e.target_ids, e.reason) for e in suspended] == [
        (homeserver.user_id("hadmin"), [homeserver.user_id("hnurse")], "left the ward unattended")
    ]
    assert [e.target_ids for e in lifted] == [[homeserver.user_id("hnurse")]]
    assert suspended[0].details == {"organisation": "fhealth", "via": "bot"}


PARITY_CHART = """
organisations:
  - {key: pcouncil, name: Parity Council, kind: council, admins: [pboss]}
  - {key: phealth, name: Parity Health, kind: health, admins: [phead]}
room_templates:
  huddle: {name: "{name} huddle", standing_meeting: true}
  hub: {name: "{name} hub", widgets: [people]}
units:
  - {key: pdir, name: Parity Directorate, organisation: pcouncil, rooms: [general, huddle, hub]}
  - {key: pward, name: Parity Ward, organisation: phealth, rooms: [general, huddle, hub]}
people:
  - {username: pboss, display_name: Pam Boss, organisation: pcouncil, units: [pdir], job_title: Director}
  - {username: phead, display_name: Phil Head, organisation: phealth, units: [pward], job_title: Ward Head}
  - {username: pnurse, display_name: Pia Nurse, organisation: phealth, units: [pward], job_title: Nurse}
"""


def test_a_partner_plan_shows_the_widgets_meetings_and_profiles_the_main_plan_shows(
    tmp_path: Path, settings_file: Path, homeserver: Homeserver, app_database_url: str
) -> None:
    chart = tmp_path / "parity.yaml"
    chart.write_text(PARITY_CHART)
    applied = borough("apply", "-q", str(chart), settings=settings_file)
    assert applied.exit_code == 0, applied.output
    # The widget server and Jitsi move, and everyone's job title changes: each room's
    # widgets, each standing meeting and each Matrix profile now differ.
    moved = write_settings(
        tmp_path / "moved.yaml",
        homeserver,
        app_database_url,
        widgets={"public_url": "https://widgets.parity.test"},
        jitsi={"domain": "meet.parity.test"},
    )
    chart.write_text(PARITY_CHART.replace("job_title: ", "job_title: Senior "))
    main = borough("plan", str(chart), settings=moved)
    assert main.exit_code == 0, main.output
    partner = borough(
        "partner", "plan", str(chart), "--org", "phealth", "--as", "@phead", settings=moved
    )
    assert partner.exit_code == 0, partner.output

    health = ("unit/pward", homeserver.user_id("phead"), homeserver.user_id("pnurse"))

    def health_changes(output: str) -> list[str]:
        return [
            line
            for line in output.splitlines()
            if line.startswith("  ") and line.split()[1].startswith(health)
        ]

    shown = health_changes(main.output)
    meeting = "unit/pward/huddle  im.vector.modular.widgets"
    assert any(meeting in line for line in shown), main.output
    assert any("unit/pward/hub  im.vector.modular.widgets" in line for line in shown)
    assert any(f"{homeserver.user_id('pnurse')}  set " in line for line in shown)
    assert health_changes(partner.output) == shown
    # The council's own rooms and people stay out of the partner's plan.
    assert "unit/pdir" in main.output and "unit/pdir" not in partner.output


# --- applies take turns ------------------------------------------------------------------


class ApplyUnderWay:
    """Another process holding apply locks, as an apply does while it runs (a widget server's
    auto apply of an organisation, say)."""

    def __init__(self, app_database_url: str, *locks: tuple[str, int]) -> None:
        import psycopg2

        dsn = app_database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.holder, self.watcher = psycopg2.connect(dsn), psycopg2.connect(dsn)
        self.watcher.autocommit = True
        with self.holder.cursor() as cursor:
            for function, key in locks:
                cursor.execute(f"SELECT {function}(%s)", (key,))

    def run_by_hand(
        self, settings: Path, *args: str, meanwhile: Callable[[], None]
    ) -> tuple[int, str]:
        """`borough ARGS` started as a person types it, which must wait for a lock; checked
        by `meanwhile` while it waits, then let go on. Its exit code and what it printed."""
        borough_cli = [str(Path(sys.executable).with_name("borough")), "--settings", str(settings)]
        command = subprocess.Popen(
            [*borough_cli, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            wait_until(
                lambda: (
                    someone_waits_for_an_advisory_lock(self.watcher) or command.poll() is not None
                ),
                60,
                f"borough {args[0]} to wait for the apply under way",
            )
            if command.poll() is not None:
                raise AssertionError(f"it did not wait: {command.communicate()[0]}")
            meanwhile()
            self.holder.commit()
            output = command.communicate(timeout=300)[0]
            return command.returncode, output
        finally:
            if command.poll() is None:
                command.kill()
            self.holder.close()
            self.watcher.close()


@pytest.mark.postgres
def test_a_hand_run_partner_apply_waits_for_the_organisations_apply_under_way(
    chart: Path, settings_file: Path, homeserver: Homeserver, app_database_url: str
) -> None:
    """A partner apply run by hand while fhealth's apply is under way says it waits, changes
    nothing meanwhile, then plans and applies what is left."""
    fragment = chart.parent / "orgs" / "fhealth.yaml"
    fragment.write_text(
        fragment.read_text().replace(
            "  - {username: hnurse,",
            "  - {username: hporter, display_name: Pat Porter, units: [hward]}\n"
            "  - {username: hnurse,",
        )
    )
    scope = [str(chart), "--org", "fhealth", "--as", "hadmin"]
    under_way = ApplyUnderWay(
        app_database_url, ("pg_advisory_xact_lock", apply_lock_key("fhealth"))
    )

    def not_yet() -> None:
        assert not _exists(homeserver, "hporter")

    code, output = under_way.run_by_hand(
        settings_file, "partner", "apply", *scope, meanwhile=not_yet
    )
    assert code == 0, output
    assert "Waiting for another apply of fhealth to finish…" in output
    assert _exists(homeserver, "hporter")
    after = borough("partner", "plan", *scope, settings=settings_file)
    assert after.exit_code == 0, after.output
    assert "No changes." in after.output, after.output


@pytest.mark.postgres
def test_a_whole_chart_apply_waits_for_a_partner_apply_under_way(
    chart: Path, settings_file: Path, homeserver: Homeserver, app_database_url: str
) -> None:
    """`borough apply` acts on every organisation, so it waits for a partner apply under way
    (which holds the network's apply lock shared, and its organisation's)."""
    chart.write_text(
        chart.read_text().replace(
            "people:\n",
            "people:\n  - {username: fclerk, display_name: Fay Clerk, organisation: fcouncil}\n",
        )
    )
    under_way = ApplyUnderWay(
        app_database_url,
        ("pg_advisory_xact_lock_shared", NETWORK_APPLY_LOCK),
        ("pg_advisory_xact_lock", apply_lock_key("fhealth")),
    )

    def not_yet() -> None:
        assert not _exists(homeserver, "fclerk")

    code, output = under_way.run_by_hand(settings_file, "apply", str(chart), meanwhile=not_yet)
    assert code == 0, output
    assert "Waiting for other applies to finish…" in output
    assert _exists(homeserver, "fclerk")
