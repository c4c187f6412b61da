"""Element's Compound design tokens, vendored in widgets/static/vendor/compound/: the copy is
the locked npm package's, byte for byte (scripts/vendor_compound.py), and Borough's stylesheet
uses only tokens it defines and no colour of its own."""

from __future__ import annotations

import re

from scripts.vendor_compound import VENDORED, differences, locked_version
from widgets.pages import HERE

BOROUGH_CSS = HERE / "static" / "borough.css"


def test_the_vendored_tokens_are_the_locked_packages() -> None:
    assert locked_version() == "11.0.0"
    found = differences()
    assert found == [], (
        "widgets/static/vendor/compound/ is not @vector-im/compound-design-tokens "
        f"{locked_version()}: run `make vendor` and commit.\n  " + "\n  ".join(found)
    )


def test_the_licence_and_notice_are_kept_beside_the_copy() -> None:
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in (VENDORED / "LICENSE").read_text()
    assert "Copyright" in (VENDORED / "README.md").read_text()


def test_every_stylesheet_the_entry_point_imports_is_vendored() -> None:
    entry = (VENDORED / "compound-design-tokens.css").read_text()
    imported = re.findall(r'@import url\("\./([^"]+)"\)', entry)
    assert len(imported) == 19, imported
    assert [name for name in imported if not (VENDORED / name).exists()] == []


def test_boroughs_stylesheets_name_only_tokens_compound_defines() -> None:
    defined = set()
    for sheet in VENDORED.glob("*.css"):
        defined |= set(re.findall(r"(--cpd-[a-z0-9-]+)\s*:", sheet.read_text()))
    sheets = sorted((HERE / "static").glob("*.css"))
    assert BOROUGH_CSS in sheets
    for sheet in sheets:
        used = set(re.findall(r"var\((--cpd-[a-z0-9-]+)", sheet.read_text()))
        assert sorted(used - defined) == [], f"{sheet.name} names tokens Compound does not define"


def test_boroughs_stylesheet_has_no_colours_of_its_own() -> None:
    css = BOROUGH_CSS.read_text()
    assert len(set(re.findall(r"var\((--cpd-[a-z0-9-]+)", css))) > 20
    without_comments = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    colours = re.findall(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgb|rgba|hsl|hsla)\(", without_comments)
    assert colours == [], "a colour not from Compound's tokens"
