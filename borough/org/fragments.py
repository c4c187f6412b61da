"""Per-organisation fragments: files the main org chart includes, each kept by one partner.

The main file lists them (`include: [orgs/nhs.yaml]`). A fragment names its organisation and
holds that organisation's units, people and unit channels, and may add its own units and
people to partnerships the main file defines. It may name more admins of its organisation
only when the main file's entry says `fragment_may_add_admins: true`. It cannot touch
anything of another organisation; `check_fragments` reports every such reach, at its place
in the fragment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borough.org.checks import Finding, did_you_mean
from borough.org.index import OrgIndex
from borough.org.model import OrgChart
from borough.yamlsource import PathKey, Problem, SourceError, YamlSource, holds_any, read_yaml

INCLUDE = "include"
#: What a fragment may hold; everything else belongs to the main file.
FRAGMENT_SECTIONS = ("organisation", "admins", "units", "people", "channels", "partnerships")
#: The main file's opt-in, on an organisation's entry, to admins listed in its fragment.
ADMINS_OPT_IN = "fragment_may_add_admins"
#: What a fragment may say about a partnership: only which of its own join.
PARTNERSHIP_FIELDS = ("key", "units", "people")


@dataclass
class Fragment:
    """Where one fragment's entries landed in the merged chart."""

    organisation: str
    filename: str
    #: the fragment as read: its own data and positions, before merging
    source: YamlSource
    #: merged paths such as ("units", 7) or ("partnerships", 0, "people", 3)
    paths: list[PathKey] = field(default_factory=list)


def expand_includes(
    source: YamlSource, replacements: Mapping[str, YamlSource] | None = None
) -> tuple[YamlSource, list[Fragment], list[Problem]]:
    """The main file with its fragments merged in, and the problems of the fragments' shape.

    Positions of merged entries point into their fragment (`YamlSource.origins`), so later
    checks of the merged chart report them in the fragment. Entries a fragment may not hold
    are reported and left out; a fragment that cannot be read or names no known
    organisation is left out whole. `replacements` gives a fragment's content by its file
    name instead of the file's (to check an edit before writing it).
    """
    data = source.data
    if not isinstance(data, dict) or INCLUDE not in data:
        return source, [], []
    includes = data[INCLUDE]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise SourceError(
            source.filename, [source.problem((INCLUDE,), "give a list of fragment file paths")]
        )
    merged: dict[str, Any] = {k: _copy(v) for k, v in data.items() if k != INCLUDE}
    out = YamlSource(source.filename, merged, dict(source.positions))
    base = Path(source.filename).parent
    problems: list[Problem] = []
    fragments: list[Fragment] = []
    seen: dict[str, str] = {}
    org_keys = [o.get("key") for o in _listed(merged.get("organisations")) if isinstance(o, dict)]
    for i, name in enumerate(includes):
        named = str(base / name)
        part = (replacements or {}).get(named)
        if part is None:
            try:
                part = read_yaml(_inside(base, name), filename=named)
            except SourceError as exc:
                problems += _unreadable(source, i, exc)
                continue
            except _Outside as exc:
                problems.append(source.problem((INCLUDE, i), str(exc)))
                continue
        found = _fragment_shape(part, org_keys)
        problems += found
        if not isinstance(part.data, dict) or part.data.get("organisation") not in org_keys:
            continue
        org = part.data["organisation"]
        if org in seen:
            message = f"organisation '{org}' already has a fragment: {seen[org]}"
            problems.append(_in_file(part.problem(("organisation",), message), part.filename))
            continue
        seen[org] = part.filename
        fragment, unknown = _merge(out, part, org)
        fragments.append(fragment)
        problems += unknown
    return out, fragments, problems


class _Outside(Exception):
    """An include that names a file outside the main file's folder."""


def _inside(base: Path, name: str) -> Path:
    """The file `name` names, symlinks resolved, if it is inside `base`'s folder.

    The chart is reviewed as one folder, and errors quote the files they are in: an include
    that could reach `/etc/shadow` or `../../secrets.yaml` would read and print them.
    """
    try:
        folder = base.resolve()
        target = (base / name).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the name
        raise _Outside(f"cannot follow the fragment path {name!r}") from None
    if not target.is_relative_to(folder):
        raise _Outside(
            f"{name!r} leads outside the org chart's folder; a fragment must be a file in "
            "the main file's folder or below it"
        )
    return target


