"""Previews of artifact content, from the head of the bytes only (pure functions).

A preview never reads a whole big file: text, JSON, CSV and TSV read at most
:data:`HEAD_BYTES` / :data:`GRID_HEAD_BYTES` from the start of the stream and say when they
stopped early. Notebooks and Parquet need their whole file (JSON, a footer at the end): they
are previewed up to :data:`WHOLE_FILE_LIMIT` and otherwise offered as a download.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt

__all__ = [
    "GRID_HEAD_BYTES",
    "HEAD_BYTES",
    "INLINE_TYPES",
    "WHOLE_FILE_LIMIT",
    "Grid",
    "NotebookCell",
    "csv_grid",
    "decode_text",
    "notebook_cells",
    "parquet_grid",
    "preview_kind",
    "read_head",
    "render_markdown",
]

HEAD_BYTES = 64 * 1024
"""Text, Markdown and JSON previews read this much of the start of a version."""
GRID_HEAD_BYTES = 256 * 1024
"""CSV and TSV grids read this much (every row in it can be paged through)."""
WHOLE_FILE_LIMIT = 8 * 1024 * 1024
"""Notebooks and Parquet files up to this size are previewed (they need the whole file)."""
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/pdf"}
)
"""Types the console serves inline (everything else downloads: no HTML or SVG runs here)."""

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".ipynb": "notebook",
    ".parquet": "parquet",
    ".pdf": "pdf",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".webp": "image",
    ".txt": "text",
    ".log": "text",
    ".py": "text",
    ".yaml": "text",
    ".yml": "text",
}


_TEXT_TYPES = frozenset({"application/x-yaml", "application/yaml", "application/xml"})


def preview_kind(content_type: str | None, name: str) -> str:
    """How to preview a version.

    Returns:
        image, pdf, csv, tsv, json, markdown, notebook, parquet, text, or none.
    """
    ctype = (content_type or "").split(";")[0].strip().lower()
    lowered = name.lower()
    for suffix, kind in _SUFFIXES.items():
        if lowered.endswith(suffix) and kind in ("notebook", "parquet", "tsv", "markdown"):
            return kind
    by_type = {
        "application/pdf": "pdf",
        "text/csv": "csv",
        "text/tab-separated-values": "tsv",
        "application/json": "json",
        "text/markdown": "markdown",
        "application/x-ipynb+json": "notebook",
        "application/vnd.apache.parquet": "parquet",
        "application/x-parquet": "parquet",
    }
    if ctype in INLINE_TYPES and ctype.startswith("image/"):
        return "image"
    if ctype in by_type:
        return by_type[ctype]
    if ctype.endswith("+json"):
        return "json"
    for suffix, kind in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return kind
    if ctype.startswith("text/") or ctype.endswith("+xml") or ctype in _TEXT_TYPES:
        return "text"
    return "none"


async def read_head(stream: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes from the start of ``stream``, and whether more followed.

    The stream is closed as soon as enough was read: the rest is never fetched.
    """
    parts: list[bytes] = []
    size = 0
    truncated = False
    try:
        async for chunk in stream:
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                truncated = True
                break
    finally:
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()
    data = b"".join(parts)
    return data[:limit], truncated or len(data) > limit


def decode_text(data: bytes, truncated: bool) -> str:
    """UTF-8 text of a head (a character cut at the end is dropped, others replaced)."""
    if truncated:
        data = data[: len(data) - _partial_utf8_tail(data)]
    return data.decode("utf-8", errors="replace")


def _partial_utf8_tail(data: bytes) -> int:
    # How many bytes at the end start a multi-byte character that was cut off.
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue
        if byte & 0x80 == 0:
            return 0
        needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
        return back if back < needed else 0
    return 0


def render_markdown(text: str) -> str:
    """Markdown as HTML, raw HTML escaped and unsafe link schemes dropped (markdown-it)."""
    html: str = _MARKDOWN.render(text)
    return html


