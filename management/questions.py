"""Ask the network in the engagement report: pure arithmetic from question and answer facts
to rows per organisation and partnership, and cross-organisation answers week by week.

An organisation counts the questions its people asked, and the answers its people gave to
people of other organisations. A partnership counts the questions its members asked, and the
answers its members gave to members of another of its organisations. A question is answered
when someone other than its asker replied in its thread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median

from management.engagement import Network, Scope, weeks_between
from management.timespan import week_start

ANSWERED_WITHIN = timedelta(hours=24)


@dataclass(frozen=True)
class QuestionFact:
    question_id: int
    asker: str
    asked_at: datetime
    #: The earliest answer by someone other than the asker; None if there is none yet.
    first_answer_at: datetime | None


@dataclass(frozen=True)
class AnswerFact:
    question_id: int
    answerer: str
    asker: str
    answered_at: datetime


@dataclass(frozen=True)
class QuestionRow:
    scope: Scope
    name: str
    asked: int
    answered_within_a_day: int
    #: None when no question in the scope has an answer.
    median_minutes_to_first_answer: float | None
    answers_across_organisations: int

    @property
    def share_answered_within_a_day(self) -> float:
        return self.answered_within_a_day / self.asked if self.asked else 0.0


def _crosses(network: Network, answerer: str, asker: str) -> bool:
    theirs, mine = network.person_org.get(answerer), network.person_org.get(asker)
    return theirs is not None and mine is not None and theirs != mine


def _scopes(network: Network, user_id: str) -> list[Scope]:
    found = []
    if (org := network.person_org.get(user_id)) is not None:
        found.append(Scope("organisation", org))
    found += [
        Scope("partnership", p)
        for p, members in network.partnership_members.items()
        if user_id in members
    ]
    return found


def question_rows(
    network: Network, questions: Iterable[QuestionFact], answers: Iterable[AnswerFact]
) -> list[QuestionRow]:
    """One row per organisation and partnership, organisations first, each by key."""
    asked: dict[Scope, list[QuestionFact]] = defaultdict(list)
    for question in questions:
        for scope in _scopes(network, question.asker):
            asked[scope].append(question)
    crossing: dict[Scope, int] = defaultdict(int)
    for answer in answers:
        if not _crosses(network, answer.answerer, answer.asker):
            continue
        asker_scopes = set(_scopes(network, answer.asker))
        for scope in _scopes(network, answer.answerer):
            # A partnership's circle is between its own members.
            if scope.kind == "organisation" or scope in asker_scopes:
                crossing[scope] += 1
    scopes = {Scope("organisation", o) for o in network.person_org.values()}
    scopes |= {Scope("partnership", p) for p in network.partnership_members}
    rows = []
    for scope in sorted(scopes, key=lambda s: (s.kind != "organisation", s.key)):
        facts = asked.get(scope, [])
        waits = [
            (q.first_answer_at - q.asked_at).total_seconds() / 60
            for q in facts
            if q.first_answer_at is not None
        ]
        rows.append(
            QuestionRow(
                scope=scope,
                name=network.names.get(scope, scope.key),
                asked=len(facts),
                answered_within_a_day=sum(
                    1
                    for q in facts
                    if q.first_answer_at is not None
                    and q.first_answer_at - q.asked_at <= ANSWERED_WITHIN
                ),
                median_minutes_to_first_answer=median(waits) if waits else None,
                answers_across_organisations=crossing.get(scope, 0),
            )
        )
    return rows


@dataclass(frozen=True)
class AnswerWeek:
    """Answers given across organisations in the week starting `week`: in all, and within
    each partnership (between its members)."""

    week: date
    across: int
    by_partnership: dict[str, int]


def answers_by_week(
    network: Network, answers: Iterable[AnswerFact], start: date, end: date
) -> list[AnswerWeek]:
    """Every week in [start, end], beside the virtuous circle's weeks."""
    weeks = set(weeks_between(start, end))
    totals: dict[date, int] = defaultdict(int)
    partnerships: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for answer in answers:
        week = week_start(answer.answered_at.date())
        if week not in weeks or not _crosses(network, answer.answerer, answer.asker):
            continue
        totals[week] += 1
        for p, members in network.partnership_members.items():
            if answer.answerer in members and answer.asker in members:
                partnerships[week][p] += 1
    return [
        AnswerWeek(
            week,
            totals.get(week, 0),
            {p: partnerships[week].get(p, 0) for p in sorted(network.partnership_members)},
        )
        for week in sorted(weeks)
    ]


def select_question_rows(
    rows: Sequence[QuestionRow], network: Network, organisation: str | None
) -> list[QuestionRow]:
    """The organisation's own row and its partnerships', when the report is cut to one."""
    if organisation is None:
        return list(rows)
    return [
        r
        for r in rows
        if (r.scope.kind == "organisation" and r.scope.key == organisation)
        or (
            r.scope.kind == "partnership"
            and organisation in network.partnership_orgs.get(r.scope.key, frozenset())
        )
    ]
