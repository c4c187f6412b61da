"""People import: an HR export or an identity provider becomes an organisation's people, in
its fragment. The one implementation behind `borough import people` and SCIM (widgets/scim.py).

`load_mapping` reads which HR column fills which person field. `read_hr_rows` reads the CSV,
`preview_import` compares it with the fragment's people (joiners, movers, leavers, and the
rows that cannot be used, with their row numbers and reasons), and `write_fragment` writes
the result into the fragment's text, keeping its comments, the other sections and the text
of every person who did not change. An `admin` column (an identity provider's admin groups)
also keeps the fragment's `admins:`, where the main file lets the fragment name them. The
usual `plan` and `apply` then carry it out.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from borough.org import OrgChart, OrgChartError, OrgIndex, Person
from borough.org.checks import Hints, did_you_mean
from borough.org.fragments import Fragment
from borough.org.loader import load_org_chart_with_fragments
from borough.org.model import Role
from borough.yamlsource import (
    PathKey,
    Problem,
    SourceError,
    YamlSource,
    holds_any,
    parse_yaml,
    read_yaml,
)

#: Person fields an HR column can fill. Profile fields land under `profile:`.
PERSON_FIELDS = ("username", "display_name", "email", "units", "role", "job_title", "manager")
PROFILE_FIELDS = ("bio", "skills", "location", "pronouns", "phone")
#: Not a person field: whether the person is one of the organisation's admins (yes or no).
ADMIN = "admin"
MAPPABLE = PERSON_FIELDS + PROFILE_FIELDS + (ADMIN,)
ADMIN_WORDS = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False}
ADMIN_WORDS |= {"false": False, "0": False}
#: What a person entry means when it leaves a field out, so that is no change.
PERSON_DEFAULTS: dict[str, Any] = {"role": "staff", "units": []}
ROLES: tuple[str, ...] = get_args(Role)
#: A field bigger than this is not an HR export (csv's own default limit is 128 KiB).
MAX_FIELD = 10_000


class HrImportError(Exception):
    """The whole file cannot be used (not CSV, missing columns); one paragraph says why."""


class HrMapping(BaseModel):
    """Which HR column fills which person field, and how HR's values translate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, str] = Field(description="person field: HR column header")
    roles: dict[str, Role] = Field(
        default_factory=dict, description="HR value of the role column: Borough role"
    )
    default_role: Role = "staff"
    separator: str = Field(default=";", min_length=1, description="between units, and skills")
    leavers: Literal["remove", "keep"] = Field(
        default="remove", description="people of the fragment missing from the HR file"
    )


def load_mapping(path: Path | str) -> HrMapping:
    """The mapping file, validated; `SourceError` lists every problem at its file:line:col."""
    return load_field_mapping(
        path, HrMapping, "columns", MAPPABLE, source="HR column", one="a column", value="header"
    )


MappingT = TypeVar("MappingT", bound=BaseModel)


def load_field_mapping(
    path: Path | str,
    model: type[MappingT],
    section: str,
    fields: tuple[str, ...],
    *,
    source: str,
    one: str,
    value: str,
    note: str = "",
) -> MappingT:
    """A mapping file whose `section:` says which `source` (an HR column, a SCIM attribute)
    fills which of `fields`, validated as `model`; username and display_name are required.
    `SourceError` lists every problem at its file:line:col."""
    from borough.org.loader import pydantic_problems

    yaml_source = read_yaml(path)
    if not holds_any(yaml_source.data, (section,)):
        message = f"expected a mapping with '{section}:' (which {source} fills which person field)"
        raise SourceError(yaml_source.filename, [yaml_source.problem((), message)])
    problems = []
    mapped = yaml_source.data.get(section)
    if isinstance(mapped, dict):
        for name, where in mapped.items():
            if name not in fields:
                problems.append(
                    yaml_source.problem(
                        (section, name),
                        f"unknown person field '{name}'{did_you_mean(name, fields)} "
                        f"(fields: {', '.join(fields)}{note})",
                    )
                )
            elif not isinstance(where, str) or not where.strip():
                problems.append(
                    yaml_source.problem((section, name), f"give the {source}'s {value}")
                )
        for required in ("username", "display_name"):
            if required not in mapped:
                problems.append(
                    yaml_source.problem((section,), f"map {one} to '{required}'; it is required")
                )
    try:
        mapping = model.model_validate(yaml_source.data)
    except ValidationError as exc:
        problems += pydantic_problems(exc, yaml_source, model)
        mapping = None
    if problems or mapping is None:
        raise SourceError(yaml_source.filename, problems)
    return mapping


