"""The console's pure parts: previews from the head of a file, diffs, sign-in redirects."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import pytest

from artifact_hub.console import previews
from artifact_hub.console.auth import safe_next
from artifact_hub.console.diffs import json_changes, side_by_side, unified


async def _chunks(data: bytes, size: int, seen: list[int]) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        seen.append(start)
        yield data[start : start + size]


async def test_read_head_stops_reading_after_the_limit() -> None:
    seen: list[int] = []
    data = b"x" * 1_000_000
    head, truncated = await previews.read_head(_chunks(data, 1000, seen), 4096)
    assert head == b"x" * 4096 and truncated
    assert len(seen) == 5  # 5 chunks of 1000 bytes, not the 1000 of the file


async def test_read_head_of_a_small_file_is_whole() -> None:
    head, truncated = await previews.read_head(_chunks(b"abc", 10, []), 4096)
    assert (head, truncated) == (b"abc", False)


def test_decode_text_drops_a_character_cut_in_half() -> None:
    text = "é" * 10
    data = text.encode()[:7]  # three and a half characters
    assert previews.decode_text(data, truncated=True) == "ééé"


@pytest.mark.parametrize(
    ("ctype", "name", "kind"),
    [
        ("text/csv", "a.csv", "csv"),
        (None, "a.tsv", "tsv"),
        ("application/json", "x", "json"),
        ("application/vnd.foo+json", "x", "json"),
        ("image/png", "x", "image"),
        ("image/svg+xml", "x.svg", "text"),
        ("application/pdf", "x", "pdf"),
        ("application/octet-stream", "nb.ipynb", "notebook"),
        ("application/octet-stream", "t.parquet", "parquet"),
        ("text/markdown", "r", "markdown"),
        ("text/plain", "r.md", "markdown"),
        ("application/octet-stream", "blob.bin", "none"),
    ],
)
def test_preview_kind(ctype: str | None, name: str, kind: str) -> None:
    assert previews.preview_kind(ctype, name) == kind


def test_csv_grid_pages_through_the_rows() -> None:
    data = ("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(120))).encode()
    grid = previews.csv_grid(data, page=3, page_size=50, truncated=False)
    assert grid.header == ["a", "b"]
    assert (grid.page, grid.pages, grid.total, grid.partial) == (3, 3, 120, False)
    assert grid.rows[0] == ["100", "200"] and len(grid.rows) == 20
    assert previews.csv_grid(data, page=99, page_size=50, truncated=False).page == 3


def test_csv_grid_of_a_head_drops_the_cut_line() -> None:
    data = b"a\tb\n1\t2\n3\t4\n5\t"
    grid = previews.csv_grid(data, delimiter="\t", truncated=True)
    assert grid.rows == [["1", "2"], ["3", "4"]] and grid.partial


def test_parquet_grid_reads_rows() -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"n": list(range(75)), "s": [f"r{i}" for i in range(75)]}), buffer)
    grid = previews.parquet_grid(buffer.getvalue(), page=2, page_size=50)
    assert grid is not None
    assert grid.header == ["n", "s"] and grid.total == 75 and grid.rows[0] == ["50", "r50"]


def test_markdown_escapes_html_and_drops_script_links() -> None:
    html = previews.render_markdown("# T\n<script>alert(1)</script>\n[x](javascript:alert(1))")
    assert "<h1>T</h1>" in html
    assert "<script>" not in html and 'href="javascript' not in html


def test_notebook_cells() -> None:
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
        "awAAAABJRU5ErkJggg=="
    )
    notebook = {
        "nbformat": 4,
        "cells": [
            {"cell_type": "markdown", "source": ["# Title\n", "text"]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "source": "print(1)",
                "outputs": [
                    {"output_type": "stream", "text": ["1\n"]},
                    {"output_type": "execute_result", "data": {"text/plain": "2"}},
                    {"output_type": "display_data", "data": {"image/png": png}},
                    {"output_type": "display_data", "data": {"image/png": "PHN2Zz4="}},
                ],
            },
        ],
    }
    cells = previews.notebook_cells(json.dumps(notebook).encode())
    assert cells[0].html is not None and "<h1>Title</h1>" in cells[0].html
    assert cells[1].outputs == ["1\n", "2"] and cells[1].execution_count == 1
    assert cells[1].images == ["data:image/png;base64," + png]  # not the SVG posing as PNG
    with pytest.raises(ValueError):
        previews.notebook_cells(b'{"not": "a notebook"}')


def test_side_by_side_diff_folds_equal_runs() -> None:
    old = "\n".join(f"line {i}" for i in range(40))
    new = old.replace("line 5", "line five").replace("line 30", "line thirty") + "\nextra"
    rows = side_by_side(old, new, context=2)
    tags = [row.tag for row in rows]
    assert tags.count("replace") == 2 and tags.count("insert") == 1 and "skip" in tags
    changed = next(row for row in rows if row.tag == "replace")
    assert (changed.left_no, changed.left, changed.right) == (6, "line 5", "line five")
    assert side_by_side("same", "same") == []
    assert "+extra" in unified(old, new, "v1", "v2")


def test_json_changes_by_key_path() -> None:
    old = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "gone": True, "weird key": 1}
    new = {"a": 1, "b": {"c": [1, 3, 4], "d": "x"}, "new": None, "weird key": 2}
    changes = {(c.path, c.kind, c.old, c.new) for c in json_changes(old, new)}
    assert changes == {
        ("$.b.c[1]", "changed", "2", "3"),
        ("$.b.c[2]", "added", None, "4"),
        ("$.gone", "removed", "true", None),
        ("$.new", "added", None, "null"),
        ('$["weird key"]', "changed", "1", "2"),
    }
    assert [c.kind for c in json_changes(1, 1.0)] == ["changed"]  # type changes count
    assert json_changes({"a": [1]}, {"a": [1]}) == []


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/artifacts/x?version=2", "/console/artifacts/x?version=2"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console/\\evil", "/console/"),
        (None, "/console/"),
        ("/v1/artifacts", "/console/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
