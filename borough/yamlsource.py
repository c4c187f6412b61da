"""Line-aware YAML: load a file into plain data and remember where every value came from.

Config errors must point at `file:line:col`, so loaders keep the position of each mapping
value and sequence item, keyed by its path (`("people", 3, "manager")`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, with where it is and, if known, a likely fix."""

    path: PathKey
    message: str
    line: int | None = None
    column: int | None = None
    #: The file the problem is in, when it is not the one being loaded (an included fragment).
    filename: str | None = None

    def render(self, filename: str) -> str:
        where = self.filename or filename
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        dotted = dotted_path(self.path)
        return f"{where} {dotted}: {self.message}" if dotted else f"{where}: {self.message}"


def dotted_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class SourceError(Exception):
    """A file has problems; `problems` lists every one of them."""

    def __init__(self, filename: str, problems: Sequence[Problem]) -> None:
        self.filename = filename
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(p.render(self.filename) for p in self.problems)


def holds_any(data: Any, sections: Container[str]) -> bool:
    """Whether `data` is a mapping with at least one of `sections`.

    A file that is not is some other file (`/etc/shadow`, say), whose keys may be anything:
    its message says what was expected and quotes nothing of it.
    """
    return isinstance(data, dict) and any(key in sections for key in data)


@dataclass
class YamlSource:
    filename: str
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    #: Parts of `data` that came from another file (an included fragment): the path here, and
    #: the source and path they came from, so problems point into that file.
    origins: dict[PathKey, tuple[YamlSource, PathKey]] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int]) -> tuple[int | None, int | None]:
        """The position of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (None, None))

    def problem(self, path: Sequence[str | int], message: str) -> Problem:
        path = tuple(path)
        for cut in range(len(path), 0, -1):
            if (origin := self.origins.get(path[:cut])) is not None:
                source, there = origin
                found = source.problem((*there, *path[cut:]), message)
                return Problem(found.path, message, found.line, found.column, source.filename)
        line, column = self.locate(path)
        return Problem(path, message, line, column)


#: Bounds on one YAML file, so that no input can exhaust time or memory. A chart of 20,000
#: people is about 3 MB and 250,000 values; these leave room for several times that.
MAX_BYTES = 16 * 1024 * 1024
#: Values once aliases are expanded (a "billion laughs" file is a few lines of aliases).
MAX_VALUES = 1_000_000
#: Nesting, aliases included; a chart nests about six levels deep.
MAX_DEPTH = 64

_TAG = "tag:yaml.org,2002:"
#: The tags plain YAML resolves to; any other (`!foo`, `!!binary`, `!!set`) is refused.
_PLAIN_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")
)
#: Tags the resolver gives `<<` and `=`; outside a key they are just text.
_MERGE, _VALUE, _STR = _TAG + "merge", _TAG + "value", _TAG + "str"


def read_yaml(path: Path | str, filename: str | None = None) -> YamlSource:
    """Parse a YAML file, raising `SourceError` with a position for any problem.

    `filename` names the file in messages, when `path` is a resolved form of that name.

    Only a regular file of at most `MAX_BYTES` is read: a device (`/dev/zero`) or a pipe is
    refused before any byte is read, and a bigger file after `MAX_BYTES + 1`.
    """
    name = filename or str(path)

    def refuse(message: str) -> SourceError:
        return SourceError(name, [Problem((), message)])

    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise refuse("file not found") from None
    except OSError as exc:
        raise refuse(f"cannot read the file ({exc.strerror})") from None
    except ValueError:  # os.open's answer to a NUL in the name
        raise refuse("the file name holds a NUL character") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise refuse("is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise refuse("not a regular file (a device, pipe or socket)")
        with open(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise refuse(f"cannot read the file ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_BYTES:
        raise refuse(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text (byte {exc.start} cannot be read)") from None
    return parse_yaml(text, name)


#: libyaml's parser when PyYAML was built with it: ten times faster on a 2,000-person chart,
#: with the same marks for positions.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, filename: str = "<string>") -> YamlSource:
    if len(text) > MAX_BYTES:
        problem = Problem((), f"the text is larger than {MAX_BYTES // (1024 * 1024)} MB")
        raise SourceError(filename, [problem])
    loader = _Loader(text)
    source = YamlSource(filename, None)
    problems: list[Problem] = []
    try:
        node = _Composer(loader, problems).compose()
        if node is not None:
            source.data = _Builder(loader, source, problems).build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        message = f"not valid YAML: {exc.problem}" + (f" ({exc.context})" if exc.context else "")
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise SourceError(filename, [Problem((), message, line, column)]) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (a NUL, say): libyaml gives its offset, not a mark.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        message = f"not valid YAML: {exc.reason} (character #x{exc.character:02x})"
        raise SourceError(filename, [Problem((), message, line, column)]) from None
    except yaml.YAMLError as exc:
        raise SourceError(filename, [Problem((), f"not valid YAML: {exc}")]) from None
    except _Refused as exc:
        raise SourceError(filename, [exc.problem]) from None
    finally:
        loader.dispose()
    if problems:
        raise SourceError(filename, problems)
    return source


class _Refused(Exception):
    """A file over one of the bounds: reading stops at the first such problem."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.problem = Problem((), message, mark.line + 1, mark.column + 1)