# --- reading the CSV ---------------------------------------------------------------------


@dataclass(frozen=True)
class HrRow:
    number: int  # as a spreadsheet shows it: the header is row 1
    values: dict[str, str]  # person field -> the cell's text, stripped; empty cells left out
    problem: str | None = None


def read_hr_rows(path: Path | str, mapping: HrMapping) -> Iterator[HrRow]:
    """The mapped cells of each data row. Raise `HrImportError` if it is not usable CSV.

    A row with a cell too big for an HR export is a bad row, like any other, and the rows
    after it are still read.
    """
    name = str(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise HrImportError(f"{name}: file not found") from None
    except OSError as exc:
        raise HrImportError(f"{name}: cannot read the file ({exc.strerror})") from None
    with handle:
        lines = _RecordLines(handle)
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise HrImportError(f"{name}: the file is empty; expected a header row")
            header = [h.strip() for h in header]
            wanted = _columns(name, header, mapping)
            while True:
                lines.record.clear()
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    if not str(exc).startswith("field larger than field limit"):
                        raise
                    # csv's own limit (128 KiB): it names neither row nor column, so the
                    # record's text names them, and reading goes on after its last line.
                    column, still_quoted = _oversized_cell("".join(lines.record))
                    yield HrRow(lines.number, {}, _too_long(header, column))
                    if still_quoted:
                        lines.skip_quoted_cell()
                    continue
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    yield HrRow(
                        lines.number,
                        {},
                        f"has {len(row)} cells where the header has {len(header)}",
                    )
                    continue
                oversized = next((i for i, cell in enumerate(row) if len(cell) > MAX_FIELD), None)
                if oversized is not None:
                    yield HrRow(lines.number, {}, _too_long(header, oversized))
                    continue
                control = next(
                    ((i, found) for i, cell in enumerate(row) if (found := _CONTROL.search(cell))),
                    None,
                )
                if control is not None:
                    column, found = control
                    reason = f"a cell holds a control character (U+{ord(found.group()):04X})"
                    yield HrRow(lines.number, {}, f"{_column(header, column)}: {reason}")
                    continue
                yield HrRow(
                    lines.number,
                    {f: cell for f, i in wanted.items() if (cell := row[i].strip())},
                )
        except UnicodeDecodeError as exc:
            raise HrImportError(
                f"{name}: not UTF-8 text (byte {exc.start} cannot be read); export it from the "
                "spreadsheet as 'CSV UTF-8'"
            ) from None
        except csv.Error as exc:
            raise HrImportError(
                f"{name}: not valid CSV at line {lines.number} ({exc}); check for an unclosed quote"
            ) from None


class _RecordLines:
    """The file's lines as csv reads them, with the lines of the record being read, and the
    number of the last line read (a row number as a spreadsheet shows it)."""

    def __init__(self, handle: Iterator[str]) -> None:
        self.handle = handle
        self.record: list[str] = []
        self.number = 0

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        line = next(self.handle)
        self.number += 1
        self.record.append(line)
        return line

    def skip_quoted_cell(self) -> None:
        """Pass the rest of a quoted cell that csv gave up on, to the line that closes it."""
        for line in self.handle:
            self.number += 1
            if line.count('"') % 2:
                return


_CELL_EDGE = re.compile(r'[",]')


def _oversized_cell(record: str) -> tuple[int, bool]:
    """The column of the first cell of `record` longer than csv's limit, and whether the
    record ends inside a quoted cell. Jumps from quote to comma, so a huge cell is cheap."""
    limit = csv.field_size_limit()
    column, start, quoted = 0, 0, False
    for edge in _CELL_EDGE.finditer(record):
        if edge.group() == '"':
            quoted = not quoted
        elif not quoted:
            if edge.start() - start > limit:
                return column, False
            column, start = column + 1, edge.end()
    return column, quoted


def _column(header: list[str], column: int) -> str:
    return f"column '{header[column]}'" if column < len(header) else f"column {column + 1}"


def _too_long(header: list[str], column: int) -> str:
    return f"{_column(header, column)}: a cell is longer than {MAX_FIELD:,} characters"


#: Control characters other than tab and line breaks: no name or field holds one, and
#: PostgreSQL refuses a NUL in text, so such a cell makes a bad row, not a failed apply.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _columns(name: str, header: list[str], mapping: HrMapping) -> dict[str, int]:
    missing = [(f, c) for f, c in mapping.columns.items() if c not in header]
    if missing:
        wanted = "; ".join(
            f"'{column}' (for {field}){did_you_mean(column, header)}" for field, column in missing
        )
        raise HrImportError(
            f"{name}: the header has no column {wanted}. Its columns are: {', '.join(header)}"
        )
    return {field: header.index(column) for field, column in mapping.columns.items()}


# --- comparing with the fragment ---------------------------------------------------------


@dataclass(frozen=True)
class BadRow:
    row: int
    username: str | None
    reason: str


@dataclass(frozen=True)
class Mover:
    username: str
    display_name: str
    changes: tuple[str, ...]


@dataclass
class ImportPreview:
    organisation: str
    joiners: list[dict[str, Any]] = field(default_factory=list)
    movers: list[Mover] = field(default_factory=list)
    leavers: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    #: The fragment's people after the import, in order; usernames in `kept` keep their text.
    people: list[dict[str, Any]] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)
    #: The HR row of each joiner and mover, and each mover's entry before the import.
    rows: dict[str, int] = field(default_factory=dict)
    originals: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The fragment's `admins:` before the import; whether the main file lets the fragment
    #: name admins; and what the admin column says of each imported person.
    admins_before: list[str] = field(default_factory=list)
    may_add_admins: bool = False
    is_admin: dict[str, bool] = field(default_factory=dict)

    @property
    def admins(self) -> list[str]:
        """The fragment's `admins:` after the import. Only the admin column adds or removes a
        name, and a leaver leaves it; without the main file's leave it stays as it was."""
        if not self.may_add_admins:
            return self.admins_before
        gone = {p.get("username") for p in self.leavers}
        kept = [a for a in self.admins_before if a not in gone and self.is_admin.get(a, True)]
        joining = {p.get("username") for p in self.people} - set(kept)
        return kept + [n for n, yes in self.is_admin.items() if yes and n in joining]

    @property
    def admins_held(self) -> list[str]:
        """People the admin column names that the fragment may not list: the main file keeps
        the organisation's admins (no `fragment_may_add_admins`)."""
        return [] if self.may_add_admins else [n for n, yes in self.is_admin.items() if yes]

    @property
    def has_changes(self) -> bool:
        return bool(self.joiners or self.movers or self.leavers or self.admins_changed)

    @property
    def admins_changed(self) -> bool:
        return self.admins != self.admins_before

    def summary(self) -> str:
        text = (
            f"{len(self.joiners)} joiners, {len(self.movers)} movers, {len(self.leavers)} "
            f"leavers, {self.unchanged} unchanged, {len(self.bad_rows)} bad rows"
        )
        if self.admins_changed:
            after, before = set(self.admins), set(self.admins_before)
            text += f"; admins {len(after - before)} added, {len(before - after)} removed"
        return text


