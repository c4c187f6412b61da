"""The engagement report as terminal tables, CSV files and one self-contained HTML page.

Charts are drawn by matplotlib (Agg) into PNGs embedded as data: URIs, so the page needs no
network and no CDN. Text comes only from names and counts; Jinja2 escapes all of it.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from management.engagement import SCOPE_KINDS, CircleWeek, EngagementRow
from management.questions import AnswerWeek, QuestionRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = (
    "active people",
    "posts",
    "replies",
    "reactions",
    "meetings",
    "meeting minutes",
    "new joiners",
)
#: The same columns, short enough for an 80-column terminal.
SHORT_COLUMNS = ("active", "posts", "replies", "reacts", "meetings", "minutes", "joiners")
TITLES = {
    "organisation": "Organisations",
    "unit": "Units",
    "partnership": "Partnerships",
    "channel": "Channels",
}


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    rows: list[EngagementRow]
    circle: list[CircleWeek]
    weekly: list[tuple[date, dict[str, int]]]
    filters: str = ""
    #: Ask the network, per organisation and partnership (management.questions).
    questions: Sequence[QuestionRow] = ()
    answer_weeks: Sequence[AnswerWeek] = ()

    @property
    def period(self) -> str:
        return f"{self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M} UTC"


def _numbers(row: EngagementRow) -> list[int]:
    return [
        row.active_people,
        row.posts,
        row.replies,
        row.reactions,
        row.meetings,
        row.meeting_minutes,
        row.new_joiners,
    ]


QUESTION_COLUMNS = (
    "questions asked",
    "answered within 24 h",
    "share answered within 24 h",
    "median minutes to first answer",
    "answers across organisations",
)


def question_cells(row: QuestionRow) -> list[str]:
    median = row.median_minutes_to_first_answer
    return [
        str(row.asked),
        str(row.answered_within_a_day),
        f"{row.share_answered_within_a_day:.0%}",
        "—" if median is None else f"{median:.1f}",
        str(row.answers_across_organisations),
    ]


def _print_questions(report: Report, console: Console) -> None:
    if not report.questions:
        return
    table = Table(
        title="Ask the network: questions and answers", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("organisation or partnership", min_width=18, ratio=1)
    for column in ("asked", "in 24 h", "share", "median min", "across orgs"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in report.questions:
        table.add_row(f"{row.name} [dim]{row.scope.key}[/]", *question_cells(row))
    console.print(table)
    weeks = Table(
        title="Answers across organisations, week by week",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    weeks.add_column("week of")
    weeks.add_column("answers across organisations", justify="right")
    for week in report.answer_weeks:
        weeks.add_row(f"{week.week:%Y-%m-%d}", str(week.across))
    console.print(weeks)


def print_tables(report: Report, console: Console) -> None:
    console.print(f"[bold]Engagement[/] {report.period}{report.filters}")
    console.print(
        "[dim]active people · posts · replies · reactions · meetings held · meeting minutes · "
        "new joiners[/]"
    )
    for kind in SCOPE_KINDS:
        rows = [r for r in report.rows if r.scope.kind == kind]
        if not rows:
            continue
        table = Table(title=TITLES[kind], title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column(kind, min_width=18, ratio=1)
        for column in SHORT_COLUMNS:
            table.add_column(column, justify="right", no_wrap=True)
        for row in rows:
            table.add_row(f"{row.name} [dim]{row.scope.key}[/]", *map(str, _numbers(row)))
        console.print(table)
    crossing = [w for w in report.circle if w.interactions]
    table = Table(
        title="Virtuous circle: interactions across organisations inside partnerships",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in (
        "week of",
        "partnership",
        "replies",
        "reactions",
        "meetings",
        "crossing",
        "share",
    ):
        table.add_column(
            column, justify="left" if column in ("week of", "partnership") else "right"
        )
    for week in crossing:
        table.add_row(
            f"{week.week:%Y-%m-%d}",
            week.partnership,
            str(week.replies),
            str(week.reactions),
            str(week.meetings),
            f"{week.crossing} of {week.interactions}",
            f"{week.share:.0%}",
        )
    if not crossing:
        table.add_row("—", "no replies, reactions or meetings in partnerships", "", "", "", "", "")
    console.print(table)
    _print_questions(report, console)


def write_csv(report: Report, directory: Path) -> list[Path]:
    directory.mkdir(exist_ok=True)
    engagement = directory / "engagement.csv"
    with engagement.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["kind", "key", "name", *[c.replace(" ", "_") for c in COLUMNS]])
        for row in report.rows:
            writer.writerow([row.scope.kind, row.scope.key, row.name, *_numbers(row)])
    circle = directory / "virtuous_circle.csv"
    with circle.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "week",
                "partnership",
                "cross_org_replies",
                "cross_org_reactions",
                "cross_org_meetings",
                "all_interactions",
            ]
        )
        for week in report.circle:
            writer.writerow(
                [
                    week.week.isoformat(),
                    week.partnership,
                    week.replies,
                    week.reactions,
                    week.meetings,
                    week.interactions,
                ]
            )
    weekly = directory / "weekly_activity.csv"
    with weekly.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["week", "posts", "replies", "reactions", "meetings"])
        for week_of, counts in report.weekly:
            writer.writerow(
                [
                    week_of.isoformat(),
                    counts["post"],
                    counts["reply"],
                    counts["reaction"],
                    counts["meeting"],
                ]
            )
    if not report.questions and not report.answer_weeks:
        return [engagement, circle, weekly]
    questions = directory / "questions.csv"
    with questions.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["kind", "key", "name", *[c.replace(" ", "_") for c in QUESTION_COLUMNS]])
        for asked in report.questions:
            median = asked.median_minutes_to_first_answer
            writer.writerow(
                [
                    asked.scope.kind,
                    asked.scope.key,
                    asked.name,
                    asked.asked,
                    asked.answered_within_a_day,
                    f"{asked.share_answered_within_a_day:.4f}",
                    "" if median is None else f"{median:.2f}",
                    asked.answers_across_organisations,
                ]
            )
    answer_weeks = directory / "answers_across_organisations.csv"
    partnerships = sorted({p for w in report.answer_weeks for p in w.by_partnership})
    with answer_weeks.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["week", "across_organisations", *partnerships])
        for answered in report.answer_weeks:
            writer.writerow(
                [
                    answered.week.isoformat(),
                    answered.across,
                    *(answered.by_partnership.get(p, 0) for p in partnerships),
                ]
            )
    return [engagement, circle, weekly, questions, answer_weeks]


def _plain(label: str) -> str:
    """A name as matplotlib should draw it: '$' would otherwise start mathtext."""
    return label.replace("$", r"\$")


def _pyplot() -> ModuleType:
    """matplotlib's pyplot, drawing off-screen. Imported only here: it costs a third of a
    second, and only the HTML report draws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _weekly_chart(weekly: Sequence[tuple[date, dict[str, int]]]) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 3.2))
    labels = [f"{w:%d %b}" for w, _ in weekly]
    bottom = [0] * len(weekly)
    for kind, label in (
        ("post", "posts"),
        ("reply", "replies"),
        ("reaction", "reactions"),
        ("meeting", "meetings"),
    ):
        values = [counts[kind] for _, counts in weekly]
        axes.bar(labels, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_ylabel("per week")
    axes.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes.set_title("Activity across the network, week by week")
    axes.legend(loc="upper left", fontsize="small")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def _circle_chart(circle: Sequence[CircleWeek]) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 3.2))
    partnerships = sorted({w.partnership for w in circle})
    for partnership in partnerships:
        weeks = [w for w in circle if w.partnership == partnership]
        axes.plot(
            [f"{w.week:%d %b}" for w in weeks],
            [w.crossing for w in weeks],
            marker="o",
            label=_plain(partnership),
        )
    axes.set_ylabel("cross-organisation interactions")
    axes.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes.set_title("Virtuous circle: replies, reactions and meetings across organisations")
    if partnerships:
        axes.legend(loc="upper left", fontsize="small")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def _answers_chart(weeks: Sequence[AnswerWeek]) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 3.2))
    labels = [f"{w.week:%d %b}" for w in weeks]
    axes.bar(labels, [w.across for w in weeks], color="#2e9e6a", label="all")
    for partnership in sorted({p for w in weeks for p in w.by_partnership}):
        axes.plot(
            labels,
            [w.by_partnership.get(partnership, 0) for w in weeks],
            marker="o",
            label=_plain(partnership),
        )
    axes.set_ylabel("answers across organisations")
    axes.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes.set_title("Ask the network: answers given across organisations")
    axes.legend(loc="upper left", fontsize="small")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def _organisation_chart(rows: Sequence[EngagementRow]) -> str:
    orgs = [r for r in rows if r.scope.kind == "organisation"]
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 0.6 + 0.45 * max(1, len(orgs))))
    axes.barh([_plain(r.name) for r in orgs], [r.active_people for r in orgs], color="#3b7dd8")
    axes.invert_yaxis()
    axes.set_xlabel("active people")
    axes.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes.set_title("Active people by organisation")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Borough engagement report</title>
