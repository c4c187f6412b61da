"""Benchmark: `borough validate` on large charts, against a linear floor.

Generates, for each --sizes N, three charts and times loading each (YAML, shape, and every
cross-reference check):

- units: N units whose parents form one cycle (every unit is reported);
- managers: N people whose managers form one cycle;
- valid: N people in N/20 units under one directorate, each with a manager, all valid.

The floor is the same file read by the line-aware YAML loader alone: what any validation
must spend. A linear validator keeps `ratio` (validate / floor) flat as N grows; a
quadratic one shows it growing with N. Prints CPU seconds (process time: the machines are
shared), median of --rounds.

    .venv/bin/python bench/validate.py --sizes 1500 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borough.org import OrgChartError, load_org_chart
from borough.yamlsource import read_yaml

HEAD = "organisations:\n  - {key: council, name: Council, kind: council}\n"


def unit_cycle(n: int) -> str:
    lines = [HEAD, "units:\n"]
    lines += [
        f"  - {{key: u{i}, name: Unit {i}, organisation: council, parent: u{(i + 1) % n}}}\n"
        for i in range(n)
    ]
    return "".join(lines)


def manager_cycle(n: int) -> str:
    lines = [HEAD, "people:\n"]
    lines += [
        f"  - {{username: p{i}, display_name: Person {i}, organisation: council, "
        f"manager: p{(i + 1) % n}}}\n"
        for i in range(n)
    ]
    return "".join(lines)


def valid_people(n: int) -> str:
    teams = max(1, n // 20)
    lines = [HEAD, "units:\n  - {key: dir, name: Directorate, organisation: council}\n"]
    lines += [f"  - {{key: t{t}, name: Team {t}, parent: dir}}\n" for t in range(teams)]
    lines.append("people:\n")
    lines.append("  - {username: p0, display_name: Person 0, organisation: council}\n")
    lines += [
        f"  - {{username: p{i}, display_name: Person {i}, organisation: council, "
        f"units: [t{i % teams}], manager: p{(i - 1) // 2}}}\n"
        for i in range(1, n)
    ]
    return "".join(lines)


CHARTS: dict[str, Callable[[int], str]] = {
    "units": unit_cycle,
    "managers": manager_cycle,
    "valid": valid_people,
}


def _validate(path: Path) -> None:
    try:
        load_org_chart(path)
    except OrgChartError:
        pass


def _cpu(call: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1500, 5000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--charts", nargs="+", choices=sorted(CHARTS), default=list(CHARTS))
    args = parser.parse_args()
    charts = {name: CHARTS[name] for name in args.charts}
    print(f"{'chart':<10}{'N':>7}{'validate s':>12}{'floor s':>10}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            for name, generate in charts.items():
                path = Path(folder) / f"{name}-{n}.yaml"
                path.write_text(generate(n), encoding="utf-8")
                floor = _cpu(partial(read_yaml, path), args.rounds)
                spent = _cpu(partial(_validate, path), args.rounds)
                print(f"{name:<10}{n:>7}{spent:>12.2f}{floor:>10.2f}{spent / floor:>8.1f}")


if __name__ == "__main__":
    main()