class _OrgUnits:
    def __init__(self, chart: OrgChart, organisation: str) -> None:
        index = OrgIndex(chart)
        self.hints = Hints()  # thousands of rows may name unknown units
        self.organisation = organisation
        self.mine: dict[str, str] = {}
        self.others: dict[str, str] = {}
        self.names: list[str] = []
        for unit in chart.units:
            owner = index.organisation_of(unit)
            table = self.mine if owner is not None and owner.key == organisation else self.others
            if table is self.mine:
                self.names += [unit.key, unit.name]
            for spelling in (unit.key, unit.name.casefold()):
                table.setdefault(spelling, unit.key)
                table.setdefault(spelling.casefold(), unit.key)
            if owner is not None:
                self.others.setdefault(f"owner:{unit.key}", owner.key)

    def resolve(self, ref: str) -> str:
        key = self.mine.get(ref) or self.mine.get(ref.casefold())
        if key is not None:
            return key
        other = self.others.get(ref) or self.others.get(ref.casefold())
        if other is not None:
            owner = self.others.get(f"owner:{other}")
            raise ValueError(f"unit '{ref}' belongs to '{owner}', not '{self.organisation}'")
        raise ValueError(f"unknown unit '{ref}'{self.hints.did_you_mean(ref, self.names)}")


