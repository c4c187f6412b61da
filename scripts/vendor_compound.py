"""`make vendor`: copy Element's Compound design tokens into the widget server's static folder.

The tokens come from the npm registry (`@vector-im/compound-design-tokens`, pinned by
widgets/frontend/package-lock.json). Their CSS, licence and readme (which holds the copyright
and licence notice) are copied verbatim into widgets/static/vendor/compound/, and that copy is
committed: serving the pages needs neither npm nor a CDN, and `make run` works with Python
alone. tests/unit/test_vendored_compound.py fails when the copy and the locked package differ,
so upgrading is: change the version in widgets/frontend/package.json, `npm install
--prefix widgets/frontend`, `make vendor`, commit.

    python scripts/vendor_compound.py          # npm ci, then copy
    python scripts/vendor_compound.py --check  # say what differs, exit 1 if anything does
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRONTEND = REPO / "widgets" / "frontend"
PACKAGE_NAME = "@vector-im/compound-design-tokens"
PACKAGE = FRONTEND / "node_modules" / PACKAGE_NAME
VENDORED = REPO / "widgets" / "static" / "vendor" / "compound"
#: The package's files that Borough serves or must keep beside them.
NOTICES = ("LICENSE", "README.md")


def locked_version() -> str:
    lock = json.loads((FRONTEND / "package-lock.json").read_text(encoding="utf-8"))
    return str(lock["packages"][f"node_modules/{PACKAGE_NAME}"]["version"])


def installed_version() -> str | None:
    manifest = PACKAGE / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def package_files() -> dict[str, Path]:
    """Vendored name -> the installed package's file: every token stylesheet, and notices."""
    css = sorted((PACKAGE / "assets" / "web" / "css").glob("*.css"))
    return {path.name: path for path in css} | {name: PACKAGE / name for name in NOTICES}


def differences() -> list[str]:
    """What differs between the vendored copy and the locked package (empty when none)."""
    found = []
    installed, locked = installed_version(), locked_version()
    if installed != locked:
        return [
            f"{PACKAGE_NAME} {installed or 'is not installed'} in widgets/frontend/node_modules, "
            f"{locked} locked: run `npm ci --prefix widgets/frontend`"
        ]
    wanted = package_files()
    present = {path.name for path in VENDORED.iterdir()} if VENDORED.exists() else set()
    found += [
        f"{name}: in the vendored copy, not in {locked}" for name in sorted(present - set(wanted))
    ]
    for name, source in wanted.items():
        copy = VENDORED / name
        if not copy.exists():
            found.append(f"{name}: missing from the vendored copy")
        elif copy.read_bytes() != source.read_bytes():
            found.append(f"{name}: differs from {PACKAGE_NAME} {locked}")
    return found


def vendor() -> list[str]:
    """Replace the vendored copy with the installed package's files; returns their names."""
    if VENDORED.exists():
        shutil.rmtree(VENDORED)
    VENDORED.mkdir(parents=True)
    wanted = package_files()
    for name, source in wanted.items():
        shutil.copyfile(source, VENDORED / name)
    return sorted(wanted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, change nothing")
    args = parser.parse_args()
    if args.check:
        found = differences()
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    npm = shutil.which("npm")
    if npm is None:
        print("npm is not installed (apt-get install npm)", file=sys.stderr)
        return 1
    subprocess.run(
        [npm, "ci", "--prefix", str(FRONTEND), "--ignore-scripts", "--no-audit", "--no-fund"],
        check=True,
    )
    names = vendor()
    print(f"{PACKAGE_NAME} {locked_version()}: {len(names)} files in {VENDORED.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
