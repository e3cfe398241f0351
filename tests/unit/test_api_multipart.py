"""The streaming multipart reader hands file bytes on before the body has fully arrived."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from artifact_hub.api.multipart import MAX_FIELD_BYTES, read_form
from artifact_hub.core.errors import InvalidRequestError

BOUNDARY = "b0undary"
TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def field(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def file_head(filename: str = "f.bin", content_type: str = "text/plain") -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


END = f"\r\n--{BOUNDARY}--\r\n".encode()


async def test_file_bytes_stream_before_the_body_ends() -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield field("name", "x") + field("tags", "a") + field("tags", "b") + file_head()
        for i in range(5):
            sent.append(i)
            yield bytes([65 + i]) * 1000
        yield END

    form = await read_form(body(), TYPE)
    assert form.fields == {"name": ["x"], "tags": ["a", "b"]}
    assert form.file is not None
    assert (form.file.filename, form.file.content_type) == ("f.bin", "text/plain")
    received = b""
    async for chunk in form.content:
        received += chunk
        if len(received) == 1000:
            assert sent == [0]  # the first chunk arrived before the rest was sent
    assert received == b"".join(bytes([65 + i]) * 1000 for i in range(5))


async def _collect(form_content: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in form_content])


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_late_fields_and_second_files_fail_the_stream() -> None:
    closing = f"--{BOUNDARY}--\r\n".encode()
    late = file_head() + b"abc\r\n" + field("name", "late") + closing
    form = await read_form(_once(late), TYPE)
    with pytest.raises(InvalidRequestError, match="before the file"):
        await _collect(form.content)
    two_files = file_head() + b"abc\r\n" + file_head("g.bin") + b"def\r\n" + closing
    form = await read_form(_once(two_files), TYPE)
    with pytest.raises(InvalidRequestError, match="only one file"):
        await _collect(form.content)
    fine = await read_form(_once(file_head() + b"abc\r\n" + closing), TYPE)
    assert await _collect(fine.content) == b"abc"


async def test_limits_and_malformed_bodies() -> None:
    with pytest.raises(InvalidRequestError):
        await read_form(_once(field("metadata", "x" * (MAX_FIELD_BYTES + 1))), TYPE)
    with pytest.raises(InvalidRequestError):
        await read_form(_once(b"x"), "multipart/form-data")
    with pytest.raises(InvalidRequestError, match="ended early"):
        await read_form(_once(field("name", "x")), TYPE)  # no closing boundary
    truncated = await read_form(_once(file_head() + b"abc"), TYPE)
    with pytest.raises(InvalidRequestError):
        await _collect(truncated.content)
    nameless = f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n".encode()
    with pytest.raises(InvalidRequestError):
        await read_form(_once(nameless), TYPE)