def preview_import(
    rows: Iterator[HrRow] | list[HrRow],
    mapping: HrMapping,
    chart: OrgChart,
    organisation: str,
    existing: list[dict[str, Any]],
    departing: Collection[str] = (),
    admins: list[str] | None = None,
) -> ImportPreview:
    """Joiners, movers and leavers of `organisation`, from HR rows and the fragment's people.

    `departing` names people who leave whatever the mapping's `leavers:` says (an identity
    provider's leaver: `active: false` or a deletion). `admins` is the fragment's `admins:`."""
    org = next((o for o in chart.organisations if o.key == organisation), None)
    preview = ImportPreview(
        organisation,
        admins_before=list(admins or []),
        may_add_admins=org is not None and org.fragment_may_add_admins,
    )
    is_admin: dict[str, bool] = {}
    units = _OrgUnits(chart, organisation)
    elsewhere = {p.username: p.organisation for p in chart.people if p.organisation != organisation}
    first_seen: dict[str, int] = {}
    good: dict[str, tuple[int, dict[str, Any]]] = {}
    before = {str(p.get("username")): p for p in existing if isinstance(p, dict)}
    # The organisation's people the main file lists are the main file's to change.
    in_main = {p.username for p in chart.people if p.organisation == organisation} - set(before)
    for row in rows:
        username = row.values.get("username", "").lower() or None
        if row.problem is not None:
            preview.bad_rows.append(BadRow(row.number, username, row.problem))
            continue
        try:
            person = _person(row.values, mapping, units)
            if ADMIN in mapping.columns:
                is_admin[person["username"]] = _admin_word(row.values.get(ADMIN, "no"))
            # A row that changes nothing was validated with the chart already.
            entry = before.get(person["username"])
            if entry is None or _merge(entry, person, units)[1]:
                _validate(person, organisation)
        except ValueError as exc:
            preview.bad_rows.append(BadRow(row.number, username, str(exc)))
            continue
        name = person["username"]
        if name in first_seen:
            reason = f"'{name}' is already on row {first_seen[name]}"
            preview.bad_rows.append(BadRow(row.number, name, reason))
            continue
        first_seen[name] = row.number
        if name in elsewhere:
            reason = f"'{name}' is a person of '{elsewhere[name]}' in the org chart"
            preview.bad_rows.append(BadRow(row.number, name, reason))
            continue
        if name in in_main:
            reason = f"'{name}' is listed in the main org file, not in this fragment"
            preview.bad_rows.append(BadRow(row.number, name, reason))
            continue
        good[name] = (row.number, person)
    # People of the fragment stay as they are when their row is bad: a typo in HR's export
    # must not make someone a leaver. With `leavers: keep`, everyone missing stays too.
    named = set(good) | {b.username for b in preview.bad_rows if b.username}
    staying = set(before) if mapping.leavers == "keep" else set(before) & named
    staying -= set(departing)
    _drop_unknown_managers(preview, good, set(elsewhere) | in_main | staying)
    kept_leavers = staying - set(good)
    preview.is_admin = {name: is_admin[name] for name in good if name in is_admin}
    preview.bad_rows.sort(key=lambda b: b.row)

    for name, entry in before.items():
        if name not in good and name not in kept_leavers:
            preview.leavers.append(entry)
    for name, entry in before.items():
        if name in good:
            merged, changes = _merge(entry, good[name][1], units)
            if changes:
                preview.movers.append(Mover(name, str(merged.get("display_name")), changes))
                preview.rows[name] = good[name][0]
                preview.originals[name] = entry
            else:
                preview.kept.add(name)
                preview.unchanged += 1
            preview.people.append(merged if changes else entry)
        elif name in kept_leavers:
            preview.kept.add(name)
            preview.people.append(entry)
    for name, (number, person) in good.items():
        if name not in before:
            preview.joiners.append(person)
            preview.people.append(person)
            preview.rows[name] = number
    return preview


