"""Ask the network in the report (management.questions): rows per organisation and
partnership, and cross-organisation answers week by week, from known facts."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from management.engagement import Network, Scope
from management.questions import (
    AnswerFact,
    AnswerWeek,
    QuestionFact,
    QuestionRow,
    answers_by_week,
    question_rows,
    select_question_rows,
)
from management.report_render import Report, render_html, write_csv

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
NETWORK = Network(
    person_org={"@c1": "council", "@c2": "council", "@p1": "police", "@h1": "health"},
    partnership_orgs={"safe": frozenset({"council", "police"})},
    partnership_members={"safe": frozenset({"@c1", "@p1"})},
    names={Scope("organisation", "council"): "Council"},
)


def test_rows_count_asked_answered_in_a_day_median_and_answers_across() -> None:
    questions = [
        QuestionFact(1, "@c1", T0, T0 + timedelta(minutes=10)),
        QuestionFact(2, "@c1", T0, T0 + timedelta(hours=30)),  # answered, but late
        QuestionFact(3, "@c2", T0, None),
        QuestionFact(4, "@p1", T0, T0 + timedelta(minutes=20)),
    ]
    answers = [
        AnswerFact(1, "@p1", "@c1", T0 + timedelta(minutes=10)),  # police → council, in safe
        AnswerFact(1, "@c2", "@c1", T0 + timedelta(minutes=15)),  # same organisation
        AnswerFact(2, "@h1", "@c1", T0 + timedelta(hours=30)),  # health is not in safe
        AnswerFact(4, "@c1", "@p1", T0 + timedelta(minutes=20)),  # council → police, in safe
    ]
    rows = {(r.scope.kind, r.scope.key): r for r in question_rows(NETWORK, questions, answers)}
    assert list(rows) == [
        ("organisation", "council"),
        ("organisation", "health"),
        ("organisation", "police"),
        ("partnership", "safe"),
    ]
    council = rows[("organisation", "council")]
    assert council.name == "Council"
    assert (council.asked, council.answered_within_a_day) == (3, 1)
    assert round(council.share_answered_within_a_day, 3) == 0.333
    assert council.median_minutes_to_first_answer == (10 + 30 * 60) / 2
    assert council.answers_across_organisations == 1
    assert rows[("organisation", "police")].answers_across_organisations == 1
    assert rows[("organisation", "health")].answers_across_organisations == 1
    assert rows[("organisation", "health")].median_minutes_to_first_answer is None
    safe = rows[("partnership", "safe")]
    assert (safe.asked, safe.answered_within_a_day, safe.answers_across_organisations) == (3, 2, 2)
    assert safe.median_minutes_to_first_answer == 20
    kept = select_question_rows(list(rows.values()), NETWORK, "police")
    assert [r.scope.key for r in kept] == ["police", "safe"]


def test_answers_across_organisations_week_by_week_with_every_week_shown() -> None:
    answers = [
        AnswerFact(1, "@p1", "@c1", T0),
        AnswerFact(1, "@c2", "@c1", T0),  # same organisation: not counted
        AnswerFact(2, "@h1", "@c1", T0 + timedelta(days=14)),
    ]
    weeks = answers_by_week(NETWORK, answers, date(2026, 11, 16), date(2026, 12, 2))
    assert [(w.week, w.across, w.by_partnership) for w in weeks] == [
        (date(2026, 11, 16), 1, {"safe": 1}),
        (date(2026, 11, 23), 0, {"safe": 0}),
        (date(2026, 11, 30), 1, {"safe": 0}),
    ]


def test_the_report_shows_them_beside_the_circle_in_html_and_csv(tmp_path: Path) -> None:
    row = QuestionRow(Scope("organisation", "council"), "<b>Council</b>", 3, 1, 905.0, 1)
    silent = QuestionRow(Scope("partnership", "safe"), "Safe", 0, 0, None, 0)
    weeks = [AnswerWeek(date(2026, 11, 16), 1, {"safe": 1})]
    report = Report(
        since=T0,
        until=T0 + timedelta(days=3),
        rows=[],
        circle=[],
        weekly=[],
        questions=[row, silent],
        answer_weeks=weeks,
    )
    html = render_html(report)
    assert html.count('src="data:image/png;base64,') == 4
    assert "<b>Council</b>" not in html and "&lt;b&gt;Council&lt;/b&gt;" in html
    assert "<td>33%</td><td>905.0</td>" in html.replace("\n", "").replace(" <td>", "<td>")
    paths = write_csv(report, tmp_path)
    assert [p.name for p in paths[3:]] == ["questions.csv", "answers_across_organisations.csv"]
    with paths[3].open(encoding="utf-8") as f:
        council, safe = list(csv.DictReader(f))
    assert council["median_minutes_to_first_answer"] == "905.00"
    assert safe["median_minutes_to_first_answer"] == ""
    with paths[4].open(encoding="utf-8") as f:
        assert list(csv.DictReader(f)) == [
            {"week": "2026-11-16", "across_organisations": "1", "safe": "1"}
        ]
