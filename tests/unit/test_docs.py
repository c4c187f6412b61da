"""The docs stay true to the code where the code can say so: the bot's `!help` in the staff
guide, the README's size, the links between the documents, and the screenshots they show."""

from __future__ import annotations

import re
from pathlib import Path

from bots.assembly import command_registry
from scripts.docs_screenshots import SHOTS

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


def test_the_docs_images_are_the_browser_tests_screenshots_and_each_is_shown() -> None:
    """docs/images/ holds exactly what scripts/docs_screenshots.py copies from the browser
    tests (no hand-made picture), and every image a document shows is there."""
    images = REPO / "docs" / "images"
    assert sorted(p.name for p in images.iterdir()) == sorted(SHOTS), (
        "docs/images/ differs from scripts/docs_screenshots.py's SHOTS: run `make docs-images`"
    )
    shown = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r'!\[[^\]]*\]\(([^)\s]+)\)|<img src="([^"]+)"', text):
            path = doc.parent / (target[0] or target[1])
            assert path.is_file(), f"{doc.relative_to(REPO)} shows a missing image: {path}"
            shown.add(path.resolve())
    unshown = [name for name in SHOTS if (images / name).resolve() not in shown]
    assert unshown == [], f"docs/images/ holds images no document shows: {unshown}"
    for name in SHOTS:
        assert (images / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
