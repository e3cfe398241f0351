"""The limits of every value a client can send, in one place (docs/rest-api.md, Limits).

The API's request bodies, the events the service writes and bus ingestion all use these
types, so a value the index cannot store (a name longer than its column, a NUL byte
PostgreSQL refuses, NaN that breaks every later metric search, an integer past an ``int4``
column) is refused at the door with ``invalid_request``, on every stack alike, and never
reaches storage.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

__all__ = [
    "MAX_CONTENT_TYPE_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_INT32",
    "MAX_JSON_DEPTH",
    "MAX_KIND_LENGTH",
    "MAX_LABEL_KEY_LENGTH",
    "MAX_NAMESPACE_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_OFFSET",
    "MAX_TTL_SECONDS",
    "ContentType",
    "Identifier",
    "JsonObject",
    "Kind",
    "Labels",
    "Name",
    "Namespace",
    "OptionalIdentifier",
    "PrincipalId",
    "TTLSeconds",
    "Tag",
    "Text",
    "ToolVersion",
    "Version",
    "check_json",
    "check_line",
    "check_text",
]

MAX_INT32 = 2**31 - 1
"""Versions (and other counters) are ``int4`` columns on PostgreSQL."""
MAX_NAME_LENGTH = 1024
MAX_ID_LENGTH = 200
"""Session, agent, group, run, graph, node, org, user, client and app ids, tool names, tags."""
MAX_NAMESPACE_LENGTH = 128
MAX_KIND_LENGTH = 128
MAX_CONTENT_TYPE_LENGTH = 255
MAX_TOOL_VERSION_LENGTH = 100
MAX_LABEL_KEY_LENGTH = 128
MAX_TTL_SECONDS = 100 * 365 * 24 * 3600
"""The longest TTL anyone may ask for (100 years); plans may allow less."""
MAX_OFFSET = MAX_INT32
"""The largest ``offset`` of a listing (use ``cursor`` to page deep)."""
MAX_JSON_DEPTH = 32
"""How deeply metadata, labels and metrics may nest (objects and arrays)."""


def check_text(value: str) -> str:
    """``value`` if every index can store it: no NUL byte, no lone surrogate.

    Raises:
        ValueError: It has either.
    """
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def check_line(value: str) -> str:
    """``value`` if it is storable text on one line: no control characters (NUL, CR, LF...).

    Names and ids end up in headers (``Content-Disposition``), logs and file names, where a
    line break or a NUL would cut or forge them.

    Raises:
        ValueError: It has a control character or is not storable text.
    """
    check_text(value)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters (NUL, CR, LF, tab...)")
    return value


def check_json(value: Any) -> Any:
    """``value`` if it is JSON every index stores alike: finite numbers, storable strings.

    Walks the value without recursion (a hostile document cannot exhaust the stack) and
    refuses NaN and infinities (SQLite would store them and every later metric search of the
    tenant would fail), NUL bytes and lone surrogates in keys and strings (PostgreSQL refuses
    them), and nesting deeper than :data:`MAX_JSON_DEPTH`.

    Raises:
        ValueError: What is wrong, and where.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError("numbers must be finite (no NaN or Infinity)")
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"must not nest deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        raise ValueError("object keys must be strings")
                    check_text(key)
                children = list(item.values())
            else:
                children = list(item)
            stack.extend((child, depth + 1) for child in children)
        elif item is not None and not isinstance(item, bool | int):
            raise ValueError(f"{type(item).__name__} is not a JSON value")
    return value


def _check_dict(value: dict[str, Any]) -> dict[str, Any]:
    check_json(value)
    return value


def _check_labels(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not 1 <= len(key) <= MAX_LABEL_KEY_LENGTH:
            raise ValueError(f"label keys must be 1 to {MAX_LABEL_KEY_LENGTH} characters")
    check_json(value)
    return value


def _line(max_length: int, min_length: int | None = None) -> Any:
    return Field(min_length=min_length, max_length=max_length)


Text = Annotated[str, AfterValidator(check_text)]
"""Free text: any length, no NUL byte."""
Name = Annotated[str, _line(MAX_NAME_LENGTH, 1), AfterValidator(check_line)]
"""An artifact's name: 1 to 1,024 characters on one line."""
Identifier = Annotated[str, _line(MAX_ID_LENGTH, 1), AfterValidator(check_line)]
"""A session, agent, group or run id: 1 to 200 characters on one line."""
OptionalIdentifier = Annotated[str, _line(MAX_ID_LENGTH), AfterValidator(check_line)]
"""A scope id (run, graph, node, org, ...): at most 200 characters on one line."""
PrincipalId = Identifier
"""An agent or group an artifact is shared with."""
Tag = Annotated[str, _line(MAX_ID_LENGTH), AfterValidator(check_line)]
Namespace = Annotated[str, _line(MAX_NAMESPACE_LENGTH, 1), AfterValidator(check_line)]
Kind = Annotated[str, _line(MAX_KIND_LENGTH), AfterValidator(check_line)]
ContentType = Annotated[str, _line(MAX_CONTENT_TYPE_LENGTH), AfterValidator(check_line)]
ToolVersion = Annotated[str, _line(MAX_TOOL_VERSION_LENGTH), AfterValidator(check_line)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_check_dict)]
"""Metadata or metrics: a JSON object of finite numbers and storable strings."""
Labels = Annotated[dict[str, Any], AfterValidator(_check_labels)]
"""Labels: a JSON object like :data:`JsonObject` whose keys have 1 to 128 characters."""
Version = Annotated[int, Field(ge=1, le=MAX_INT32)]
"""A version number (1 to 2**31 - 1)."""
TTLSeconds = Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)]
"""A time to live in seconds (at most :data:`MAX_TTL_SECONDS`)."""
