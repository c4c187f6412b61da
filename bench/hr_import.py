"""Benchmark: `borough import people` on a large HR export, against a bare floor.

Generates an HR CSV of --rows people (about 1 in 200 rows bad on purpose) for an
organisation with --units units, then times, in one run:

- borough: the chart read, mapping, CSV read, row checks, the joiners/movers/leavers
  preview, the whole chart validated with the new fragment, and the fragment written (what
  the CLI does before it says "Wrote");
- second: the same file imported again into the fragment it just wrote (all unchanged);
- floor: csv.DictReader over the same file and one libyaml dump of the rows as YAML, the
  least any CSV-to-YAML import must do.

Prints CPU seconds (process time: the machines are shared and wall time drifts with the
neighbours' load), rows per second and the ratio to the floor, median of --rounds.

    .venv/bin/python bench/hr_import.py --rows 20000 --units 50 --rounds 3
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borough.org.loader import load_org_chart_with_fragments
from borough.people_import import (
    existing_people,
    fragment_text,
    load_mapping,
    preview_import,
    read_hr_rows,
    settle,
)

HEADER = ["Login", "Name", "Email", "Team", "Grade", "Title", "Manager"]
MAPPING = """\
columns:
  username: Login
  display_name: Name
  email: Email
  units: Team
  role: Grade
  job_title: Title
  manager: Manager
roles: {"Band 8a": manager, "Band 6": staff, "Band 5": staff}
"""


def generate(folder: Path, rows: int, units: int) -> tuple[Path, Path, Path]:
    rng = random.Random(7)
    (folder / "orgs").mkdir(parents=True, exist_ok=True)
    main = folder / "main.yaml"
    main.write_text(
        "include: [orgs/bhealth.yaml]\n"
        "organisations:\n"
        "  - {key: bcouncil, name: Bench Council, kind: council}\n"
        "  - {key: bhealth, name: Bench Health, kind: health}\n"
    )
    fragment = folder / "orgs" / "bhealth.yaml"
    unit_lines = "".join(f"  - {{key: ward{u}, name: Ward {u}}}\n" for u in range(units))
    fragment.write_text(
        f"# Bench Health's people, from HR\norganisation: bhealth\nunits:\n{unit_lines}people: []\n"
    )
    hr = folder / "hr.csv"
    with hr.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            manager = f"staff{rng.randrange(0, n)}" if n >= 10 else ""
            grade = "Band 8a" if n < 10 else rng.choice(["Band 5", "Band 6"])
            team = f"Ward {rng.randrange(units)}" if n % 200 != 199 else "No Such Ward"
            writer.writerow(
                [
                    f"staff{n}",
                    f"Person {n}",
                    f"staff{n}@health.example.org",
                    team,
                    grade,
                    "Nurse",
                    manager,
                ]
            )
    mapping = folder / "mapping.yaml"
    mapping.write_text(MAPPING)
    return main, hr, mapping


def borough_import(main: Path, hr: Path, mapping_file: Path) -> tuple[float, str]:
    start = time.process_time()
    chart, fragments = load_org_chart_with_fragments(main)
    mapping = load_mapping(mapping_file)
    path = Path(fragments[0].filename)
    text = path.read_text(encoding="utf-8")
    preview = preview_import(
        read_hr_rows(hr, mapping), mapping, chart, "bhealth", existing_people(fragments[0].source)
    )
    if preview.has_changes:
        settle(preview, main, fragments[0].source)
        path.write_text(fragment_text(text, fragments[0].source, preview), encoding="utf-8")
    elapsed = time.process_time() - start
    return elapsed, preview.summary()


def floor(hr: Path, out: Path) -> float:
    start = time.process_time()
    with hr.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    out.write_text(yaml.dump({"people": rows}, Dumper=dumper, sort_keys=False))
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    firsts, seconds, floors = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            folder = Path(tmp) / f"round{round_}"
            main_file, hr, mapping = generate(folder, args.rows, args.units)
            first, summary = borough_import(main_file, hr, mapping)
            second, again = borough_import(main_file, hr, mapping)
            firsts.append(first)
            seconds.append(second)
            floors.append(floor(hr, folder / "floor.yaml"))
    first, second, bare = (statistics.median(x) for x in (firsts, seconds, floors))
    print(f"rows: {args.rows} ({args.units} units), CPU seconds, median of {args.rounds} rounds")
    print(f"first import:  {summary}")
    print(f"second import: {again}")
    print(f"borough first import   {first:7.2f} s  {args.rows / first:9.0f} rows/s")
    print(f"borough second import  {second:7.2f} s  {args.rows / second:9.0f} rows/s")
    print(f"floor (DictReader+dump){bare:7.2f} s  {args.rows / bare:9.0f} rows/s")
    print(f"ratio borough/floor: first {first / bare:.1f}x, second {second / bare:.1f}x")


if __name__ == "__main__":
    main()
