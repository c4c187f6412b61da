"""HR import: mapping validation, bad rows with reasons, joiners/movers/leavers, and the
fragment written back with its comments; the CLI's refusals. No homeserver is needed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from borough.org.loader import load_org_chart, load_org_chart_with_fragments
from borough.people_import import (
    HrImportError,
    HrMapping,
    HrRow,
    existing_people,
    fragment_text,
    import_people,
    load_mapping,
    person_line,
    preview_import,
    read_hr_rows,
    settle,
)
from borough.yamlsource import SourceError
from tests.conftest import borough

FIXTURES = Path(__file__).parents[1] / "fixtures"
HR = FIXTURES / "hr"


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "fragments", tmp_path, dirs_exist_ok=True)
    fragment = tmp_path / "orgs" / "fhealth.yaml"
    fragment.write_text(
        fragment.read_text().replace(
            "partnerships:",
            "  # Retiring in the spring\n"
            "  - {username: hleaver, display_name: Lee Leaver, units: [hward]}\n"
            "partnerships:",
        )
    )
    return tmp_path / "main.yaml"


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    path = tmp_path / "borough.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "homeserver": {"url": "http://127.0.0.1:9", "server_name": "borough.test"},
                "service_account": {"user_id": "@borough:borough.test", "access_token": "x"},
                "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"},
            }
        )
    )
    return path


def test_rows_become_joiners_movers_leavers_and_bad_rows_with_reasons(chart: Path) -> None:
    org, fragments = load_org_chart_with_fragments(chart)
    mapping = load_mapping(HR / "mapping.yaml")
    text = Path(fragments[0].filename).read_text()
    preview = preview_import(
        read_hr_rows(HR / "health.csv", mapping),
        mapping,
        org,
        "fhealth",
        existing_people(fragments[0].source),
    )
    assert [p["username"] for p in preview.joiners] == ["hmidwife"]
    assert [(m.username, m.changes) for m in preview.movers] == [
        ("hadmin", ("email (none) → hana@health.example.org", "job_title (none) → Ward Manager")),
        ("hnurse", ("email (none) → hugo@health.example.org", "job_title (none) → Staff Nurse")),
    ]
    assert [p["username"] for p in preview.leavers] == ["hleaver"]
    assert [(b.row, b.reason) for b in preview.bad_rows] == [
        (5, "no username"),
        (6, "username: use lower-case letters, digits and . _ = - / (got 'bad name')"),
        (7, "unit 'fdir' belongs to 'fcouncil', not 'fhealth'"),
        (8, "'fstaff' is a person of 'fcouncil' in the org chart"),
        (9, "'hnurse' is already on row 3"),
        (10, "manager 'nobody' is neither in the file nor in the org chart"),
        (11, "role 'Band 99' is not a Borough role and the mapping's roles do not translate it"),
        (12, "has 2 cells where the header has 7"),
        (
            13,
            "email: value is not a valid email address: An email address must have an @-sign. "
            "(got 'not-an-email')",
        ),
        (14, "unknown unit 'Wrd Team' — did you mean 'Ward Team'?"),
    ]

    written = fragment_text(text, fragments[0].source, preview)
    assert written.startswith("# Fragment Health's own part of the chart, kept by its admins.\n")
    assert "  # organisation is implied by the fragment\n" in written
    assert "hleaver" not in written and "Retiring in the spring" not in written
    assert (
        "  - {username: hmidwife, display_name: Mia Midwife, email: mia@health.example.org, "
        "units: [hward], role: staff, job_title: Midwife, manager: hadmin}\n"
    ) in written
    assert written.endswith("partnerships:\n  - key: fcare\n    people: [hnurse]\n")


def test_an_unchanged_person_keeps_their_text_and_comments(chart: Path) -> None:
    org, fragments = load_org_chart_with_fragments(chart)
    mapping = load_mapping(HR / "mapping.yaml")
    path = Path(fragments[0].filename)
    path.write_text(
        path.read_text().replace(
            "  - {username: hnurse,",
            "  # night shifts\n  - {username: hnurse,  email: hugo@health.example.org, "
            "job_title: Staff Nurse,",
        )
    )
    org, fragments = load_org_chart_with_fragments(chart)
    text = path.read_text()
    preview = preview_import(
        read_hr_rows(HR / "health.csv", mapping),
        mapping,
        org,
        "fhealth",
        existing_people(fragments[0].source),
    )
    assert [m.username for m in preview.movers] == ["hadmin"]
    assert preview.unchanged == 1
    assert (
        "  # night shifts\n  - {username: hnurse,  email: hugo@health.example.org, "
        "job_title: Staff Nurse,"
    ) in fragment_text(text, fragments[0].source, preview)


def test_a_mapping_to_a_field_that_does_not_exist_is_reported_at_its_line() -> None:
    with pytest.raises(SourceError) as caught:
        load_mapping(HR / "bad_mapping.yaml")
    lines = caught.value.render().splitlines()
    assert lines[0].startswith(f"{HR}/bad_mapping.yaml:4:3 columns.nickname: unknown person field")
    assert lines[1].startswith(f"{HR}/bad_mapping.yaml:6:3 roles.Band 5: input should be")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("unclosed_quote.csv", "not valid CSV at line 3 (unexpected end of data)"),
        ("wrong_columns.csv", "the header has no column 'Employee Login' (for username)"),
        ("missing.csv", "missing.csv: file not found"),
    ],
)
def test_a_malformed_csv_gets_one_clear_message(name: str, message: str) -> None:
    mapping = load_mapping(HR / "mapping.yaml")
    with pytest.raises(HrImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(read_hr_rows(HR / name, mapping))


def test_the_cli_writes_the_fragment_and_refuses_what_it_should(
    chart: Path, settings: Path
) -> None:
    common = ["--chart", str(chart), "--mapping", str(HR / "mapping.yaml")]
    csv_file = str(HR / "health.csv")
    refused = borough(
        "import", "people", csv_file, "--org", "fcouncil", "--as", "@hadmin", *common,
        settings=settings,
    )  # fmt: skip
    assert refused.exit_code == 3, refused.output
    assert "@hadmin:borough.test is not an admin of 'fcouncil'" in refused.output

    bad = borough(
        "import", "people", str(HR / "unclosed_quote.csv"), "--org", "fhealth", *common,
        settings=settings,
    )  # fmt: skip
    assert bad.exit_code == 2 and "not valid CSV at line 3" in bad.output

    unknown_field = borough(
        "import", "people", csv_file, "--org", "fhealth", "--chart", str(chart),
        "--mapping", str(HR / "bad_mapping.yaml"), settings=settings,
    )  # fmt: skip
    assert unknown_field.exit_code == 2
    assert "bad_mapping.yaml:4:3 columns.nickname: unknown person field" in unknown_field.output

    fragment = chart.parent / "orgs" / "fhealth.yaml"
    before = fragment.read_text()
    dry = borough(
        "import", "people", csv_file, "--org", "fhealth", "--as", "hadmin", "--dry-run", *common,
        settings=settings,
    )  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "1 joiners, 2 movers, 1 leavers, 0 unchanged, 10 bad rows" in dry.output
    assert fragment.read_text() == before

    done = borough(
        "import", "people", csv_file, "--org", "fhealth", "--as", "hadmin", "--yes", *common,
        settings=settings,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    org, _ = load_org_chart_with_fragments(chart)
    assert "hmidwife" in {p.username for p in org.people}
    assert "hleaver" not in {p.username for p in org.people}
    again = borough(
        "import", "people", csv_file, "--org", "fhealth", "--yes", *common, settings=settings
    )
    assert again.exit_code == 0 and "No changes to" in again.output

    audit = borough("audit", "--json", settings=settings)
    assert '"action": "people.import"' in audit.output
    assert '"actor": "@hadmin:borough.test"' in audit.output


def test_the_cli_says_who_the_admin_column_makes_admin_and_who_it_cannot(
    chart: Path, settings: Path, tmp_path: Path
) -> None:
    csv_file = tmp_path / "admins.csv"
    csv_file.write_text(
        "Login,Name,Admin\nhadmin,Hana Admin,\nhnurse,Hugo Nurse,yes\nhleaver,Lee Leaver,no\n"
    )
    mapping = tmp_path / "admins-mapping.yaml"
    mapping.write_text(
        "columns: {username: Login, display_name: Name, admin: Admin}\nleavers: keep\n"
    )
    command = ["import", "people", str(csv_file), "--org", "fhealth", "--as", "hadmin"]
    command += ["--chart", str(chart), "--mapping", str(mapping), "--yes"]
    held = borough(*command, settings=settings)
    assert held.exit_code == 0 and "No changes to" in held.output, held.output
    assert "Not made admins (hnurse): the main org file keeps fhealth's admins" in " ".join(
        held.output.split()
    )
    chart.write_text(
        chart.read_text().replace(
            "    admins: [hadmin]\n", "    admins: [hadmin]\n    fragment_may_add_admins: true\n"
        )
    )
    done = borough(*command, settings=settings)
    assert done.exit_code == 0, done.output
    assert "Admins in the fragment: hnurse (added: hnurse; removed: none)." in done.output
    assert "admins 1 added, 0 removed" in done.output
    assert "hnurse" in load_org_chart(chart).organisations[1].admins


@pytest.mark.parametrize(
    "value",
    ["yes", "No", "O'Brien", "Smith: John", "#1 nurse", "nurse # night", "2001-12-14", "0207 000",
     "Zoë Ångström", "~", "null", "a\"quote", "trailing ", "-dash", "x@y.org", "[list]", "{m}"],
)  # fmt: skip
def test_a_written_person_reads_back_exactly(value: str) -> None:
    person = {"username": "p1", "display_name": value, "units": [value], "profile": {"bio": value}}
    assert yaml.safe_load(person_line(person)) == person


def test_a_person_the_main_file_lists_is_not_taken_into_the_fragment(
    chart: Path, tmp_path: Path
) -> None:
    chart.write_text(
        chart.read_text().replace(
            "people:\n",
            "people:\n  - {username: hchief, display_name: Chief, organisation: fhealth}\n",
        )
    )
    hr = tmp_path / "hr.csv"
    hr.write_text(
        "Employee Login,Known As,Work Email,Team,Grade,Job Title,Line Manager\n"
        "hchief,Chief,,hward,Band 8a,,\n"
        "hnew,New Person,,hward,Band 5,,hchief\n"
    )
    org, fragments = load_org_chart_with_fragments(chart)
    mapping = load_mapping(HR / "mapping.yaml")
    preview = preview_import(
        read_hr_rows(hr, mapping), mapping, org, "fhealth", existing_people(fragments[0].source)
    )
    assert [(b.row, b.reason) for b in preview.bad_rows] == [
        (2, "'hchief' is listed in the main org file, not in this fragment")
    ]
    assert [p["username"] for p in preview.joiners] == ["hnew"]  # managed from the main file


def test_a_bad_row_for_someone_in_the_fragment_keeps_them_as_they_are(chart: Path) -> None:
    org, fragments = load_org_chart_with_fragments(chart)
    mapping = load_mapping(HR / "mapping.yaml")
    rows = [
        HrRow(
            2,
            {
                "username": "hadmin",
                "display_name": "Hana Admin",
                "units": "hward",
                "role": "Band 8a",
            },
        ),
        HrRow(3, {"username": "hnurse", "display_name": "Hugo Nurse", "units": "Nowhere"}),
        HrRow(4, {"username": "hleaver"}, "has 2 cells where the header has 7"),
    ]
    preview = preview_import(rows, mapping, org, "fhealth", existing_people(fragments[0].source))
    assert [b.row for b in preview.bad_rows] == [3, 4]
    assert preview.leavers == [] and preview.movers == []
    assert [p["username"] for p in preview.people] == ["hadmin", "hnurse", "hleaver"]
    assert preview.kept == {"hadmin", "hnurse", "hleaver"}


def test_rows_the_whole_chart_refuses_become_bad_rows(chart: Path) -> None:
    org, fragments = load_org_chart_with_fragments(chart)
    mapping = load_mapping(HR / "mapping.yaml")
    person = {"display_name": "Someone", "units": "hward", "role": "Band 5"}
    rows = [
        HrRow(2, {**person, "username": "hadmin", "display_name": "Hana Admin", "role": "Band 8a"}),
        HrRow(
            3, {**person, "username": "hnurse", "display_name": "Hugo Nurse", "manager": "hnurse"}
        ),
        HrRow(4, {**person, "username": "hone", "manager": "htwo"}),
        HrRow(5, {**person, "username": "htwo", "manager": "hone"}),
        HrRow(6, {**person, "username": "hfine", "manager": "hadmin"}),
        HrRow(7, {**person, "username": "hleaver", "display_name": "Lee Leaver"}),
    ]
    fragment = fragments[0].source
    preview = preview_import(rows, mapping, org, "fhealth", existing_people(fragment))
    settle(preview, chart, fragment)
    assert [(b.row, b.reason) for b in preview.bad_rows] == [
        (3, "a person cannot be their own manager"),
        (4, "managers form a cycle: hone → htwo → hone"),
        (5, "managers form a cycle: htwo → hone → htwo"),
    ]
    assert [p["username"] for p in preview.joiners] == ["hfine"]
    assert preview.movers == [] and preview.unchanged == 2  # hadmin and hleaver
    nurse = next(p for p in preview.people if p["username"] == "hnurse")
    assert nurse["manager"] == "hadmin"  # their entry as it was


@pytest.mark.timeout(30)  # a hang guard: before the bound, the bomb expanded for minutes
def test_an_alias_bomb_in_a_mapping_is_refused_at_its_alias() -> None:
    with pytest.raises(SourceError) as caught:
        load_mapping(HR / "alias_bomb_mapping.yaml")
    assert caught.value.render() == (
        f"{HR}/alias_bomb_mapping.yaml:9:8: aliases expand the file to more than 1,000,000 values"
    )


def test_a_cell_over_csvs_own_limit_is_a_bad_row_and_later_rows_still_import(
    tmp_path: Path,
) -> None:
    header = (HR / "health.csv").read_text().splitlines()[0]
    big = "x" * 200_000  # over csv's 128 KiB limit, which it blamed on "an unclosed quote"
    csv_file = tmp_path / "hr.csv"
    csv_file.write_text(
        f"{header}\n"
        f"hadmin,Hana Admin,,hward,Band 8a,{big},\n"
        f'hnurse,"{big}\n{big}\nstill the same cell",,hward,Band 5,,\n'
        "hmidwife,Mia Midwife,,hward,Band 6,Midwife,hadmin\n"
        f"hsister,Sam Sister,,hward,Band 6,{'y' * 20_000},\n"
    )
    rows = list(read_hr_rows(csv_file, load_mapping(HR / "mapping.yaml")))
    assert [(r.number, r.problem) for r in rows] == [
        (2, "column 'Job Title': a cell is longer than 10,000 characters"),
        (3, "column 'Known As': a cell is longer than 10,000 characters"),
        (6, None),
        (7, "column 'Job Title': a cell is longer than 10,000 characters"),
    ]
    assert rows[2].values["username"] == "hmidwife"


def test_long_manager_chains_and_cycles_become_bad_rows_with_short_reasons(chart: Path) -> None:
    org, fragments = load_org_chart_with_fragments(chart)
    mapping = load_mapping(HR / "mapping.yaml")
    staff = {"units": "hward", "role": "Band 5"}
    rows = [
        HrRow(2, {**staff, "username": "hadmin", "display_name": "Hana Admin", "role": "Band 8a"}),
        HrRow(3, {**staff, "username": "hnurse", "display_name": "Hugo Nurse"}),
        HrRow(4, {**staff, "username": "hleaver", "display_name": "Lee Leaver"}),
    ]
    n = 2000  # a chain under a manager nobody is, then a cycle: each row's reason is its own
    rows += [
        HrRow(5 + i, {**staff, "username": f"c{i}", "display_name": "C", "manager": f"c{i - 1}"})
        for i in range(n)
    ]
    rows[3].values["manager"] = "nobody"
    rows += [
        HrRow(
            5 + n + i,
            {**staff, "username": f"y{i}", "display_name": "Y", "manager": f"y{(i + 1) % n}"},
        )
        for i in range(n)
    ]
    fragment = fragments[0].source
    preview = preview_import(rows, mapping, org, "fhealth", existing_people(fragment))
    settle(preview, chart, fragment)
    reasons = {b.username: b.reason for b in preview.bad_rows}
    assert len(reasons) == 2 * n and preview.joiners == []
    assert reasons["c0"] == "manager 'nobody' is neither in the file nor in the org chart"
    assert reasons["c1999"] == "manager 'c1998' is not imported: row 2003 is bad"
    assert reasons["y7"] == "managers form a cycle: y7 → y8 → y9 → y10 → … and 1,996 more → y7"


def test_an_admin_column_keeps_the_fragments_admins_where_the_main_file_lets_it(
    chart: Path,
) -> None:
    mapping = HrMapping(
        columns={"username": "Login", "display_name": "Name", "admin": "Admin"}, leavers="keep"
    )

    def run(*admin: str) -> tuple[Any, Path]:
        org, fragments = load_org_chart_with_fragments(chart)
        rows = [
            HrRow(2, {"username": "hnurse", "display_name": "Hugo Nurse", "admin": admin[0]}),
            HrRow(3, {"username": "hadmin", "display_name": "Hana Admin"}),  # an empty cell
            HrRow(4, {"username": "hleaver", "display_name": "Lee Leaver", "admin": admin[1]}),
        ]
        result = import_people(chart, fragments, org, "fhealth", rows, mapping)
        result.path.write_text(result.text)
        return result.preview, result.path

    # Without the main file's leave, the fragment's admins stay as they are: none.
    preview, path = run("Yes", "perhaps")
    assert preview.admins_held == ["hnurse"] and not preview.has_changes
    assert [(b.row, b.reason) for b in preview.bad_rows] == [
        (4, "admin 'perhaps' is neither yes nor no")
    ]
    assert "admins:" not in path.read_text()

    chart.write_text(
        chart.read_text().replace(
            "    admins: [hadmin]\n", "    admins: [hadmin]\n    fragment_may_add_admins: true\n"
        )
    )
    preview, path = run("Yes", "y")
    assert preview.admins == ["hnurse", "hleaver"] and preview.admins_held == []
    assert "admins 2 added, 0 removed" in preview.summary()
    assert path.read_text().startswith(
        "# Fragment Health's own part of the chart, kept by its admins.\n"
        "organisation: fhealth\nadmins: [hnurse, hleaver]\nunits:\n"
    )
    health = load_org_chart(chart).organisations[1]
    assert health.admins == ("hadmin", "hnurse", "hleaver")

    # "no" takes one out, in place; an empty cell leaves hadmin a main-file admin.
    preview, path = run("no", "TRUE")
    assert preview.admins == ["hleaver"]
    assert "organisation: fhealth\nadmins: [hleaver]\nunits:\n" in path.read_text()
    assert load_org_chart(chart).organisations[1].admins == ("hadmin", "hleaver")


FRAGMENTS = {
    "block people between sections, with comments": (
        "# Health's part\norganisation: h\nunits:\n  - {key: w, name: Ward}\npeople:\n"
        "  # the first\n  - {username: a, display_name: A}\n  - username: b\n"
        "    display_name: B  # inline\n    units: [w]\n\n  # trailing\n"
        "partnerships:\n  - key: p\n    people: [a]\n"
    ),
    "a flow list": "organisation: h\npeople: []\nunits:\n  - key: w\n    name: Ward\n",
    "no people yet, no final newline": "organisation: h\nunits: [{key: w, name: Ward}]",
    "people last, indented deeper": (
        "organisation: h\npeople:\n    - {username: a, display_name: A}\n"
        "    - {username: b, display_name: B}\n"
    ),
}


@pytest.mark.parametrize("text", FRAGMENTS.values(), ids=FRAGMENTS.keys())
@pytest.mark.parametrize(
    "kept, changed",
    [
        ({"a", "b"}, [{"username": "c", "display_name": "C D", "units": ["w"]}]),
        ({"b"}, [{"username": "a", "display_name": "A2", "profile": {"bio": "yes"}}]),
        (set(), []),
        ({"a"}, [{"username": "n1", "display_name": "N"}, {"username": "n2", "display_name": "M"}]),
    ],
)
def test_the_written_fragment_reads_back_as_the_text_it_gives(
    text: str, kept: set[str], changed: list[dict[str, str]]
) -> None:
    """SCIM keeps the written fragment instead of parsing thousands of people again: its
    data and positions must be exactly what reading the new text gives."""
    from borough.people_import import ImportPreview, written_fragment
    from borough.yamlsource import parse_yaml

    source = parse_yaml(text, "h.yaml")
    before = {p["username"]: p for p in source.data.get("people") or []}
    preview = ImportPreview("h")
    preview.people = [before[name] for name in sorted(kept & before.keys())] + changed
    preview.kept = kept & before.keys()
    written, read = written_fragment(text, source, preview)
    again = parse_yaml(written, "h.yaml")
    assert read.data == again.data
    assert read.positions == again.positions


@pytest.mark.parametrize(
    "text",
    [
        FRAGMENTS["block people between sections, with comments"],
        FRAGMENTS["people last, indented deeper"],
    ],
)
@pytest.mark.parametrize("rewritten", [0, 1])
def test_a_person_rewritten_where_they_stand_reads_back(text: str, rewritten: int) -> None:
    """A mover's entry is written anew in its place; the others keep their lines."""
    from borough.people_import import ImportPreview, written_fragment
    from borough.yamlsource import parse_yaml

    source = parse_yaml(text, "h.yaml")
    preview = ImportPreview("h")
    preview.people = list(source.data["people"])
    preview.people[rewritten] = {**preview.people[rewritten], "display_name": "Moved On"}
    preview.kept = {p["username"] for p in preview.people} - {preview.people[rewritten]["username"]}
    written, read = written_fragment(text, source, preview)
    again = parse_yaml(written, "h.yaml")
    assert "display_name: Moved On" in written
    assert (read.data, read.positions) == (again.data, again.positions)
