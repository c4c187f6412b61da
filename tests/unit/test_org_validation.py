"""Validation answers every bad org file with every problem, placed at file:line:col."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from bench.validate import manager_cycle, unit_cycle, valid_people
from borough.org import OrgChart, OrgChartError, load_org_chart, parse_org_chart
from borough.org.checks import HINT_BUDGET, check_org_chart
from borough.org.index import _Lookup
from borough.yamlsource import MAX_BYTES, parse_yaml
from tests.conftest import EXAMPLE_ORG, borough

FIXTURES = Path(__file__).parents[1] / "fixtures" / "org"


def problems(name: str) -> list[str]:
    with pytest.raises(OrgChartError) as caught:
        load_org_chart(FIXTURES / name)
    return caught.value.render().splitlines()


def test_the_example_org_chart_is_valid_and_big_enough() -> None:
    chart = load_org_chart(EXAMPLE_ORG)
    directorates = [u for u in chart.units if u.parent is None and u.organisation == "northbridge"]
    assert {u.name for u in directorates} >= {
        "Children's Services",
        "Adult Social Care",
        "Housing",
        "Environment",
        "Resources",
        "Chief Executive's Office",
    }
    assert len(chart.units) - len(directorates) >= 25
    assert len(chart.people) >= 60
    kinds = {o.kind for o in chart.organisations}
    assert {"council", "health", "police"} <= kinds
    assert sum(o.kind in ("charity", "community") for o in chart.organisations) >= 2
    assert len(chart.partnerships) >= 2
    assert any(c.sealed and "Senior Management" in c.name for c in chart.channels)


def test_malformed_yaml_points_at_the_line() -> None:
    (line,) = problems("malformed.yaml")
    assert "malformed.yaml:4:1" in line and "not valid YAML" in line


def test_unknown_references_suggest_the_nearest_name() -> None:
    lines = problems("unknown_refs.yaml")
    assert any(
        "unknown_refs.yaml:12:5 units[1].parent: unknown unit 'Housing Sevices' — did you mean 'Housing Services'?"
        in ln
        for ln in lines
    )
    assert any(
        "people[0].organisation: unknown organisation 'councll' — did you mean 'council'?" in ln
        for ln in lines
    )
    assert any("people[0].manager: unknown person 'nobody'" in ln for ln in lines)
    assert len(lines) == 3


def test_duplicates_and_cycles_are_all_reported() -> None:
    text = "\n".join(problems("duplicates_and_cycles.yaml"))
    assert "people[2].username: duplicate username 'asmith' (first used at people[0])" in text
    assert "units form a cycle" in text
    assert "managers form a cycle: asmith → bjones → asmith" in text


def test_unknown_fields_bad_values_and_bad_emails() -> None:
    text = "\n".join(problems("bad_fields.yaml"))
    assert "bad_fields.yaml:5:5 organisations[0].colour: unknown field 'colour'" in text
    assert "organisations[0].kind: input should be" in text and "(got 'councill')" in text
    assert "people[0].email: value is not a valid email address" in text
    assert "people[0].profile.skils: unknown field 'skils' — did you mean 'skills'?" in text


def test_posters_outside_a_sealed_channels_owner_are_refused() -> None:
    (line,) = problems("sealed_outsider.yaml")
    assert "channels[0].posters.people[1]: 'gardener' is not a member of 'smt'" in line


def test_bare_profile_values_take_the_fields_default_visibility() -> None:
    chart = parse_org_chart(
        "organisations: [{key: c, name: C, kind: council}]\n"
        "people: [{username: a, display_name: A, organisation: c,"
        " profile: {bio: Hi, phone: 2079460100, pronouns: {value: she/her, visibility: public}}}]\n"
    )
    fields = chart.people[0].profile.fields()
    assert fields["bio"].visibility == "partners"
    assert fields["phone"].value == "2079460100" and fields["phone"].visibility == "staff"
    assert fields["pronouns"].visibility == "public"


@pytest.mark.parametrize(
    "fixture",
    ["malformed.yaml", "unknown_refs.yaml", "duplicates_and_cycles.yaml", "bad_fields.yaml"],
)
def test_validate_exits_2_with_the_problems_and_no_traceback(fixture: str) -> None:
    result = borough("validate", str(FIXTURES / fixture))
    assert result.exit_code == 2
    assert fixture in result.output and "Traceback" not in result.output
    assert "problem" in result.output


def test_validate_accepts_the_example() -> None:
    result = borough("validate", str(EXAMPLE_ORG))
    assert result.exit_code == 0
    assert result.output.startswith("OK: 6 organisations")


def test_a_missing_org_file_is_a_clear_error(tmp_path: Path) -> None:
    result = borough("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml: file not found" in result.output


def test_an_email_outside_the_organisations_domains_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    chart = tmp_path / "org.yaml"
    chart.write_text(
        "organisations:\n"
        "  - {key: police, name: Test Police, kind: police, email_domains: [police.uk]}\n"
        "people:\n"
        "  - {username: ok, display_name: Ok, organisation: police, email: ok@police.uk}\n"
        "  - {username: sub, display_name: Sub, organisation: police, email: s@met.police.uk}\n"
        "  - {username: typo, display_name: Typo, organisation: police, email: t@polce.uk}\n",
        encoding="utf-8",
    )
    with pytest.raises(OrgChartError) as caught:
        load_org_chart(chart)
    (line,) = caught.value.render().splitlines()
    assert "org.yaml:6:" in line and "people[2].email: t@polce.uk is not at Test Police's" in line
    assert "did you mean 'police.uk'?" in line


# --- bounded YAML: what could hang, exhaust memory or crash the loader is refused at its place


@pytest.mark.timeout(30)  # a hang guard: before the bound, expanding this ran for minutes
@pytest.mark.parametrize(
    ("fixture", "line"),
    [
        ("alias_bomb.yaml", ":11:10: aliases expand the file to more than 1,000,000 values"),
        ("custom_tag.yaml", ":5:33: the tag !foo is not allowed; write plain YAML without tags"),
        ("merge_key.yaml", ":6:5: merge keys ('<<') are not supported; write the fields out"),
        ("self_alias.yaml", ":4:12: the alias *l is inside its own anchor &l, which never ends"),
    ],
)
def test_yaml_that_could_hang_or_crash_is_refused_at_its_place(fixture: str, line: str) -> None:
    assert problems(fixture) == [f"{FIXTURES / fixture}{line}"]
    result = borough("validate", str(FIXTURES / fixture))
    assert result.exit_code == 2 and line in result.output


def test_values_yaml_cannot_read_are_problems_not_crashes() -> None:
    name = FIXTURES / "bad_scalars.yaml"
    assert problems("bad_scalars.yaml") == [
        f"{name}:5:70 people[0].job_title: not a valid date; put it in quotes to keep it as text",
        f"{name}:6:70 people[1].job_title: not a valid number; put it in quotes to keep it as text",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n" + "".join(f"{'  ' * d}b:\n" for d in range(1, 80)), "nested deeper than 64 levels"),
        ("a: &x [1]\nb: &x [2]\n", "the anchor &x is defined twice (first on line 1)"),
        ("a: *nowhere\n", "the alias *nowhere names no anchor defined above it"),
        ("? [a, b]\n: 1\n", "a key must be text, not a list or a mapping"),
        ("a: 1\n---\nb: 2\n", "expected one YAML document, but found another"),
        ("a: \x00\n", "control characters are not allowed (character #x00)"),
    ],
)
def test_other_yaml_the_loader_refuses_is_named(text: str, message: str) -> None:
    with pytest.raises(OrgChartError) as caught:
        parse_org_chart(text, "org.yaml")
    (line,) = caught.value.render().splitlines()
    assert line.startswith("org.yaml:") and line.endswith(message)


@pytest.mark.timeout(30)  # before the bound, /dev/zero ran to MemoryError and a FIFO hung
def test_only_a_regular_file_of_bounded_size_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "org.fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_BYTES + 1))
    for path, message in [
        ("/dev/zero", "not a regular file (a device, pipe or socket)"),
        (fifo, "not a regular file (a device, pipe or socket)"),
        (tmp_path, "is a folder, not a file"),
        (big, "the file is larger than 16 MB"),
    ]:
        with pytest.raises(OrgChartError) as caught:
            load_org_chart(path)
        assert caught.value.render() == f"{path}: {message}"


def test_a_file_that_is_no_org_chart_is_not_quoted() -> None:
    assert problems("not_a_chart.yaml") == [
        f"{FIXTURES / 'not_a_chart.yaml'}:1:1: expected a mapping with 'organisations:' at the top"
    ]


# --- cross-reference checks stay linear (counted, not timed: the machines are shared) -----


def _chart(kind: str, n: int) -> str:
    return {"units": unit_cycle, "managers": manager_cycle, "valid": valid_people}[kind](n)


def _lookups(monkeypatch: pytest.MonkeyPatch, text: str) -> int:
    """How many references the checks resolve to validate `text`."""
    count = 0
    real = _Lookup.get

    def counting(self: _Lookup[object], ref: str) -> object:
        nonlocal count
        count += 1
        return real(self, ref)

    chart = OrgChart.model_validate(parse_yaml(text).data)
    with monkeypatch.context() as patch:
        patch.setattr(_Lookup, "get", counting)
        check_org_chart(chart)
    return count


@pytest.mark.parametrize("kind", ["units", "managers", "valid"])
def test_cross_reference_checks_grow_linearly(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    small, large = (
        _lookups(monkeypatch, _chart(kind, 300)),
        _lookups(monkeypatch, _chart(kind, 1500)),
    )
    # Five times the chart: five times the lookups when linear, 25 when quadratic.
    assert large <= 5.5 * small, (small, large)


def test_a_long_cycle_is_named_by_its_first_members_and_a_count() -> None:
    with pytest.raises(OrgChartError) as caught:
        parse_org_chart(manager_cycle(1500), "org.yaml")
    lines = caught.value.render().splitlines()
    assert len(lines) == 1500  # every member of the cycle, each at its line
    assert lines[0] == (
        "org.yaml:4:67 people[0].manager: managers form a cycle: "
        "p0 → p1 → p2 → p3 → … and 1,496 more → p0"
    )
    assert lines[1].endswith("p1 → p2 → p3 → p4 → … and 1,496 more → p1")
    assert max(len(line) for line in lines) < 120
    with pytest.raises(OrgChartError) as caught:
        parse_org_chart(unit_cycle(1500), "org.yaml")
    assert "units form a cycle: u0 → u1 → u2 → u3 → … and 1,496 more → u0" in str(caught.value)


def test_did_you_mean_has_a_budget_across_one_check(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = 0
    real = difflib.get_close_matches

    def counting(word: str, possibilities: list[str], *args: object, **kw: object) -> list[str]:
        nonlocal compared
        compared += len(possibilities)
        return real(word, possibilities, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    # 1,500 people, each naming a manager nobody is: 1,500 hints over 1,500 names.
    text = manager_cycle(1500).replace("manager: p", "manager: pp")
    with pytest.raises(OrgChartError) as caught:
        parse_org_chart(text, "org.yaml")
    lines = caught.value.render().splitlines()
    assert len(lines) == 1500 and all("unknown person 'pp" in line for line in lines)
    assert "did you mean 'p1'?" in lines[0]  # the first get their hint
    assert "did you mean" not in lines[-1]  # and when the budget is spent, the rest do not
    assert compared <= HINT_BUDGET


def only_problem(text: str) -> str:
    """The one problem an org chart written as `org.yaml` has."""
    with pytest.raises(OrgChartError) as caught:
        parse_org_chart(text, "org.yaml")
    (line,) = caught.value.render().splitlines()
    return line


def test_a_partnerships_leads_are_people_of_the_chart() -> None:
    line = only_problem(
        "organisations: [{key: c, name: C, kind: council}]\n"
        "people: [{username: asmith, display_name: A, organisation: c}]\n"
        "partnerships: [{key: p, name: P, leads: [asmiht]}]\n"
    )
    assert "org.yaml:3:" in line
    assert "partnerships[0].leads[0]: unknown person 'asmiht' — did you mean 'asmith'?" in line


def test_a_channel_template_reaches_its_whole_unit() -> None:
    line = only_problem(
        "organisations: [{key: c, name: C, kind: council}]\n"
        "room_templates:\n"
        "  news: {name: '{name} news', channel: {}, reach: direct}\n"
    )
    assert "org.yaml:3:" in line and "room_templates.news" in line
    assert "'reach: direct' is for rooms" in line