@dataclass
class _Anchor:
    mark: Any
    node: yaml.Node | None = None
    #: values and depth of the anchored node once expanded; None while it is being composed
    values: int | None = None
    depth: int = 0


class _Composer:
    """The node tree from libyaml's events, within the bounds above.

    It does what PyYAML's composer does, and also counts, at each alias, what the alias
    will expand to, so an alias bomb or an alias inside its own anchor is refused at the
    alias, before anything is expanded. Tags other than plain YAML's, and merge keys, are
    problems; their nodes are read as text so the rest of the file is still checked.
    """

    def __init__(self, loader: Any, problems: list[Problem]) -> None:
        self.loader = loader
        self.problems = problems
        self.anchors: dict[str, _Anchor] = {}
        self.values = 0

    def compose(self) -> yaml.Node | None:
        self.loader.get_event()  # stream start
        node = None
        if not self.loader.check_event(yaml.StreamEndEvent):
            self.loader.get_event()  # document start
            node, _ = self.node(1)
            self.loader.get_event()  # document end
        if not self.loader.check_event(yaml.StreamEndEvent):
            event = self.loader.get_event()
            raise _Refused("expected one YAML document, but found another", event.start_mark)
        return node

    def node(self, depth: int, is_key: bool = False) -> tuple[yaml.Node, int]:
        """The next node and how deep it nests once expanded (1 for a scalar)."""
        event = self.loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            return self.alias(event, depth)
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Refused(f"the file holds more than {MAX_VALUES:,} values", event.start_mark)
        anchor = None
        if event.anchor is not None:
            if event.anchor in self.anchors:
                first = self.anchors[event.anchor].mark.line + 1
                message = (
                    f"the anchor &{_short(event.anchor)} is defined twice (first on line {first})"
                )
                raise _Refused(message, event.start_mark)
            anchor = self.anchors[event.anchor] = _Anchor(event.start_mark)
        values_before = self.values
        node: yaml.Node
        if isinstance(event, yaml.ScalarEvent):
            node, height = self.scalar(event, is_key), 1
        else:
            is_mapping = isinstance(event, yaml.MappingStartEvent)
            kind = yaml.MappingNode if is_mapping else yaml.SequenceNode
            tag = self.tag(event, kind, None)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            height = 0
            end = yaml.MappingEndEvent if is_mapping else yaml.SequenceEndEvent
            while not self.loader.check_event(end):
                if is_mapping:
                    key, key_height = self.node(depth + 1, is_key=True)
                    value, value_height = self.node(depth + 1)
                    node.value.append((key, value))
                    height = max(height, key_height, value_height)
                else:
                    item, item_height = self.node(depth + 1)
                    node.value.append(item)
                    height = max(height, item_height)
            node.end_mark = self.loader.get_event().end_mark
            height += 1
        if anchor is not None:
            anchor.node = node
            anchor.values = self.values - values_before + 1
            anchor.depth = height
        return node, height

    def alias(self, event: Any, depth: int) -> tuple[yaml.Node, int]:
        anchor = self.anchors.get(event.anchor)
        name = _short(event.anchor)
        if anchor is None:
            raise _Refused(f"the alias *{name} names no anchor defined above it", event.start_mark)
        if anchor.values is None:
            message = f"the alias *{name} is inside its own anchor &{name}, which never ends"
            raise _Refused(message, event.start_mark)
        if depth - 1 + anchor.depth > MAX_DEPTH:
            message = f"the alias *{name} nests the file deeper than {MAX_DEPTH} levels"
            raise _Refused(message, event.start_mark)
        self.values += anchor.values
        if self.values > MAX_VALUES:
            message = f"aliases expand the file to more than {MAX_VALUES:,} values"
            raise _Refused(message, event.start_mark)
        assert anchor.node is not None  # set with `values`
        return anchor.node, anchor.depth

    def scalar(self, event: Any, is_key: bool) -> yaml.ScalarNode:
        tag = self.tag(event, yaml.ScalarNode, event.value)
        if tag == _MERGE and is_key:
            self.problem("merge keys ('<<') are not supported; write the fields out", event)
        if tag in (_MERGE, _VALUE):
            tag = _STR
        return yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)

    def tag(self, event: Any, kind: type[yaml.Node], value: str | None) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            if kind is not yaml.ScalarNode:
                return _FALLBACK_TAGS[kind]  # what the resolver says of every list and mapping
            return str(self.loader.resolve(kind, value, event.implicit))
        if tag in _PLAIN_TAGS:
            return str(tag)
        shown = "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
        self.problem(
            f"the tag {_short(shown)} is not allowed; write plain YAML without tags", event
        )
        return _FALLBACK_TAGS[kind]

    def problem(self, message: str, event: Any) -> None:
        mark = event.start_mark
        self.problems.append(Problem((), message, mark.line + 1, mark.column + 1))