def _unreadable(source: YamlSource, i: int, exc: SourceError) -> list[Problem]:
    """Why include `i` cannot be read: at the include if the file as a whole is the problem
    (missing, a device, too big), else at the fragment's own lines."""
    if any(p.line is not None for p in exc.problems):
        return [_in_file(p, exc.filename) for p in exc.problems]
    message = exc.problems[0].message
    if message == "file not found":
        return [source.problem((INCLUDE, i), f"fragment file not found: {exc.filename}")]
    return [source.problem((INCLUDE, i), f"fragment {exc.filename}: {message}")]


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _in_file(problem: Problem, filename: str) -> Problem:
    return Problem(problem.path, problem.message, problem.line, problem.column, filename)


def _fragment_shape(part: YamlSource, org_keys: list[Any]) -> list[Problem]:
    data = part.data
    where = part.filename
    if not holds_any(data, FRAGMENT_SECTIONS):
        return [_in_file(part.problem((), "expected a mapping with 'organisation:'"), where)]
    problems = []
    for key in data:
        if key not in FRAGMENT_SECTIONS:
            problems.append(
                part.problem(
                    (key,),
                    f"a fragment cannot hold '{key}'{did_you_mean(key, FRAGMENT_SECTIONS)}; "
                    "it belongs in the main org file",
                )
            )
    org = data.get("organisation")
    if not isinstance(org, str):
        problems.append(part.problem(("organisation",), "name this fragment's organisation key"))
    elif org not in org_keys:
        hint = did_you_mean(org, [k for k in org_keys if isinstance(k, str)])
        problems.append(
            part.problem(
                ("organisation",),
                f"unknown organisation '{org}'{hint}; organisations are defined in the main file",
            )
        )
    for section in ("admins", "units", "people", "channels", "partnerships"):
        if section in data and not isinstance(data[section], list | None):
            problems.append(part.problem((section,), "expected a list"))
    for j, entry in enumerate(_listed(data.get("partnerships"))):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            problems.append(part.problem(("partnerships", j), "give the partnership's 'key'"))
            continue
        for name in entry:
            if name not in PARTNERSHIP_FIELDS:
                problems.append(
                    part.problem(
                        ("partnerships", j, name),
                        f"a fragment may only add its own 'units' and 'people' to a "
                        f"partnership, not '{name}'",
                    )
                )
    return [_in_file(p, where) for p in problems]


def _merge(out: YamlSource, part: YamlSource, org: str) -> tuple[Fragment, list[Problem]]:
    fragment = Fragment(org, part.filename, part)
    problems: list[Problem] = []
    merged = out.data
    for section in ("units", "people", "channels"):
        entries = _listed(part.data.get(section))
        if merged.get(section) is None:
            merged[section] = []
        target = merged[section]
        if not isinstance(target, list):
            continue  # the main file's own shape problem, which validation reports
        for j, entry in enumerate(entries):
            if isinstance(entry, dict) and section in ("units", "people"):
                # The fragment's organisation is implied: units without a parent, and people.
                if "organisation" not in entry and (section == "people" or "parent" not in entry):
                    entry = {**entry, "organisation": org}
            path: PathKey = (section, len(target))
            target.append(entry)
            out.origins[path] = (part, (section, j))
            fragment.paths.append(path)
    problems += _merge_admins(out, part, org, fragment)
    partnerships = _listed(merged.get("partnerships"))
    by_key = {p.get("key"): i for i, p in enumerate(partnerships) if isinstance(p, dict)}
    for j, entry in enumerate(_listed(part.data.get("partnerships"))):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue  # reported by _fragment_shape
        i = by_key.get(entry["key"])
        if i is None:
            known = [k for k in by_key if isinstance(k, str)]
            message = (
                f"unknown partnership '{entry['key']}'{did_you_mean(entry['key'], known)}; "
                "a fragment can only join partnerships that the main file defines"
            )
            problems.append(part.problem(("partnerships", j, "key"), message))
            continue
        for member in ("units", "people"):
            if partnerships[i].get(member) is None:
                partnerships[i][member] = []
            target = partnerships[i][member]
            if not isinstance(target, list):
                continue
            for k, item in enumerate(_listed(entry.get(member))):
                path = ("partnerships", i, member, len(target))
                target.append(item)
                out.origins[path] = (part, ("partnerships", j, member, k))
                fragment.paths.append(path)
    return fragment, [_in_file(p, part.filename) for p in problems]