@dataclass(frozen=True)
class Grid:
    """A page of a table preview.

    Attributes:
        header: The column names.
        rows: The rows of this page.
        page: This page's number (from 1).
        pages: How many pages the rows read so far fill.
        total: Rows read (all of the file unless ``partial``).
        partial: Only the head of the file was read; more rows follow in it.
    """

    header: list[str]
    rows: list[list[str]]
    page: int
    pages: int
    total: int
    partial: bool


def _page(header: list[str], rows: list[list[str]], page: int, size: int, partial: bool) -> Grid:
    pages = max(1, -(-len(rows) // size))
    page = min(max(1, page), pages)
    start = (page - 1) * size
    return Grid(header, rows[start : start + size], page, pages, len(rows), partial)


def csv_grid(
    data: bytes, *, delimiter: str = ",", page: int = 1, page_size: int = 50, truncated: bool
) -> Grid:
    """A page of a CSV/TSV head; the first row is the header.

    When the head was cut, its last (possibly partial) line is dropped.
    """
    text = decode_text(data, truncated)
    if truncated and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return Grid([], [], 1, 1, 0, truncated)
    rows: list[list[str]] = []
    try:
        rows.extend(reader)
    except csv.Error:
        truncated = True
    return _page(header, rows, page, page_size, truncated)


def parquet_grid(data: bytes, *, page: int = 1, page_size: int = 50) -> Grid | None:
    """A page of a Parquet file's first row groups (None when pyarrow is not installed).

    Only the row groups needed for the first :data:`MAX_GRID_ROWS` rows are decoded.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    parquet = pq.ParquetFile(io.BytesIO(data))
    header = [str(name) for name in parquet.schema_arrow.names]
    rows: list[list[str]] = []
    total = parquet.metadata.num_rows
    for group in range(parquet.num_row_groups):
        if len(rows) >= MAX_GRID_ROWS:
            break
        table = parquet.read_row_group(group)
        for record in table.slice(0, MAX_GRID_ROWS - len(rows)).to_pylist():
            rows.append([_cell(record.get(name)) for name in header])
    return _page(header, rows, page, page_size, total > len(rows))


MAX_GRID_ROWS = 10_000


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)[:200]
    return str(value)[:200]


@dataclass(frozen=True)
class NotebookCell:
    """A notebook cell as the console shows it: its source and its text or image outputs."""

    cell_type: str
    source: str
    html: str | None = None
    outputs: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    execution_count: int | None = None


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return "" if value is None else str(value)


def _png_data_uri(value: Any) -> str | None:
    raw = _joined(value).replace("\n", "")
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not decoded.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    return "data:image/png;base64," + raw


def notebook_cells(data: bytes, *, max_cells: int = 200) -> list[NotebookCell]:
    """The cells of a Jupyter notebook (nbformat 4): Markdown rendered, code and text outputs.

    Raises:
        ValueError: The bytes are not a notebook.
    """
    document = json.loads(data)
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no cells)")
    cells: list[NotebookCell] = []
    for cell in document["cells"][:max_cells]:
        if not isinstance(cell, dict):
            continue
        kind = str(cell.get("cell_type", "raw"))
        source = _joined(cell.get("source"))
        if kind == "markdown":
            cells.append(NotebookCell(kind, source, html=render_markdown(source)))
            continue
        outputs: list[str] = []
        images: list[str] = []
        for output in cell.get("outputs") or ():
            if not isinstance(output, dict):
                continue
            if output.get("output_type") == "stream":
                outputs.append(_joined(output.get("text")))
            elif output.get("output_type") == "error":
                outputs.append(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
            bundle = output.get("data")
            if isinstance(bundle, dict):
                image = _png_data_uri(bundle.get("image/png"))
                if image is not None:
                    images.append(image)
                elif "text/plain" in bundle:
                    outputs.append(_joined(bundle["text/plain"]))
        count = cell.get("execution_count")
        cells.append(
            NotebookCell(
                kind,
                source,
                outputs=outputs,
                images=images,
                execution_count=count if isinstance(count, int) else None,
            )
        )
    return cells
