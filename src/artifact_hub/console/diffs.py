"""Differences between two versions: text line by line (difflib), JSON by key path."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DIFF_HEAD_BYTES",
    "JsonChange",
    "SideBySideRow",
    "json_changes",
    "side_by_side",
    "unified",
]

DIFF_HEAD_BYTES = 512 * 1024
"""Each side of a diff reads at most this much of its version."""
MAX_JSON_CHANGES = 2000


@dataclass(frozen=True)
class SideBySideRow:
    """One row of a side-by-side diff.

    Attributes:
        tag: ``equal``, ``replace``, ``delete`` or ``insert``.
        left_no: Line number in the old version (None: no line on that side).
        left: The old line.
        right_no: Line number in the new version.
        right: The new line.
    """

    tag: str
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def side_by_side(old: str, new: str, *, context: int = 3) -> list[SideBySideRow]:
    """The changed lines of ``old`` -> ``new`` with ``context`` equal lines around them.

    A run of equal lines longer than the context is folded into one ``skip`` row.
    """
    a, b = old.splitlines(), new.splitlines()
    rows: list[SideBySideRow] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        if rows:
            rows.append(SideBySideRow("skip", None, "", None, ""))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset in range(i2 - i1):
                    rows.append(
                        SideBySideRow(
                            tag, i1 + offset + 1, a[i1 + offset], j1 + offset + 1, b[j1 + offset]
                        )
                    )
                continue
            for offset in range(max(i2 - i1, j2 - j1)):
                i, j = i1 + offset, j1 + offset
                rows.append(
                    SideBySideRow(
                        tag,
                        i + 1 if i < i2 else None,
                        a[i] if i < i2 else "",
                        j + 1 if j < j2 else None,
                        b[j] if j < j2 else "",
                    )
                )
    return rows


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff (what ``diff -u`` prints)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


@dataclass(frozen=True)
class JsonChange:
    """One difference between two JSON documents.

    Attributes:
        path: Where, as ``$.key[3].other``.
        kind: ``added``, ``removed`` or ``changed``.
        old: The old value as compact JSON (None when added).
        new: The new value as compact JSON (None when removed).
    """

    path: str
    kind: str
    old: str | None
    new: str | None


def _dump(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 500 else text[:497] + "..."


def _key_path(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def json_changes(old: Any, new: Any, *, limit: int = MAX_JSON_CHANGES) -> list[JsonChange]:
    """Every key path whose value differs between two parsed JSON documents.

    Objects are compared key by key and arrays index by index; anything else (or values of
    different types) is one ``changed`` entry. At most ``limit`` changes are returned.
    """
    changes: list[JsonChange] = []
    stack: list[tuple[str, Any, Any]] = [("$", old, new)]
    while stack and len(changes) < limit:
        path, a, b = stack.pop()
        if isinstance(a, dict) and isinstance(b, dict):
            pending = []
            for key in sorted(set(a) | set(b), key=str):
                where = _key_path(path, str(key))
                if key not in b:
                    changes.append(JsonChange(where, "removed", _dump(a[key]), None))
                elif key not in a:
                    changes.append(JsonChange(where, "added", None, _dump(b[key])))
                elif a[key] != b[key] or type(a[key]) is not type(b[key]):
                    pending.append((where, a[key], b[key]))
            stack.extend(reversed(pending))
        elif isinstance(a, list) and isinstance(b, list):
            pending = []
            for index in range(max(len(a), len(b))):
                where = f"{path}[{index}]"
                if index >= len(b):
                    changes.append(JsonChange(where, "removed", _dump(a[index]), None))
                elif index >= len(a):
                    changes.append(JsonChange(where, "added", None, _dump(b[index])))
                elif a[index] != b[index] or type(a[index]) is not type(b[index]):
                    pending.append((where, a[index], b[index]))
            stack.extend(reversed(pending))
        elif a != b or type(a) is not type(b):
            changes.append(JsonChange(path, "changed", _dump(a), _dump(b)))
    changes.sort(key=lambda change: change.path)
    return changes[:limit]