def settle(
    preview: ImportPreview, org_file: Path | str, fragment: YamlSource, rounds: int = 5
) -> tuple[OrgChart, list[Fragment]]:
    """Check the whole chart with the imported fragment, before anything is written, and
    return the chart and fragments as they will be.

    A joiner or mover that the chart refuses (a manager cycle, say) becomes a bad row: the
    joiner is left out, the mover keeps their old entry; then the chart is checked again.
    Raise `OrgChartError` when a problem is not one row's (the file stays as it was).
    """
    for _ in range(rounds):
        try:
            return load_org_chart_with_fragments(
                org_file, {fragment.filename: imported_fragment(fragment, preview)}
            )
        except OrgChartError as exc:
            culprits: dict[str, str] = {}
            for problem in exc.problems:
                name = _imported_person(preview, fragment, problem)
                if name is None:
                    raise
                culprits.setdefault(name, problem.message)
            _undo(preview, culprits)
    return load_org_chart_with_fragments(
        org_file, {fragment.filename: imported_fragment(fragment, preview)}
    )


def _imported_person(preview: ImportPreview, fragment: YamlSource, problem: Problem) -> str | None:
    path = problem.path
    if problem.filename != fragment.filename or len(path) < 2 or path[0] != "people":
        return None
    index = path[1]
    if not isinstance(index, int) or index >= len(preview.people):
        return None
    name = str(preview.people[index].get("username"))
    return name if name in preview.rows else None


def _undo(preview: ImportPreview, culprits: dict[str, str]) -> None:
    """Each culprit (username: reason) becomes a bad row: a joiner is left out, a mover keeps
    their entry as it was. All at once, in one pass over the people: a manager cycle of
    thousands makes thousands of culprits."""
    for name, reason in culprits.items():
        preview.bad_rows.append(BadRow(preview.rows.pop(name), name, reason))
    preview.bad_rows.sort(key=lambda b: b.row)
    restored = {name: preview.originals.pop(name) for name in culprits if name in preview.originals}
    preview.people = [
        restored.get(name, person)
        for person in preview.people
        if (name := str(person.get("username"))) not in culprits or name in restored
    ]
    preview.joiners = [p for p in preview.joiners if p.get("username") not in culprits]
    preview.is_admin = {n: yes for n, yes in preview.is_admin.items() if n not in culprits}
    preview.movers = [m for m in preview.movers if m.username not in culprits]
    preview.kept |= restored.keys()


def _person(values: dict[str, str], mapping: HrMapping, units: _OrgUnits) -> dict[str, Any]:
    if "username" not in values:
        raise ValueError("no username")
    if "display_name" not in values:
        raise ValueError("no display name")
    person: dict[str, Any] = {
        "username": values["username"].lower(),
        "display_name": values["display_name"],
    }
    if "email" in values:
        person["email"] = values["email"]
    if "units" in values:
        refs = [u.strip() for u in values["units"].split(mapping.separator) if u.strip()]
        person["units"] = list(dict.fromkeys(units.resolve(ref) for ref in refs))
    role = values.get("role")
    if role is not None:
        translated = mapping.roles.get(role) or (role if role in ROLES else None)
        if translated is None:
            raise ValueError(
                f"role '{role}' is not a Borough role and the mapping's roles do not translate it"
            )
        person["role"] = translated
    elif "role" in mapping.columns:
        person["role"] = mapping.default_role
    if "job_title" in values:
        person["job_title"] = values["job_title"]
    if "manager" in values:
        person["manager"] = values["manager"].lower()
    profile = {
        name: (
            [s.strip() for s in values[name].split(mapping.separator) if s.strip()]
            if name == "skills"
            else values[name]
        )
        for name in PROFILE_FIELDS
        if name in values
    }
    if profile:
        person["profile"] = profile
    return person


def _admin_word(value: str) -> bool:
    found = ADMIN_WORDS.get(value.strip().lower())
    if found is None:
        raise ValueError(f"admin '{value}' is neither yes nor no")
    return found


