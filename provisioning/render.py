"""Print a plan the way Terraform does: grouped, counted, in a stable order."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.markup import escape

from provisioning.plan import Plan

_STYLE = {"+": "green", "~": "yellow", "-": "red"}
_GROUP_ORDER = [
    "users",
    "spaces",
    "rooms",
    "channels",
    "links",
    "power",
    "members",
    "registry",
    "retired",
    "units",
    "organisations",
    "partnerships",
    "profiles",
]


def plan_lines(plan: Plan) -> list[str]:
    """The plan as plain text lines (what `render_plan` prints, without colour)."""
    lines: list[str] = []
    ordered = sorted(plan.changes, key=lambda c: (_order(c.group), c.target, c.detail))
    for group, changes in groupby(ordered, key=lambda c: c.group):
        items = list(changes)
        lines.append(f"{group} ({len(items)})")
        lines += [f"  {c.action} {c.target}  {c.detail}" for c in items]
    if plan.held_back:
        lines.append(f"held back ({len(plan.held_back)})")
        for change, needs in sorted(plan.held_back, key=lambda h: h[0].sort_key):
            lines.append(f"  {change.action} {change.target}  {change.detail}  [needs {needs}]")
    lines += [f"warning: {w}" for w in plan.warnings]
    lines.append(
        plan.summary() if plan.changes else "No changes. The homeserver matches the org chart."
    )
    return lines


def render_plan(plan: Plan, console: Console, summary_only: bool = False) -> None:
    lines = plan_lines(plan)
    if summary_only:
        lines = [ln for ln in lines if not ln.startswith("  ")]
    for line in lines:
        stripped = line.lstrip()
        style = _STYLE.get(stripped[:1]) if line.startswith("  ") else "bold"
        console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))


def _order(group: str) -> int:
    return _GROUP_ORDER.index(group) if group in _GROUP_ORDER else len(_GROUP_ORDER)