def _merge_admins(out: YamlSource, part: YamlSource, org: str, fragment: Fragment) -> list[Problem]:
    """The fragment's `admins:` joined to its organisation's, if the main file lets it.

    Someone the main file already lists stays listed once: the main file's word stands, so
    leaving the fragment's list never takes away the admin role the main file gives.
    """
    names = _listed(part.data.get("admins"))
    found = [
        (i, o)
        for i, o in enumerate(_listed(out.data.get("organisations")))
        if isinstance(o, dict) and o.get("key") == org
    ]
    if not names or not found:
        return []
    i, entry = found[0]
    if entry.get(ADMINS_OPT_IN) is not True:
        return [
            part.problem(
                ("admins",),
                f"the main file does not let this fragment name admins of '{org}': list them "
                f"under the organisation's 'admins:' in the main file, or set "
                f"'{ADMINS_OPT_IN}: true' on its entry there",
            )
        ]
    if entry.get("admins") is None:
        entry["admins"] = []
    target = entry["admins"]
    if not isinstance(target, list):
        return []  # the main file's own shape problem, which validation reports
    for k, name in enumerate(names):
        if name in target:
            continue
        path: PathKey = ("organisations", i, "admins", len(target))
        target.append(name)
        out.origins[path] = (part, ("admins", k))
        fragment.paths.append(path)
    return []


def check_fragments(chart: OrgChart, fragments: list[Fragment]) -> list[Finding]:
    """Every entry a fragment adds must belong to the fragment's own organisation."""
    index = OrgIndex(chart)
    return [f for fragment in fragments for f in _check(index, chart, fragment)]


def _check(index: OrgIndex, chart: OrgChart, fragment: Fragment) -> Iterator[Finding]:
    org = fragment.organisation
    for path in fragment.paths:
        section = path[0]
        if section == "units":
            unit = chart.units[int(path[1])]
            owner = index.organisation_of(unit)
            if owner is not None and owner.key != org:
                yield (path, _outside(org, f"unit '{unit.key}' belongs to '{owner.key}'"))
        elif section == "people":
            person = chart.people[int(path[1])]
            if person.organisation != org:
                yield (
                    (*path, "organisation"),
                    _outside(org, f"'{person.username}' is a person of '{person.organisation}'"),
                )
        elif section == "channels":
            channel = chart.channels[int(path[1])]
            if channel.owner.partnership is not None:
                yield (
                    (*path, "owner"),
                    f"a fragment cannot create channels in partnership "
                    f"'{channel.owner.partnership}'; ask the main file's maintainers",
                )
            elif (owning_unit := index.units.get(channel.owner.unit or "")) is not None:
                owner = index.organisation_of(owning_unit)
                if owner is not None and owner.key != org:
                    yield (
                        (*path, "owner"),
                        _outside(org, f"unit '{owning_unit.key}' belongs to '{owner.key}'"),
                    )
        elif section == "partnerships":
            partnership = chart.partnerships[int(path[1])]
            ref = getattr(partnership, str(path[2]))[int(path[3])]
            if path[2] == "units":
                member_unit = index.units.get(ref)
                owner = index.organisation_of(member_unit) if member_unit else None
                if owner is not None and owner.key != org:
                    yield (path, _outside(org, f"unit '{ref}' belongs to '{owner.key}'"))
            else:
                member = index.people.get(ref)
                if member is not None and member.organisation != org:
                    yield (
                        path,
                        _outside(org, f"'{ref}' is a person of '{member.organisation}'"),
                    )


def _outside(org: str, what: str) -> str:
    return f"outside this fragment's organisation '{org}': {what}"
