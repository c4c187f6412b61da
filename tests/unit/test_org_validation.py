"""Validation answers every bad org file with every problem, placed at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from borough.org import OrgChartError, load_org_chart, parse_org_chart
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