_FALLBACK_TAGS = {
    yaml.ScalarNode: _STR,
    yaml.SequenceNode: _TAG + "seq",
    yaml.MappingNode: _TAG + "map",
}


def _short(name: str) -> str:
    """An anchor or tag name for a message, cut short: a long one is no YAML of ours."""
    return name if len(name) <= 40 else name[:39] + "…"


class _Builder:
    """Turns a composed node tree into plain data, recording each value's position."""

    def __init__(self, loader: Any, source: YamlSource, problems: list[Problem]):
        self.loader = loader
        self.constructors = loader.yaml_constructors
        self.source = source
        self.problems = problems

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.source.positions.setdefault(path, _position(node))
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    problem = "a key must be text, not a list or a mapping"
                    self.problems.append(Problem(path, problem, *_position(key_node)))
                    continue
                key = str(self.scalar(key_node, path))
                child = (*path, key)
                if key in out:
                    self.problems.append(
                        Problem(child, "duplicate key in the same mapping", *_position(key_node))
                    )
                    continue
                # Point at the key, which is where a reader looks for "unknown field".
                self.source.positions[child] = _position(key_node)
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def scalar(self, node: yaml.Node, path: PathKey) -> Any:
        if node.tag == _STR:
            return node.value  # most values: no need to ask the constructor
        try:
            return self.constructors[node.tag](self.loader, node)
        except (ValueError, yaml.YAMLError):
            # A date that is no date (2024-13-45), or an int of thousands of digits.
            kind = _KINDS.get(node.tag, "value")
            message = f"not a valid {kind}; put it in quotes to keep it as text"
            self.problems.append(Problem(path, message, *_position(node)))
            return node.value


_KINDS = {_TAG + "int": "number", _TAG + "float": "number", _TAG + "timestamp": "date"}


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1
