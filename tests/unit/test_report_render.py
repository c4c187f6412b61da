"""The report's outputs from plain rows: HTML escapes names and needs no network; CSV columns."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

from management.engagement import CircleWeek, EngagementRow, Scope
from management.report_render import Report, render_html, write_csv

HOSTILE = "<script>alert(1)</script> Costs $5 & $6"


def report() -> Report:
    rows = [
        EngagementRow(Scope("organisation", "org"), HOSTILE, 3, 4, 5, 6, 1, 30, 2),
        EngagementRow(Scope("channel", "news"), "News", 1, 1, 0, 0, 0, 0, 0),
    ]
    circle = [CircleWeek(date(2026, 11, 16), "p$1", 1, 2, 1, 8)]
    weekly = [(date(2026, 11, 16), {"post": 4, "reply": 5, "reaction": 6, "meeting": 1})]
    return Report(
        since=datetime(2026, 11, 16, tzinfo=UTC),
        until=datetime(2026, 11, 20, tzinfo=UTC),
        rows=rows,
        circle=circle,
        weekly=weekly,
    )


def test_html_escapes_names_and_is_self_contained() -> None:
    html = render_html(report())
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count('src="data:image/png;base64,') == 3
    assert "http://" not in html and "https://" not in html
    assert "<td>50%</td>" in html  # 4 crossing of 8


def test_csv_files(tmp_path: Path) -> None:
    paths = write_csv(report(), tmp_path)
    assert [p.name for p in paths] == [
        "engagement.csv",
        "virtuous_circle.csv",
        "weekly_activity.csv",
    ]
    with paths[0].open(encoding="utf-8") as f:
        first = next(csv.DictReader(f))
    assert first["name"] == HOSTILE and first["meeting_minutes"] == "30"
    with paths[1].open(encoding="utf-8") as f:
        assert next(csv.DictReader(f))["all_interactions"] == "8"
