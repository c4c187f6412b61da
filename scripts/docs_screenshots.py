"""`make docs-images`: the screenshots in docs/images/, copied from the browser tests' own.

Every image the docs show is one the browser tests took (tests/browser, `check_page` saves
each page in light and dark theme and at phone width into test-artifacts/), never one made
by hand: run the browser tests, then this. A very tall page (the 300-person chart) is cut to
its top; nothing else is changed. tests/unit/test_docs.py checks that docs/images/ holds
exactly these files and that the docs show each.

    .venv/bin/python -m pytest tests/browser && .venv/bin/python scripts/docs_screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
IMAGES = REPO / "docs" / "images"
#: Taller than this, a screenshot is cut to its top (a page of 300 faces is 5,000 px).
MAX_HEIGHT = 1000

#: docs/images/NAME: the test-artifacts/ screenshot it is, and the test that takes it.
SHOTS: dict[str, tuple[str, str]] = {
    "profile-light.png": ("profile-colleague-light.png", "tests/browser/test_profile_page.py"),
    "profile-dark.png": ("profile-colleague-dark.png", "tests/browser/test_profile_page.py"),
    "profile-phone.png": ("profile-partner-phone.png", "tests/browser/test_profile_page.py"),
    "directory-opening.png": (
        "directory-opening-light.png",
        "tests/browser/test_profile_page.py",
    ),
    "orgchart-light.png": ("orgchart-light.png", "tests/browser/test_orgchart.py"),
    "orgchart-dark.png": ("orgchart-dark.png", "tests/browser/test_orgchart.py"),
    "organisation-light.png": (
        "orgchart-organisation-light.png",
        "tests/browser/test_orgchart.py",
    ),
    "partnership-light.png": (
        "orgchart-partnership-light.png",
        "tests/browser/test_orgchart.py",
    ),
    "timeline-dark.png": ("timeline-widget-dark.png", "tests/browser/test_directory_widget.py"),
    "townhall-widget-light.png": (
        "townhall-widget-light.png",
        "tests/browser/test_townhall_widget.py",
    ),
}


def missing() -> list[str]:
    """The screenshots not taken yet, each with the test that takes it."""
    return [
        f"test-artifacts/{source} (run {test})"
        for source, test in SHOTS.values()
        if not (ARTIFACTS / source).is_file()
    ]


def copy_all() -> list[Path]:
    IMAGES.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (source, _test) in SHOTS.items():
        with Image.open(ARTIFACTS / source) as shot:
            if shot.height > MAX_HEIGHT:
                shot = shot.crop((0, 0, shot.width, MAX_HEIGHT))
            shot.save(IMAGES / name, optimize=True)
        written.append(IMAGES / name)
    return written


def main() -> int:
    absent = missing()
    if absent:
        print("Take these screenshots first:\n  " + "\n  ".join(absent), file=sys.stderr)
        return 1
    for path in copy_all():
        print(f"{path.relative_to(REPO)} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
