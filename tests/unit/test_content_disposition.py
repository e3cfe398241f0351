"""content_disposition: the download file name, safe in a header and exact in filename*."""

from __future__ import annotations

import pytest

from artifact_hub.adapters.storage.base import content_disposition


def test_plain_names_pass_through() -> None:
    assert content_disposition("report.csv") == (
        "attachment; filename=\"report.csv\"; filename*=UTF-8''report.csv"
    )


@pytest.mark.parametrize(
    ("name", "ascii_name", "encoded"),
    [
        ('we"ird\\name.txt', "name.txt", "name.txt"),  # backslash is a path separator
        ('say "hi".txt', "say _hi_.txt", "say%20%22hi%22.txt"),
        ("résumé.pdf", "r_sum_.pdf", "r%C3%A9sum%C3%A9.pdf"),
        ("line\r\nbreak", "line__break", "line%0D%0Abreak"),
        ("../../etc/passwd", "passwd", "passwd"),
        ("dir/", "artifact", "artifact"),
    ],
)
def test_names_cannot_break_the_header(name: str, ascii_name: str, encoded: str) -> None:
    value = content_disposition(name, "inline")
    assert value == f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
    assert "\r" not in value and "\n" not in value
