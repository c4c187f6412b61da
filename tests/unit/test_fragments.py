"""Per-organisation fragments: merged into the chart, and kept to their own organisation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from borough.org import OrgChartError, load_org_chart
from borough.org.loader import load_org_chart_with_fragments

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fragments"


def _problems(name: str | Path) -> list[str]:
    with pytest.raises(OrgChartError) as caught:
        load_org_chart(FIXTURES / name)
    return caught.value.render().splitlines()


def test_a_fragment_merges_its_units_people_and_partnership_members() -> None:
    chart, fragments = load_org_chart_with_fragments(FIXTURES / "main.yaml")
    assert [p.username for p in chart.people] == ["fadmin", "fstaff", "hadmin", "hnurse"]
    assert {p.organisation for p in chart.people[2:]} == {"fhealth"}
    assert chart.units[1].organisation == "fhealth"
    assert chart.partnerships[0].people == ("hnurse",)
    assert [f.organisation for f in fragments] == ["fhealth"]
    assert fragments[0].filename.endswith("orgs/fhealth.yaml")


def test_a_fragment_reaching_into_another_organisation_is_refused_at_its_lines() -> None:
    lines = _problems("bad/main.yaml")
    reach = str(FIXTURES / "bad" / "reach.yaml")
    assert lines == [
        f"{reach}:4:5 units[0]: outside this fragment's organisation 'fhealth': "
        "unit 'hsub' belongs to 'fcouncil'",
        f"{reach}:8:41 people[0].organisation: outside this fragment's organisation 'fhealth': "
        "'hspy' is a person of 'fcouncil'",
        f"{reach}:9:56 people[1].units[0]: unit 'Sneaky Sub-team' belongs to 'fcouncil', not to "
        "'fhealth'; cross-organisation work belongs in a partnership",
        f"{reach}:13:5 channels[0].owner: outside this fragment's organisation 'fhealth': "
        "unit 'fdir' belongs to 'fcouncil'",
        f"{reach}:16:13 partnerships[0].units[0]: outside this fragment's organisation "
        "'fhealth': unit 'fdir' belongs to 'fcouncil'",
        f"{reach}:17:14 partnerships[0].people[0]: outside this fragment's organisation "
        "'fhealth': 'fstaff' is a person of 'fcouncil'",
    ]


def test_what_only_the_main_file_may_hold_is_reported_in_the_fragment() -> None:
    lines = _problems("bad/shape_main.yaml")
    bad = FIXTURES / "bad"
    assert lines[0] == (
        f"{bad}/shape_main.yaml:1:23 include[1]: fragment file not found: {bad}/missing.yaml"
    )
    assert lines[1].startswith(f"{bad}/shape.yaml:3:1 organisations: a fragment cannot hold")
    assert lines[2] == f"{bad}/shape.yaml:6:48 people[0].nickname: unknown field 'nickname'"
    assert "not 'name'" in lines[3] and lines[3].startswith(f"{bad}/shape.yaml:9:5 ")
    assert lines[4].startswith(
        f"{bad}/shape.yaml:10:5 partnerships[1].key: unknown partnership 'fcarre'"
    )
    assert len(lines) == 5


def test_two_fragments_for_one_organisation_are_refused(tmp_path: Path) -> None:
    main = (
        (FIXTURES / "main.yaml")
        .read_text()
        .replace("include: [orgs/fhealth.yaml]", "include: [orgs/fhealth.yaml, again.yaml]")
    )
    (tmp_path / "orgs").mkdir()
    (tmp_path / "orgs" / "fhealth.yaml").write_text((FIXTURES / "orgs/fhealth.yaml").read_text())
    (tmp_path / "again.yaml").write_text("organisation: fhealth\n")
    (tmp_path / "main.yaml").write_text(main)
    with pytest.raises(OrgChartError) as caught:
        load_org_chart(tmp_path / "main.yaml")
    assert caught.value.render() == (
        f"{tmp_path}/again.yaml:1:1 organisation: organisation 'fhealth' already has a "
        f"fragment: {tmp_path}/orgs/fhealth.yaml"
    )


# --- includes stay inside the chart's folder, and nothing else is ever read or quoted ---------

OUTSIDE = (
    "leads outside the org chart's folder; a fragment must be a file in the main file's "
    "folder or below it"
)


@pytest.mark.timeout(30)  # before the fix, /dev/zero was read to MemoryError
def test_an_include_outside_the_folder_is_refused_and_never_read() -> None:
    main = FIXTURES / "escape" / "main.yaml"
    assert _problems("escape/main.yaml") == [
        f"{main}:3:5 include[0]: '../../../../../../../../../etc/passwd' {OUTSIDE}",
        f"{main}:4:5 include[1]: '/etc/passwd' {OUTSIDE}",
        f"{main}:5:5 include[2]: '/proc/self/environ' {OUTSIDE}",
        f"{main}:6:5 include[3]: '../main.yaml' {OUTSIDE}",
        f"{main}:7:5 include[4]: '/dev/zero' {OUTSIDE}",
    ]


def _chart_including(folder: Path, *names: str) -> Path:
    main = folder / "chart" / "main.yaml"
    (main.parent / "orgs").mkdir(parents=True)
    (main.parent / "orgs" / "fhealth.yaml").write_text((FIXTURES / "orgs/fhealth.yaml").read_text())
    text = (FIXTURES / "main.yaml").read_text()
    main.write_text(text.replace("include: [orgs/fhealth.yaml]", f"include: [{', '.join(names)}]"))
    return main


def test_a_symlink_is_followed_only_while_it_stays_inside(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("rootuser:*:20228:0:99999:7::\norganisation: fhealth\n")
    main = _chart_including(tmp_path, "orgs/out.yaml", "orgs/in.yaml")
    (main.parent / "orgs" / "out.yaml").symlink_to(secret)
    (main.parent / "orgs" / "in.yaml").symlink_to("fhealth.yaml")
    with pytest.raises(OrgChartError) as caught:
        load_org_chart(main)
    assert caught.value.render() == f"{main}:2:11 include[0]: 'orgs/out.yaml' {OUTSIDE}"
    (main.parent / "orgs" / "out.yaml").unlink()
    main.write_text(main.read_text().replace("orgs/out.yaml, ", ""))
    chart, fragments = load_org_chart_with_fragments(main)
    assert "hnurse" in {p.username for p in chart.people}
    assert fragments[0].filename == f"{main.parent}/orgs/in.yaml"  # named as the chart names it


@pytest.mark.timeout(30)  # before the fix, reading a FIFO waited for a writer forever
def test_a_file_inside_that_is_no_fragment_is_named_not_quoted(tmp_path: Path) -> None:
    main = _chart_including(tmp_path, "notes.txt", "pipe", "orgs", "orgs/fhealth.yaml")
    (main.parent / "notes.txt").write_text("rootuser:*:20228:0:99999:7::\nsecret: hunter2\n")
    os.mkfifo(main.parent / "pipe")
    with pytest.raises(OrgChartError) as caught:
        load_org_chart(main)
    chart = main.parent
    assert caught.value.render().splitlines() == [
        f"{main}:2:22 include[1]: fragment {chart}/pipe: not a regular file (a device, pipe or socket)",
        f"{main}:2:28 include[2]: fragment {chart}/orgs: is a folder, not a file",
        f"{chart}/notes.txt:1:1: expected a mapping with 'organisation:'",
    ]


@pytest.mark.timeout(30)  # a hang guard: before the bound, the bomb expanded for minutes
def test_an_alias_bomb_in_a_fragment_is_refused_at_its_alias() -> None:
    assert _problems("bomb/main.yaml") == [
        f"{FIXTURES / 'bomb' / 'bomb.yaml'}:13:12: aliases expand the file to more than "
        "1,000,000 values"
    ]


# --- a fragment's admins: only where the main file delegates them -----------------------------

ADMINS_FRAGMENT = """\
organisation: fhealth
admins: [{admins}]
units:
  - key: hward
    name: Ward Team
    rooms: [general]
