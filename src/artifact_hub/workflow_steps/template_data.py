"""The context a template sees, made plain data first, and the size estimate of values.

No object of anyone's class reaches the sandbox; sizes are checked before a result is built.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

from jinja2 import Undefined
from pydantic import BaseModel

from artifact_hub.workflow_steps.template_policy import _SCALARS, _VIEWS, MAX_DATA_DEPTH

# ----------------------------------------------------------------------------------- data


class _NotData(Exception):
    """A value that is not template data, with where it was found."""


def to_template_data(value: Any, *, where: str = "value") -> Any:
    """``value`` as plain data: str, int, float, bool, None, bytes, lists and dicts.

    Pydantic models and dataclasses become dicts, tuples and sets lists, datetimes ISO
    strings, UUIDs, paths and decimals strings, enums their value. The result shares nothing
    mutable with ``value``. Only exact types are trusted: subclasses of str or dict are
    copied through the base type's own methods, so their overrides never run.

    Raises:
        TypeError: Something else (an object of another class, a recursive structure, or
            nesting deeper than 200 levels); the message says where.
    """
    try:
        return _data(value, where, set(), 0)
    except _NotData as error:
        raise TypeError(str(error)) from None


def _data(value: Any, where: str, active: set[int], depth: int) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth > MAX_DATA_DEPTH:
        raise _NotData(f"{where}: nested deeper than {MAX_DATA_DEPTH} levels")
    if kind is dict or kind is list or kind is tuple:
        marker = id(value)
        if marker in active:
            raise _NotData(f"{where}: a recursive structure")
        active.add(marker)
        try:
            if kind is dict:
                return {
                    _key(k, where): _data(v, f"{where}.{k}", active, depth + 1)
                    for k, v in dict.items(value)
                }
            return [_data(v, f"{where}[{i}]", active, depth + 1) for i, v in enumerate(value)]
        finally:
            active.discard(marker)
    # Subclasses of the builtins: go through the base type so their overrides never run.
    if issubclass(kind, Enum):
        return _data(value.value, where, active, depth + 1)
    if issubclass(kind, str):
        return str.__str__(value)
    if issubclass(kind, int):
        return int.__index__(value)
    if issubclass(kind, float):
        return float.__float__(value)
    if issubclass(kind, bytes | bytearray | memoryview):
        return bytes(memoryview(value))
    if issubclass(kind, dict):
        return _data(dict(dict.items(value)), where, active, depth)
    if issubclass(kind, list | tuple | set | frozenset) or kind in _VIEWS:
        items = list.copy(value) if issubclass(kind, list) else list(value)
        return _data(items, where, active, depth)
    # Type checks only (issubclass on type(value)): isinstance() may ask the object itself.
    if issubclass(kind, BaseModel):
        return _data(value.model_dump(mode="python"), where, active, depth + 1)
    if dataclasses.is_dataclass(kind) and not issubclass(kind, type):
        return _data(dataclasses.asdict(value), where, active, depth + 1)
    if issubclass(kind, datetime | date | time):
        return value.isoformat()
    if issubclass(kind, UUID | PurePath | Decimal):
        return str(value)
    raise _NotData(f"{where}: a value of type {kind.__name__} is not template data")


def _key(key: Any, where: str) -> Any:
    if type(key) in _SCALARS and type(key) is not bytes:
        return key
    if issubclass(type(key), str):
        return str.__str__(key)
    raise _NotData(f"{where}: a dict key of type {type(key).__name__}")


def _is_undefined(value: Any) -> bool:
    return issubclass(type(value), Undefined)


def _estimate(value: Any, budget: int) -> int:
    """The size of ``value`` serialized (roughly, in bytes); stops counting past ``budget``."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bytes:
            total += len(item) + 2
        elif kind is int:
            total += item.bit_length() // 3 + 1
        elif kind is float or kind is bool or item is None:
            total += 8
        elif kind is dict:
            total += 2
            for k, v in item.items():
                stack.append(k)
                stack.append(v)
        elif kind is list or kind is tuple or kind in _VIEWS:
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 8
        if total > budget:
            return total
    return total
