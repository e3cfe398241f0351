"""Search documents: which content is text, the document body, and the FTS5 table.

Shared by the indexer (:mod:`artifact_hub.adapters.index.search`) and its row writes
(:mod:`artifact_hub.adapters.index.search_sync`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import column, table

fts_table = table("search_fts", column("rowid"), column("body"), column("artifact_id"))
"""The SQLite FTS5 table (created by migration 0005, not part of ``tables.metadata``)."""

_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/x-ndjson",
        "application/toml",
        "application/javascript",
        "application/sql",
    }
)
_TEXT_SUFFIXES = (".txt", ".md", ".json", ".csv", ".tsv", ".yaml", ".yml", ".xml", ".log")
_SEPARATORS = re.compile(r"[^\w]+|_", re.UNICODE)


def is_text_like(content_type: str | None, name: str) -> bool:
    """Whether the content is text worth indexing (by MIME type, else by file suffix)."""
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        return (
            mime.startswith("text/")
            or mime in _TEXT_TYPES
            or mime.endswith("+json")
            or mime.endswith("+xml")
        )
    return name.lower().endswith(_TEXT_SUFFIXES)


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def document_body(row: Mapping[str, Any], content: str | None) -> str:
    """The searchable text of an artifact: its descriptive fields first, then its content.

    The fields come first because the embedder only reads the first few hundred tokens.
    """
    name = str(row["name"])
    lines = [name]
    spaced = " ".join(part for part in _SEPARATORS.split(name) if part)
    if spaced and spaced != name:
        lines.append(spaced)  # "weekly_report.md" also as "weekly report md"
    if row.get("kind"):
        lines.append(str(row["kind"]))
    tags = row.get("tags") or []
    if tags:
        lines.append(" ".join(str(tag) for tag in tags))
    for key, value in sorted((row.get("labels") or {}).items()):
        lines.append(f"{key} {_scalar_text(value)}")
    for value in (row.get("metadata") or {}).values():
        lines.append(_scalar_text(value))
    if content:
        lines.append(content)
    # NUL is no text to search, and PostgreSQL's text columns refuse it.
    return "\n".join(lines).replace("\x00", " ")


@dataclass(frozen=True)
class _Document:
    artifact_id: str
    tenant_id: str
    revision: int
    version: int
    body: str
    body_sha256: str
