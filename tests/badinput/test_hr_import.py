"""Bad HR exports and bad HR mappings given to `borough import people --dry-run`: whole files
that cannot be used are refused in one paragraph naming the file; bad rows are listed with
their row numbers and reasons while good rows still import. No homeserver is needed."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.badinput.corpus import HANG_GUARD_SECONDS, Case, answered, run_borough
from tests.badinput.test_chart_yaml import billion_laughs

pytestmark = pytest.mark.timeout(HANG_GUARD_SECONDS, func_only=True)

FIXTURES = Path(__file__).parents[1] / "fixtures"
MAPPING = (FIXTURES / "hr" / "mapping.yaml").read_text(encoding="utf-8")
HEADER = "Employee Login,Known As,Work Email,Team,Grade,Job Title,Line Manager\n"
GOOD = (
    "hadmin,Hana Admin,hana@health.example.org,hward,Band 8a,Ward Manager,\n"
    "hnurse,Hugo Nurse,hugo@health.example.org,hward,Band 5,Staff Nurse,hadmin\n"
)


def rows(*lines: str) -> str:
    return HEADER + GOOD + "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class HrCase(Case):
    csv: str | bytes = HEADER + GOOD
    mapping: str | bytes = MAPPING


#: A bad row is listed in the "rows not imported" table with its number and reason.
ROW = r"rows? not imported.*\b4\b.*"
CSV_FILE = r"hr\.csv: "
MAP_AT = r"mapping\.yaml(:\d+:\d+)?:? "
# One case a line, read as a table.
# fmt: off
CASES = [
    # --- Whole files that are not a usable HR export ---
    HrCase("empty-file", CSV_FILE + r".*empty", ""),
    HrCase("only-blank-lines", CSV_FILE + r".*(empty|header|no column)", "\n\n\n"),
    HrCase("header-only", r"No changes|leav", HEADER),
    HrCase("missing-username-column", CSV_FILE + r".*no column 'Employee Login' \(for username\)", HEADER.replace("Employee Login", "Login") + GOOD),
    HrCase("missing-display-name-column", CSV_FILE + r".*no column 'Known As' \(for display_name\)", HEADER.replace("Known As,", "") + GOOD),
    HrCase("misspelt-column", CSV_FILE + r".*'Work Email'.*did you mean 'Work Emial'", HEADER.replace("Work Email", "Work Emial") + GOOD),
    HrCase("semicolon-separated", CSV_FILE + r".*no column", (HEADER + GOOD).replace(",", ";")),
    HrCase("tab-separated", CSV_FILE + r".*no column", (HEADER + GOOD).replace(",", "\t")),
    HrCase("latin-1", CSV_FILE + r".*not UTF-8", (HEADER + "hren\u00e9,Ren\u00e9e Nurse,,hward,Band 5,,\n").encode("latin-1")),
    HrCase("utf-16", CSV_FILE + r".*not UTF-8", (HEADER + GOOD).encode("utf-16")),
    HrCase("xlsx-instead", CSV_FILE + r".*(not UTF-8|not valid CSV|no column|spreadsheet)", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256))),
    HrCase("nul-bytes", ROW + r"(control|character|NUL)", rows("hnul,Nul\x00Person,,hward,Band 5,,")),
    HrCase("unclosed-quote", CSV_FILE + r".*(unclosed quote|quote)", rows('hq,"Quinn,,hward,Band 5,,')),
    HrCase("huge-cell-200kb", r"(cell|field).*(long|large|characters)", rows("hbig," + "B" * 200_000 + ",,hward,Band 5,,")),
    HrCase("huge-quoted-cell-200kb", r"(cell|field).*(long|large|characters)", rows('hbig,"' + "B" * 200_000 + '",,hward,Band 5,,')),
    HrCase("huge-cell-unclosed-quote", r"(cell|field).*(long|large|characters)|unclosed quote", rows('hbig,"' + "B" * 300_000)),
    HrCase("huge-header", CSV_FILE + r".*(no column|long|large)", "X" * 300_000 + "\n" + GOOD),
    HrCase("ten-thousand-columns", CSV_FILE + r".*no column", ",".join(f"c{i}" for i in range(10_000)) + "\n"),
    HrCase("duplicate-header", r"(duplicate|twice|more than once|Employee Login)", HEADER.rstrip("\n") + ",Employee Login\n" + GOOD.rstrip("\n") + ",hother\n"),
    HrCase("a-directory-instead", r"hr\.csv'? .*director", b""),  # replaced by a folder below
    HrCase("missing-file", CSV_FILE + r".*not found", b""),  # removed below
    # --- Bad rows: listed by number and reason, the rest imported ---
    HrCase("row-too-short", ROW + r"2 cells where the header has 7", rows("hshort,Short Row")),
    HrCase("row-too-long", ROW + r"9 cells where the header has 7", rows("hlong,Long Row,,hward,Band 5,,,x,y")),
    HrCase("row-no-username", ROW + r"no username", rows(",No Login,,hward,Band 5,,")),
    HrCase("row-username-spaces", ROW + r"username", rows("bad name,Space Person,,hward,Band 5,,")),
    HrCase("row-username-unicode", ROW + r"username", rows("h\u00e9l\u00e8ne,Helene,,hward,Band 5,,")),
    HrCase("row-username-huge", ROW + r"username", rows("h" + "x" * 5000 + ",Huge,,hward,Band 5,,")),
    HrCase("row-bad-email", ROW + r"email", rows("hemail,Bad Email,not-an-email,hward,Band 5,,")),
    HrCase("row-unknown-unit", ROW + r"unknown unit 'Wrd Team'", rows("hwho,Ward Typo,,Wrd Team,Band 5,,")),
    HrCase("row-unit-of-other-org", ROW + r"unit 'fdir' belongs to 'fcouncil'", rows("hspy,Spy,,fdir,Band 5,,")),
    HrCase("row-unknown-role", ROW + r"role 'Band 99'", rows("hgrade,Grade Unknown,,hward,Band 99,,")),
    HrCase("row-unknown-manager", ROW + r"manager 'nobody'", rows("horphan,Orphan,,hward,Band 5,,nobody")),
    HrCase("row-duplicate-username", ROW + r"'hnurse' is already on row 3", rows("hnurse,Hugo Again,,hward,Band 5,,")),
    HrCase("row-person-of-other-org", ROW + r"'fstaff' is a person of 'fcouncil'", rows("fstaff,Finn Staff,,hward,Band 5,,")),
    HrCase("row-manager-self", ROW + r"(manager|cycle|own)", rows("hself,Self Managed,,hward,Band 5,,hself")),
    HrCase("row-manager-cycle", r"(rows? not imported|invalid).*(cycle|manager)", rows("ha,A,,hward,Band 5,,hb", "hb,B,,hward,Band 5,,ha")),
    HrCase("row-display-name-huge", ROW + r"(display_name|long|characters)", rows("hwide," + "W" * 9000 + ",,hward,Band 5,,")),
    HrCase("row-formula-username", ROW + r"username", rows("=cmd|' /C calc'!A0,Formula,,hward,Band 5,,")),
    # --- Bad mappings: refused at the mapping's file:line:col ---
    HrCase("mapping-empty", MAP_AT + r".*(empty|expected a mapping|columns)", mapping=""),
    HrCase("mapping-a-list", MAP_AT + r".*expected a mapping", mapping="- username\n- display_name\n"),
    HrCase("mapping-no-columns", MAP_AT + r".*columns", mapping="roles: {}\n"),
    HrCase("mapping-columns-a-string", MAP_AT + r".*columns", mapping="columns: username\n"),
    HrCase("mapping-unknown-field", MAP_AT + r"columns\.nickname: unknown person field", mapping=MAPPING.replace("columns:\n", "columns:\n  nickname: Preferred Name\n")),
    HrCase("mapping-no-username", MAP_AT + r".*username", mapping=MAPPING.replace("  username: Employee Login\n", "")),
    HrCase("mapping-header-a-number", MAP_AT + r"columns\.email: ", mapping=MAPPING.replace("email: Work Email", "email: 42")),
    HrCase("mapping-header-empty", MAP_AT + r"columns\.email: ", mapping=MAPPING.replace("email: Work Email", "email: ''")),
    HrCase("mapping-role-unknown", MAP_AT + r"roles\.Band 5: ", mapping=MAPPING.replace("Band 5: staff", "Band 5: nurse")),
    HrCase("mapping-default-role-unknown", MAP_AT + r"default_role: ", mapping=MAPPING + "default_role: intern\n"),
    HrCase("mapping-separator-empty", MAP_AT + r"separator: ", mapping=MAPPING + "separator: ''\n"),
    HrCase("mapping-leavers-unknown", MAP_AT + r"leavers: ", mapping=MAPPING + "leavers: fire\n"),
    HrCase("mapping-unknown-key", MAP_AT + r"colums: unknown field", mapping=MAPPING + "colums: {}\n"),
    HrCase("mapping-duplicate-key", MAP_AT + r"columns\.email: duplicate key", mapping=MAPPING.replace("email: Work Email", "email: Work Email\n  email: Other")),
    HrCase("mapping-not-yaml", MAP_AT + r".*not valid YAML", mapping="columns: [username: x\n"),
    HrCase("mapping-latin-1", MAP_AT + r".*(UTF-8|utf-8|encoding)", mapping=(MAPPING + "# caf\u00e9\n").encode("latin-1")),
    HrCase("mapping-alias-bomb", MAP_AT + r".*alias", mapping=billion_laughs().replace("organisations: *a9", "roles: *a9") + MAPPING.replace("roles:", "x_roles:")),
    HrCase("mapping-recursive-alias", MAP_AT + r".*(alias|recurs|refers to itself)", mapping=MAPPING + "separator: &s [*s]\n"),
    HrCase("mapping-custom-tag", MAP_AT + r".*tag.*!foo", mapping=MAPPING.replace("email: Work Email", "email: !foo Work Email")),
    HrCase("mapping-merge-key", MAP_AT + r".*(<<|merge)", mapping="base: &b {username: Employee Login}\n" + MAPPING.replace("columns:\n", "columns:\n  <<: *b\n")),
    HrCase("mapping-huge", MAP_AT + r".*(too (large|big|long)|MB|bytes)", mapping=MAPPING + "# padding\n" * 1_700_000),
]
# fmt: on


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    shutil.copytree(
        FIXTURES / "fragments", tmp_path / "chart", ignore=shutil.ignore_patterns("bad")
    )
    return tmp_path / "chart" / "main.yaml"


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_hr_import(case: HrCase, tmp_path: Path, chart: Path, offline_settings: Path) -> None:
    csv_file, mapping = tmp_path / "hr.csv", tmp_path / "mapping.yaml"
    _write(mapping, case.mapping)
    if case.id == "a-directory-instead":
        csv_file.mkdir()
    elif case.id != "missing-file":
        _write(csv_file, case.csv)
    fragment = chart.parent / "orgs" / "fhealth.yaml"
    before = fragment.read_bytes()
    answer = run_borough(
        "--settings", str(offline_settings), "import", "people", str(csv_file), "--org", "fhealth",
        "--mapping", str(mapping), "--chart", str(chart), "--dry-run",
    )  # fmt: skip
    answered(case, answer.text, answer.elapsed, answer.logs)
    assert fragment.read_bytes() == before
