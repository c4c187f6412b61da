"""JSON request bodies: one bounded, strict reader for every route that takes one.

A body is read only up to `MAX_BODY_BYTES`, its nesting is measured before `json.loads`
sees it (the parser recurses, so 50,000 `[` would raise RecursionError), and its shape is a
pydantic model. Every refusal is a 4xx `JsonError` that says what is wrong and never quotes
the body: it may hold a token.
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from widgets.app import JsonError

#: Borough's bodies are a few short strings; 64 KiB is far above any honest one.
MAX_BODY_BYTES = 64 * 1024
#: Borough's bodies are flat objects; a little room for clients that add nested extras.
MAX_DEPTH = 16

Body = TypeVar("Body", bound=BaseModel)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text`, brackets inside strings not counted.

    Unbalanced or unterminated input only over-counts, and json.loads refuses it anyway."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _bad(error: str, errcode: str = "M_BAD_JSON") -> JsonError:
    return JsonError(400, error, errcode)


async def _read_bounded(request: web.Request) -> bytes:
    too_large = JsonError(
        413, f"the body is larger than {MAX_BODY_BYTES // 1024} KiB", "M_TOO_LARGE"
    )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


def _where(error: ErrorDetails) -> str:
    location = ".".join(str(part) for part in error["loc"])
    return f"`{location}`: {error['msg']}" if location else error["msg"]


async def read_json_body(request: web.Request, model: type[Body]) -> Body:
    """The request's JSON object as `model`, or a 400/413 JsonError naming what is wrong."""
    if request.content_type != "application/json":
        given = (
            f"this request says {request.content_type[:100]!r}"
            if "Content-Type" in request.headers
            else "this request has none"
        )
        raise _bad(
            f"send the body as JSON, with Content-Type: application/json ({given})", "M_NOT_JSON"
        )
    raw = await _read_bounded(request)
    if not raw.strip():
        raise _bad("the body is empty; send a JSON object", "M_NOT_JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"the body is not valid UTF-8 (byte {exc.start})", "M_NOT_JSON") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise _bad(f"the JSON nests deeper than {MAX_DEPTH} levels", "M_NOT_JSON")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            "M_NOT_JSON",
        ) from None
    except ValueError:  # an integer of more than 4,300 digits
        raise _bad("a number in the body is too long", "M_NOT_JSON") from None
    if not isinstance(value, dict):
        raise _bad(f"the body must be a JSON object, not {_json_kind(value)}")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(_where(e) for e in exc.errors(include_input=False))
        raise _bad(f"the body does not fit: {problems}") from None


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    return "a number"