def _validate(person: dict[str, Any], organisation: str) -> None:
    try:
        Person.model_validate({**person, "organisation": organisation})
    except ValidationError as exc:
        raise ValueError("; ".join(_reason(e) for e in exc.errors())) from None


def _reason(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"] if not str(p).startswith(("[", "function")))
    message = str(error["msg"])
    if error["type"] == "string_pattern_mismatch" and where == "username":
        message = "use lower-case letters, digits and . _ = - /"
    return f"{where}: {message[0].lower()}{message[1:]} (got {error['input']!r})"


def _drop_unknown_managers(
    preview: ImportPreview, good: dict[str, tuple[int, dict[str, Any]]], others: set[str]
) -> None:
    """A manager must be someone who stays. Dropping a row orphans the rows it manages, and
    theirs in turn: followed down each manager's reports, so a long chain costs its length."""
    reports: dict[str, list[str]] = {}
    for name, (_, person) in good.items():
        if manager := person.get("manager"):
            reports.setdefault(manager, []).append(name)
    orphans = [
        (name, f"manager '{manager}' is neither in the file nor in the org chart")
        for name, (_, person) in good.items()
        if (manager := person.get("manager")) and manager not in good and manager not in others
    ]
    while orphans:
        name, reason = orphans.pop()
        if name not in good:
            continue
        row, _ = good.pop(name)
        preview.bad_rows.append(BadRow(row, name, reason))
        if name not in others:
            reason = f"manager '{name}' is not imported: row {row} is bad"
            orphans += [(report, reason) for report in reports.get(name, ())]


def _merge(
    entry: dict[str, Any], person: dict[str, Any], units: _OrgUnits
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The fragment's entry with HR's fields laid over it, and what changed."""
    merged = dict(entry)
    changes = []
    for name, value in person.items():
        if name == "profile":
            continue
        old = entry.get(name, PERSON_DEFAULTS.get(name))
        if name == "units" and isinstance(old, list):
            old = [_unit_key(units, u) for u in old]
        if old != value:
            changes.append(f"{name} {_show(old)} → {_show(value)}")
            merged[name] = value
    profile = dict(entry.get("profile") or {})
    for name, value in (person.get("profile") or {}).items():
        old = profile.get(name)
        old_value = old.get("value") if isinstance(old, dict) else old
        if old_value != value:
            changes.append(f"{name} {_show(old_value)} → {_show(value)}")
            profile[name] = {**old, "value": value} if isinstance(old, dict) else value
    if profile:
        merged["profile"] = profile
    return merged, tuple(changes)


def _unit_key(units: _OrgUnits, ref: Any) -> Any:
    try:
        return units.resolve(str(ref))
    except ValueError:
        return ref


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


# --- one import, from rows to the fragment's new text ---------------------------------------


class NoFragment(Exception):
    """The organisation has no fragment for the import to write; one sentence says how to add it."""


@dataclass(frozen=True)
class FragmentImport:
    preview: ImportPreview
    path: Path
    #: the fragment's text after the import (as it was when nothing changes)
    text: str
    #: the chart and its fragments once `text` is written, as loading them would read them
    chart: OrgChart
    fragments: list[Fragment]


def organisation_fragment(
    org_file: Path | str, fragments: list[Fragment], organisation: str
) -> Fragment:
    """The organisation's fragment, or `NoFragment` saying how to add one."""
    fragment = next((f for f in fragments if f.organisation == organisation), None)
    if fragment is None:
        raise NoFragment(
            f"organisation '{organisation}' has no fragment in {org_file}. Create one (a file "
            f"with 'organisation: {organisation}') and list it under 'include:' in the main file."
        )
    return fragment


def import_people(
    org_file: Path | str,
    fragments: list[Fragment],
    chart: OrgChart,
    organisation: str,
    rows: Iterator[HrRow] | list[HrRow],
    mapping: HrMapping,
    departing: Collection[str] = (),
) -> FragmentImport:
    """The organisation's fragment with `rows` imported, checked with the whole chart; nothing
    is written. Raise `NoFragment`, `HrImportError` (rows unreadable) or `OrgChartError`."""
    fragment = organisation_fragment(org_file, fragments, organisation)
    path = Path(fragment.filename)
    text = path.read_text(encoding="utf-8")
    preview = preview_import(
        rows,
        mapping,
        chart,
        organisation,
        existing_people(fragment.source),
        departing,
        existing_admins(fragment.source),
    )
    if not preview.has_changes:
        return FragmentImport(preview, path, text, chart, fragments)
    # The whole chart, with the fragment as it will be; rows it refuses become bad rows.
    chart, fragments = settle(preview, org_file, fragment.source)
    text, source = written_fragment(text, fragment.source, preview)
    fragments = [
        replace(f, source=source) if f.filename == fragment.filename else f for f in fragments
    ]
    return FragmentImport(preview, path, text, chart, fragments)


# --- writing the fragment ----------------------------------------------------------------

#: Plain YAML scalars that read back as the same string; anything else is quoted.
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9 ._@/'()+-]*(?<! )$")
_YAML11_WORDS = frozenset("y n yes no true false on off null ~".split())


def _scalar(value: Any) -> str:
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML11_WORDS and " #" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def person_line(person: dict[str, Any]) -> str:
    """One person as a one-line flow mapping, the way the example charts write people."""
    return _flow(person)


def existing_people(fragment: YamlSource) -> list[dict[str, Any]]:
    """The fragment's people as read (validated with the chart already)."""
    people = fragment.data.get("people") if isinstance(fragment.data, dict) else None
    return [p for p in people if isinstance(p, dict)] if isinstance(people, list) else []


def existing_admins(fragment: YamlSource) -> list[str]:
    """The fragment's `admins:` as read (validated with the chart already)."""
    admins = fragment.data.get("admins") if isinstance(fragment.data, dict) else None
    return [str(a) for a in admins] if isinstance(admins, list) else []


def imported_fragment(fragment: YamlSource, preview: ImportPreview) -> YamlSource:
    """The fragment's data after the import, to validate the chart before writing."""
    data = {**fragment.data, "people": preview.people}
    if preview.admins_changed:
        data["admins"] = preview.admins
    return YamlSource(fragment.filename, data)


def fragment_text(text: str, fragment: YamlSource, preview: ImportPreview) -> str:
    """`text` (the fragment, as `fragment` read it) with its people, and its admins if they
    changed, replaced."""
    return written_fragment(text, fragment, preview)[0]


def written_fragment(
    text: str, fragment: YamlSource, preview: ImportPreview
) -> tuple[str, YamlSource]:
    """`text` (the fragment, as `fragment` read it) with its people, and its admins if they
    changed, replaced; and the new text as `read_yaml` reads it (data and positions).

    Everything else stays as it was, and so does the text (comments included) of each
    person in `preview.kept`. Lines come from the positions the line-aware loader recorded.
    Only the people written anew are parsed (the whole text when the admins change), so a
    write of a few people into a fragment of thousands costs little more than copying it.
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    people = _people_edit(lines, fragment, preview)
    edits = [people[:3]]
    if preview.admins_changed:
        edits.append(_admins_edit(lines, fragment.positions, preview.admins))
    # Later spans first, so the earlier ones' line numbers still hold.
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[start:end] = new
    written = "".join(lines)
    if preview.admins_changed:
        return written, parse_yaml(written, fragment.filename)
    return written, people[3]


def _admins_edit(
    lines: list[str], positions: dict[PathKey, tuple[int, int]], admins: list[str]
) -> tuple[int, int, list[str]]:
    """The fragment's `admins:` as one flow list, in its place, or after `organisation:`."""
    if ("admins",) in positions:
        start = positions[("admins",)][0] - 1
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        return start, _section_end(lines, positions, start), [f"{indent}admins: {_flow(admins)}\n"]
    after = positions[("organisation",)][0] if ("organisation",) in positions else 0
    return after, after, [f"admins: {_flow(admins)}\n"]


def _section_end(lines: list[str], positions: dict[PathKey, tuple[int, int]], start: int) -> int:
    """Where the top-level section on line `start` ends: at the next one, less the comment
    lines before it (they belong to the next)."""
    later = [
        line - 1 for path, (line, _) in positions.items() if len(path) == 1 and line - 1 > start
    ]
    return _without_trailing_comments(lines, start + 1, min(later, default=len(lines)))


def _people_edit(
    lines: list[str], fragment: YamlSource, preview: ImportPreview
) -> tuple[int, int, list[str], YamlSource]:
    """The lines `start:end` of the people section, the lines that replace them, and the
    fragment as reading it with that edit alone would give."""
    positions = fragment.positions
    people = fragment.data.get("people") if isinstance(fragment.data, dict) else None
    body: list[str] = []
    indent = "  "
    #: each kept person's lines, where they began, and their index in the list
    original: dict[str, tuple[list[str], int, int]] = {}
    if ("people",) not in positions:
        start = end = len(lines)
        head = ["people:\n"]
        people_at = (start + 1, 1)
    else:
        people_at = positions[("people",)]
        start = people_at[0] - 1
        end = _section_end(lines, positions, start)
        items = [positions[("people", j)] for j in range(len(people or []))]
        if not items or items[0][0] - 1 == start:  # empty, or a flow list: written anew
            head = [lines[start][: len(lines[start]) - len(lines[start].lstrip())] + "people:\n"]
        else:
            first = items[0][0] - 1
            head = lines[start:first]
            indent = " " * max(0, items[0][1] - 3)
            lead = first
            for j, entry in enumerate(people or []):
                stop = items[j + 1][0] - 1 if j + 1 < len(items) else end
                # Comment lines before an item go with it.
                content_end = _without_trailing_comments(lines, lead, stop)
                if isinstance(entry, dict) and "username" in entry:
                    original[str(entry["username"])] = (lines[lead:content_end], lead, j)
                lead = content_end
    new_positions: dict[PathKey, tuple[int, int]] = {("people",): people_at}
    new_people: list[Any] = []
    moved: dict[int, tuple[int, int]] = {}  # a kept person's index: new index, lines moved
    for j, person in enumerate(preview.people):
        name = str(person.get("username"))
        at = start + len(head) + len(body)  # the next line's index
        if name in preview.kept and name in original:
            kept, lead, was = original[name]
            moved[was] = (j, at - lead)
            body += kept
            new_people.append(person)
        else:
            line = f"{indent}- {person_line(person)}\n"
            written = parse_yaml(line)
            new_positions.update(
                {
                    ("people", j, *path[1:]): (at + row, column)
                    for path, (row, column) in written.positions.items()
                    if path
                }
            )
            body.append(line)
            new_people.append(written.data[0])
    shift = len(head) + len(body) - (end - start)
    data = {**fragment.data, "people": new_people or None}
    if all(j == was and by == 0 for was, (j, by) in moved.items()):
        # Everyone kept is where they were (people added at the end, or rewritten on their
        # own line): copy the positions, and change only those that moved or went.
        written_anew, new_positions = new_positions, dict(positions)
        for j in set(range(len(people or []))) - moved.keys():
            for path in _value_paths(people[j] if people else None, ("people", j)):
                new_positions.pop(path, None)
        new_positions.update(written_anew)
        for key, value in fragment.data.items():
            if shift and positions.get((key,), (0, 0))[0] - 1 >= end:
                for path in _value_paths(value, (key,)):
                    row, column = positions[path]
                    new_positions[path] = (row + shift, column)
        return start, end, head + body, YamlSource(fragment.filename, data, new_positions)
    for path, (row, column) in positions.items():
        if path[:1] == ("people",):
            if len(path) > 1 and isinstance(path[1], int) and path[1] in moved:
                j, moved_by = moved[path[1]]
                new_positions[("people", j, *path[2:])] = (row + moved_by, column)
        else:
            new_positions[path] = (row + shift, column) if row - 1 >= end else (row, column)
    return start, end, head + body, YamlSource(fragment.filename, data, new_positions)


def _value_paths(value: Any, path: PathKey) -> Iterator[PathKey]:
    """The paths the line-aware loader gives a position: `value`'s, and every key's and
    item's inside it."""
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _value_paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _value_paths(inner, (*path, i))


def _without_trailing_comments(lines: list[str], start: int, stop: int) -> int:
    """`stop`, moved back over blank and comment-only lines (but not before `start`)."""
    while stop > start and (
        not lines[stop - 1].strip() or lines[stop - 1].lstrip().startswith("#")
    ):
        stop -= 1
    return stop