<style>
 body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
        max-width: 1100px; padding: 0 1rem; color: #1d1d1f; }
 h1 { margin-bottom: .2rem; } .period { color: #555; margin-top: 0; }
 table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; font-size: .92rem; }
 th, td { padding: .35rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }
 th:first-child, td:first-child { text-align: left; }
 th { background: #f3f5f8; } .key { color: #777; font-size: .85em; }
 img { max-width: 100%; } .charts { display: grid; gap: 1rem; }
 .note { color: #555; font-size: .88rem; }
 .beside { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
</style>
</head>
<body>
<h1>Engagement report</h1>
<p class="period">{{ report.period }}{{ report.filters }}</p>
<div class="charts">
 <img alt="Activity across the network, week by week" src="{{ charts.weekly }}">
 <div class="beside">
  <img alt="Cross-organisation interactions inside partnerships, week by week" src="{{ charts.circle }}">
  {% if charts.answers %}<img alt="Answers given across organisations, week by week" src="{{ charts.answers }}">{% endif %}
 </div>
 <img alt="Active people by organisation" src="{{ charts.organisations }}">
</div>
{% for kind, title in titles %}{% set rows = by_kind[kind] %}{% if rows %}
<h2>{{ title }}</h2>
<table>
 <thead><tr><th>{{ kind }}</th>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
 <tbody>
 {% for row in rows %}<tr><td>{{ row.name }} <span class="key">{{ row.scope.key }}</span></td>
 {% for n in numbers(row) %}<td>{{ n }}</td>{% endfor %}</tr>
 {% endfor %}
 </tbody>
</table>
{% endif %}{% endfor %}
<h2>Virtuous circle</h2>
<p class="note">Replies, reactions and meetings inside partnership spaces between people of
different organisations, beside all replies, reactions and meetings there.</p>
<table>
 <thead><tr><th>week of</th><th>partnership</th><th>replies</th><th>reactions</th>
 <th>meetings</th><th>crossing</th><th>all</th><th>share</th></tr></thead>
 <tbody>
 {% for w in circle %}<tr><td>{{ w.week }}</td><td>{{ w.partnership }}</td><td>{{ w.replies }}</td>
 <td>{{ w.reactions }}</td><td>{{ w.meetings }}</td><td>{{ w.crossing }}</td>
 <td>{{ w.interactions }}</td><td>{{ "%.0f%%" % (100 * w.share) }}</td></tr>
 {% endfor %}
 </tbody>
</table>
{% if questions %}
<h2>Ask the network</h2>
<p class="note">Questions asked with <code>!ask</code> by the people of each organisation and
partnership; answered means a thread reply by someone other than the asker. Answers across
organisations: given by its people to people of another organisation (in a partnership,
between its members).</p>
<table>
 <thead><tr><th>organisation or partnership</th>{% for c in question_columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
 <tbody>
 {% for row in questions %}<tr><td>{{ row.name }} <span class="key">{{ row.scope.key }}</span></td>
 {% for cell in question_cells(row) %}<td>{{ cell }}</td>{% endfor %}</tr>
 {% endfor %}
 </tbody>
</table>
{% endif %}
<p class="note">Organisations and units count what their people did anywhere (a unit includes
its sub-units); partnerships and channels count what happened in their rooms. Sealed channels
are counted, never quoted. Reactions count in the week of the post they react to.</p>
</body>
</html>
"""


def render_html(report: Report) -> str:
    from jinja2 import Environment, select_autoescape

    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = environment.from_string(_TEMPLATE)
    charts = {
        "weekly": _weekly_chart(report.weekly),
        "circle": _circle_chart(report.circle),
        "organisations": _organisation_chart(report.rows),
        "answers": _answers_chart(report.answer_weeks) if report.answer_weeks else None,
    }
    return template.render(
        report=report,
        charts=charts,
        titles=list(TITLES.items()),
        by_kind={k: [r for r in report.rows if r.scope.kind == k] for k in SCOPE_KINDS},
        columns=COLUMNS,
        numbers=_numbers,
        circle=[w for w in report.circle if w.interactions],
        questions=report.questions,
        question_columns=QUESTION_COLUMNS,
        question_cells=question_cells,
    )