people:
  - {{username: hadmin, display_name: Hana Admin, units: [hward], role: manager}}
  - {{username: hnurse, display_name: Hugo Nurse, units: [hward], manager: hadmin}}
"""


def _with_fragment_admins(folder: Path, admins: str, *, delegated: bool) -> Path:
    main = _chart_including(folder, "orgs/fhealth.yaml")
    text = main.read_text()
    if delegated:
        text = text.replace(
            "    admins: [hadmin]\n", "    admins: [hadmin]\n    fragment_may_add_admins: true\n"
        )
    main.write_text(text)
    (main.parent / "orgs" / "fhealth.yaml").write_text(ADMINS_FRAGMENT.format(admins=admins))
    return main


def test_a_delegated_fragment_adds_its_own_peoples_admin_role(tmp_path: Path) -> None:
    main = _with_fragment_admins(tmp_path, "hnurse, hadmin", delegated=True)
    chart = load_org_chart(main)
    health = next(o for o in chart.organisations if o.key == "fhealth")
    # The main file's admins, then the fragment's; someone both list is listed once.
    assert health.admins == ("hadmin", "hnurse")
    assert next(o for o in chart.organisations if o.key == "fcouncil").admins == ("fadmin",)


def test_a_fragments_admins_without_the_main_files_leave_are_refused_at_their_line(
    tmp_path: Path,
) -> None:
    main = _with_fragment_admins(tmp_path, "hnurse", delegated=False)
    assert _problems(main) == [
        f"{main.parent}/orgs/fhealth.yaml:2:1 admins: the main file does not let this fragment "
        "name admins of 'fhealth': list them under the organisation's 'admins:' in the main "
        "file, or set 'fragment_may_add_admins: true' on its entry there"
    ]


def test_a_fragment_cannot_make_another_organisations_person_or_a_stranger_admin(
    tmp_path: Path,
) -> None:
    main = _with_fragment_admins(tmp_path, "fstaff, hnurze", delegated=True)
    fragment = f"{main.parent}/orgs/fhealth.yaml"
    assert _problems(main) == [
        f"{fragment}:2:10 admins[0]: 'fstaff' belongs to organisation 'fcouncil', so cannot "
        "administer 'fhealth'",
        f"{fragment}:2:18 admins[1]: unknown person 'hnurze' — did you mean 'hnurse'?",
    ]
