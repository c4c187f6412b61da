"""Line-aware YAML: load a file into plain data and remember where every value came from.

Config errors must point at `file:line:col`, so loaders keep the position of each mapping
value and sequence item, keyed by its path (`("people", 3, "manager")`).
"""

from __future__ import annotations

from collections.abc import Sequence
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


def read_yaml(path: Path | str) -> YamlSource:
    """Parse a YAML file, raising `SourceError` with a position for any syntax problem."""
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(filename, [Problem((), "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(filename, [Problem((), f"cannot read the file ({exc})")]) from None
    return parse_yaml(text, filename)


#: libyaml's parser when PyYAML was built with it: ten times faster on a 2,000-person chart,
#: with the same marks for positions.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, filename: str = "<string>") -> YamlSource:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        message = f"not valid YAML: {exc.problem}" + (f" ({exc.context})" if exc.context else "")
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise SourceError(filename, [Problem((), message, line, column)]) from None
    except yaml.YAMLError as exc:
        raise SourceError(filename, [Problem((), f"not valid YAML: {exc}")]) from None
    source = YamlSource(filename, None)
    problems: list[Problem] = []
    try:
        if node is not None:
            source.data = _Builder(loader, source, problems).build(node, ())
    finally:
        loader.dispose()
    if problems:
        raise SourceError(filename, problems)
    return source


class _Builder:
    """Turns a composed node tree into plain data, recording each value's position."""

    def __init__(self, loader: Any, source: YamlSource, problems: list[Problem]):
        self.loader = loader
        self.source = source
        self.problems = problems

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.source.positions.setdefault(path, _position(node))
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                child = (*path, str(self.loader.construct_object(key_node)))
                key = child[-1]
                if key in out:
                    self.problems.append(
                        Problem(child, "duplicate key in the same mapping", *_position(key_node))
                    )
                    continue
                # Point at the key, which is where a reader looks for "unknown field".
                self.source.positions[child] = _position(key_node)
                out[str(key)] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1
