"""Bad arguments to every `borough` command, run in-process. The settings name a homeserver
that is not there (127.0.0.1:9), so a command that gets past its arguments says so; the
arguments themselves are checked first, each refused naming the parameter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.badinput.corpus import HANG_GUARD_SECONDS, Case, answered, run_borough

pytestmark = pytest.mark.timeout(HANG_GUARD_SECONDS, func_only=True)

CHART = str(Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml")
#: Stand-ins in `argv`: the case's settings file, a chart, and a folder that does not exist.
SETTINGS, MISSING = "{settings}", "{tmp}/no/such/folder"


@dataclass(frozen=True)
class CliCase(Case):
    argv: tuple[str, ...] = ()
    #: Prefix `--settings SETTINGS` (a valid file pointing at an absent homeserver).
    with_settings: bool = True


UNREACHABLE = r"(homeserver|Synapse).*(reach|running|connect)|127\.0\.0\.1:9"
NO_OPTION = r"No such option '--"
CASES = [
    # --- The command line itself ---
    CliCase("unknown-command", r"No such command 'frobnicate'", ("frobnicate",)),
    CliCase("misspelt-command", r"No such command 'valdate'.*validate", ("valdate", CHART)),
    CliCase("unknown-top-option", NO_OPTION + r"frob", ("--frob",)),
    CliCase(
        "settings-missing-file",
        r"no/such/folder/borough\.yaml.*(not found|does not exist)",
        ("--settings", MISSING + "/borough.yaml", "audit"),
        False,
    ),
    CliCase(
        "settings-a-directory", r"(director|cannot read)", ("--settings", "{tmp}", "audit"), False
    ),
    CliCase(
        "settings-empty-name",
        r"(settings|cannot read|not found|director)",
        ("--settings", "", "audit"),
        False,
    ),
    CliCase(
        "settings-no-value",
        r"--settings.*requires an argument|Option '--settings' requires",
        ("--settings",),
        False,
    ),
    CliCase("verbose-with-value", r"No such command|Got unexpected", ("-v", "3", "audit")),
    CliCase(
        "nul-in-argument",
        r"org\x00\.yaml: the file name holds a NUL character",
        ("validate", "org\x00.yaml"),
    ),
    CliCase("huge-argument", r"(too long|not found|cannot read)", ("validate", "x" * 100_000)),
    # --- validate, plan, apply, export ---
    CliCase("validate-no-file", r"Missing argument 'ORG\.yaml'", ("validate",)),
    CliCase(
        "validate-missing-file",
        r"no/such/folder/org\.yaml.*file not found",
        ("validate", MISSING + "/org.yaml"),
    ),
    CliCase("validate-a-directory", r"is a folder, not a file", ("validate", "{tmp}")),
    CliCase("validate-two-files", r"Got unexpected extra argument", ("validate", CHART, CHART)),
    CliCase("validate-unknown-option", NO_OPTION + r"strict", ("validate", "--strict", CHART)),
    CliCase("plan-no-file", r"Missing argument 'ORG\.yaml'", ("plan",)),
    CliCase("plan-unknown-option", NO_OPTION + r"dry-run", ("plan", "--dry-run", CHART)),
    CliCase("plan-unreachable-homeserver", UNREACHABLE, ("plan", CHART)),
    CliCase(
        "apply-force-with-value",
        r"'--force' does not take a value",
        ("apply", "--force=yes", CHART),
    ),
    CliCase("apply-missing-file", r"file not found", ("apply", MISSING + "/org.yaml")),
    CliCase(
        "export-output-missing-folder",
        r"no/such/folder.*(does not exist|missing|no such)|(folder|directory).*(does not exist|missing)",
        ("export", "-o", MISSING + "/live.yaml"),
    ),
    CliCase("export-output-a-directory", r"(director)", ("export", "-o", "{tmp}")),
    CliCase("export-output-no-value", r"'-o' requires an argument", ("export", "-o")),
    # --- audit ---
    CliCase(
        "audit-since-huge-days",
        r"--since.*99999999999d.*(too far|reaches)",
        ("audit", "--since", "99999999999d"),
    ),
    CliCase(
        "audit-since-huge-weeks",
        r"--since.*(too far|reaches)",
        ("audit", "--since", "9" * 30 + "w"),
    ),
    CliCase("audit-since-future", r"--since.*in the future", ("audit", "--since", "2999-01-01")),
    CliCase(
        "audit-since-words", r"--since.*'yesterday' is neither", ("audit", "--since", "yesterday")
    ),
    CliCase("audit-since-negative", r"--since.*'-5d' is neither", ("audit", "--since", "-5d")),
    CliCase("audit-since-empty", r"--since.*'' is neither", ("audit", "--since", "")),
    CliCase(
        "audit-since-bad-date",
        r"--since.*'2026-13-45' is neither",
        ("audit", "--since", "2026-13-45"),
    ),
    CliCase("audit-since-unit-years", r"--since.*'5y' is neither", ("audit", "--since", "5y")),
    CliCase(
        "audit-since-huge-string", r"--since.*is neither", ("audit", "--since", "7" * 50_000 + "x")
    ),
    CliCase("audit-limit-zero", r"--limit.*0 is not in the range", ("audit", "--limit", "0")),
    CliCase(
        "audit-limit-words", r"--limit.*'ten' is not a valid integer", ("audit", "--limit", "ten")
    ),
    CliCase(
        "audit-limit-huge", r"(No audit entries match|--limit)", ("audit", "--limit", "9" * 40)
    ),
    # --- report ---
    CliCase(
        "report-since-huge", r"--since.*(too far|reaches)", ("report", "--since", "99999999999d")
    ),
    CliCase("report-since-words", r"--since.*is neither", ("report", "--since", "last month")),
    CliCase(
        "report-html-missing-folder",
        r"--html|no/such/folder.*(does not exist|missing)",
        ("report", "--html", MISSING + "/report.html"),
    ),
    CliCase(
        "report-csv-missing-folder",
        r"--csv|no/such/folder.*(does not exist|missing)",
        ("report", "--csv", MISSING),
    ),
    CliCase("report-html-a-directory", r"director", ("report", "--html", "{tmp}")),
    # --- moderate ---
    CliCase("moderate-no-subcommand", r"Usage: .*moderate", ("moderate",)),
    CliCase(
        "moderate-unknown-subcommand",
        r"No such command 'ban'",
        ("moderate", "ban", "@x:borough.test"),
    ),
    CliCase("suspend-no-user", r"Missing argument 'USER'", ("moderate", "suspend")),
    CliCase(
        "suspend-no-reason",
        r"Missing option '--reason'",
        ("moderate", "suspend", "@x:borough.test"),
    ),
    CliCase("lock-no-channel", r"Missing argument 'CHANNEL'", ("moderate", "lock")),
    CliCase(
        "reports-since-huge",
        r"--since.*(too far|reaches)",
        ("moderate", "reports", "--since", "99999999999d"),
    ),
    # --- person, partner, import ---
    CliCase("person-export-no-user", r"Missing argument 'USER'", ("person", "export")),
    CliCase(
        "person-export-out-missing-folder",
        r"--out|no/such/folder.*(does not exist|missing)",
        ("person", "export", "@x:borough.test", "--out", MISSING + "/x.json", "--yes"),
    ),
    CliCase(
        "person-erase-missing-chart",
        r"no org chart at .*no/such/folder/org\.yaml",
        ("person", "erase", "@x:borough.test", "--chart", MISSING + "/org.yaml", "--yes"),
    ),
    CliCase("partner-plan-no-org", r"Missing option '--org'", ("partner", "plan", CHART)),
    CliCase(
        "partner-plan-unknown-org",
        r"(organisation|--org).*'nowhere'",
        ("partner", "plan", CHART, "--org", "nowhere"),
    ),
    CliCase(
        "partner-plan-bad-operator",
        r"not a user.* is not an admin of 'tcouncil'",
        ("partner", "plan", CHART, "--org", "tcouncil", "--as", "not a user"),
    ),
    CliCase(
        "import-no-mapping",
        r"Missing option '--mapping'",
        ("import", "people", "hr.csv", "--org", "x"),
    ),
    CliCase(
        "import-missing-chart",
        r"no org chart at .*no/such/folder",
        (
            "import",
            "people",
            "hr.csv",
            "--org",
            "x",
            "--mapping",
            "m.yaml",
            "--chart",
            MISSING + "/org.yaml",
        ),
    ),
    CliCase(
        "import-show-words",
        r"--show.*'all' is not a valid integer",
        ("import", "people", "hr.csv", "--org", "x", "--mapping", "m.yaml", "--show", "all"),
    ),
    # --- bots and widgets ---
    CliCase("bots-run-without-bot-section", r"bot", ("bots", "run")),
    CliCase("bots-unknown-subcommand", r"No such command 'start'", ("bots", "start")),
    CliCase("widgets-unknown-option", NO_OPTION + r"port", ("widgets", "serve", "--port", "80")),
    # --- scim: tokens and what a provider sent, each for one organisation ---
    CliCase("scim-token-create-no-org", r"Missing option '--org'", ("scim", "token", "create")),
    CliCase(
        "scim-token-create-unknown-org",
        r"no organisation 'nowhere' in the org chart \(known: tcouncil, tpolice\)",
        ("scim", "token", "create", "--org", "nowhere", "--chart", CHART),
    ),
    CliCase(
        "scim-token-create-missing-chart",
        r"no org chart at .*no/such/folder/org\.yaml: pass --chart",
        ("scim", "token", "create", "--org", "x", "--chart", MISSING + "/org.yaml"),
    ),
    CliCase(
        "scim-token-create-hostile-as",
        r"<script>:borough\.test is not an admin of 'tcouncil'",
        ("scim", "token", "create", "--org", "tcouncil", "--chart", CHART, "--as", "<script>"),
    ),
    CliCase(
        "scim-token-revoke-words",
        r"tcouncil has no live SCIM token seven; `borough scim token list",
        ("scim", "token", "revoke", "--org", "tcouncil", "--chart", CHART, "seven"),
    ),
    CliCase(
        "scim-token-revoke-huge",
        r"tcouncil has no live SCIM token 9+",
        ("scim", "token", "revoke", "--org", "tcouncil", "--chart", CHART, "9" * 400),
    ),
    CliCase("scim-unmapped-no-org", r"Missing option '--org'", ("scim", "unmapped")),
    # --- doctor: the homeserver named in the settings is not there, so it says so and fails ---
    CliCase("doctor-unreachable-homeserver", r"problem: .*" + UNREACHABLE, ("doctor",)),
    CliCase("doctor-unknown-option", NO_OPTION + r"fix", ("doctor", "--fix")),
    CliCase(
        "doctor-quiet-with-value", r"'--quiet' does not take a value", ("doctor", "--quiet=yes")
    ),
    CliCase("doctor-extra-argument", r"Got unexpected extra argument", ("doctor", "everything")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_arguments(case: CliCase, tmp_path: Path, offline_settings: Path) -> None:
    argv = [
        a.replace("{tmp}", str(tmp_path)).replace(SETTINGS, str(offline_settings))
        for a in case.argv
    ]
    if case.with_settings:
        argv = ["--settings", str(offline_settings), *argv]
    answer = run_borough(*argv)
    answered(case, answer.text, answer.elapsed, answer.logs)
    assert answer.exit_code != 0, answer.text[:2000]
    assert not (tmp_path / "no").exists(), "a missing folder was created"
