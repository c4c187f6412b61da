"""The docs stay true to the code where the code can say so: the bot's `!help` in the staff
guide, the README's size, and the links between the documents."""

from __future__ import annotations

import re
from pathlib import Path

from bots.assembly import command_registry

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_staff_guide_shows_what_help_answers() -> None:
    guide = (REPO / "docs" / "users.md").read_text(encoding="utf-8")
    registry = command_registry()
    admin_lines = set(registry.help(is_admin=True).splitlines()) - set(registry.help().splitlines())
    assert admin_lines and all(line in guide for line in admin_lines), (
        "docs/users.md no longer lists the `!admin` commands that admins are shown"
    )
    assert registry.help() in guide, (
        "docs/users.md no longer shows the bot's `!help`: paste the output of "
        '.venv/bin/python -c "from bots.assembly import command_registry; '
        'print(command_registry().help())"'
    )


def test_the_readme_is_a_front_door() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail into docs/"


def test_links_between_the_docs_lead_somewhere() -> None:
    broken = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            if not (doc.parent / target).is_file():
                broken.append(f"{doc.relative_to(REPO)} -> {target}")
    assert not broken, broken
