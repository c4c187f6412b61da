"""Load an org chart from YAML: shape errors and reference errors, all at once, with places."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from borough.org.checks import check_org_chart, did_you_mean
from borough.org.fragments import INCLUDE, Fragment, check_fragments, expand_includes
from borough.org.images import unreadable_images
from borough.org.model import OrgChart
from borough.yamlsource import (
    Problem,
    SourceError,
    YamlSource,
    holds_any,
    parse_yaml,
    read_yaml,
)


class OrgChartError(SourceError):
    """The org chart is not valid; every problem is listed with `file:line:col`."""


def load_org_chart(path: Path | str, *, images: bool = False) -> OrgChart:
    """`images`: also check that every avatar the chart names can be read (what provisioning
    uploads), so a bad path is reported at its place like any other problem."""
    return load_org_chart_with_fragments(path, images=images)[0]


def load_org_chart_with_fragments(
    path: Path | str,
    replacements: Mapping[str, YamlSource] | None = None,
    *,
    images: bool = False,
) -> tuple[OrgChart, list[Fragment]]:
    """The chart with its included fragments merged, and where each fragment's entries went.

    `replacements` stands in for fragment files by name (see `expand_includes`)."""
    try:
        source = read_yaml(path)
    except SourceError as exc:
        raise OrgChartError(exc.filename, exc.problems) from None
    return _validate_parts(source, replacements, Path(path).parent if images else None)


def parse_org_chart(text: str, filename: str = "<string>") -> OrgChart:
    try:
        source = parse_yaml(text, filename)
    except SourceError as exc:
        raise OrgChartError(exc.filename, exc.problems) from None
    return _validate_parts(source)[0]


def _validate_parts(
    source: YamlSource,
    replacements: Mapping[str, YamlSource] | None = None,
    images_dir: Path | None = None,
) -> tuple[OrgChart, list[Fragment]]:
    if not holds_any(source.data, {*OrgChart.model_fields, INCLUDE}):
        raise OrgChartError(
            source.filename,
            [source.problem((), "expected a mapping with 'organisations:' at the top")],
        )
    try:
        source, fragments, fragment_problems = expand_includes(source, replacements)
    except SourceError as exc:
        raise OrgChartError(exc.filename, exc.problems) from None
    try:
        chart = OrgChart.model_validate(source.data)
    except ValidationError as exc:
        problems = pydantic_problems(exc, source, OrgChart) + fragment_problems
        raise OrgChartError(source.filename, sorted(problems, key=_reading_order)) from None
    findings = check_org_chart(chart) + check_fragments(chart, fragments)
    if images_dir is not None:
        findings += unreadable_images(chart, images_dir)
    if findings or fragment_problems:
        problems = [source.problem(path, message) for path, message in findings]
        problems += fragment_problems
        raise OrgChartError(source.filename, sorted(problems, key=_reading_order))
    return chart, fragments


def _reading_order(problem: Problem) -> tuple[str, int, int]:
    return problem.filename or "", problem.line or 0, problem.column or 0


def pydantic_problems(
    exc: ValidationError, source: YamlSource, root: type[BaseModel]
) -> list[Problem]:
    """Turn pydantic's errors into positioned problems with wording for people."""
    problems = []
    for error in exc.errors():
        path = _data_path(error["loc"], source.data)
        kind = error["type"]
        if kind == "extra_forbidden":
            name = str(path[-1])
            allowed = _fields_at(root, path[:-1])
            message = f"unknown field '{name}'{did_you_mean(name, allowed)}"
        elif kind == "missing":
            message = "this field is required"
        elif kind == "value_error":
            message = str(error.get("ctx", {}).get("error", error["msg"]))
        elif kind == "string_pattern_mismatch":
            message = f"{error['input']!r} is not allowed here: {_pattern_hint(path)}"
        else:
            message = error["msg"][0].lower() + error["msg"][1:]
            if "input" in error and not isinstance(error["input"], dict | list):
                message += f" (got {error['input']!r})"
        problems.append(source.problem(path, message))
    unique = {(p.path, p.message): p for p in problems}
    return sorted(unique.values(), key=_reading_order)


def _pattern_hint(path: tuple[str | int, ...]) -> str:
    last = next((p for p in reversed(path) if isinstance(p, str)), "")
    if last == "username":
        return "use lower-case letters, digits and . _ = - /"
    if last == "email_domains":
        return "give a domain such as 'example.gov.uk'"
    if last == "avatar":
        return "give an image file ending in .png, .jpg, .jpeg, .gif or .webp"
    return "use lower-case letters, digits and dashes, starting with a letter or digit"


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[str | int, ...]:
    """Drop pydantic's union/type tags from `loc`, keeping only steps that exist in the data."""
    path: list[str | int] = []
    node = data
    for i, step in enumerate(loc):
        if isinstance(node, dict) and step in node:
            node = node[step]
            path.append(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
            path.append(step)
        elif isinstance(node, dict) and i == len(loc) - 1 and isinstance(step, str):
            path.append(step)  # a missing field: name it
        elif (
            isinstance(node, dict) and isinstance(step, str) and "[" not in step and "-" not in step
        ):
            path.append(step)
            node = None
    return tuple(path)


def _fields_at(root: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] | None = root
    for step in path:
        if model is None:
            return []
        if isinstance(step, int):
            continue
        field = model.model_fields.get(step)
        model = _inner_model(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner_model(typing.get_args(annotation)[0])
    for arg in (
        reversed(typing.get_args(annotation)) if origin in (dict,) else typing.get_args(annotation)
    ):
        found = _inner_model(arg)
        if found:
            return found
    if isinstance(annotation, types.UnionType):
        for arg in annotation.__args__:
            found = _inner_model(arg)
            if found:
                return found
    return None
