"""A streaming ``multipart/form-data`` reader: form fields, then the file part as a stream.

Starlette's ``request.form()`` spools every file to a temporary file before the route runs;
this reader hands the file part's bytes on as they arrive instead, so an upload goes from the
socket to the blob store with only one chunk in memory. Form fields must therefore come
before the file part (as httpx, requests, curl ``-F`` in that order and browsers' ``FormData``
send them); a field after it fails the upload with ``invalid_request``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from artifact_hub.core.errors import InvalidRequestError

__all__ = ["FilePart", "MultipartForm", "read_form"]

MAX_FIELD_BYTES = 64 * 1024
"""Largest non-file field (metadata is at most 8 KB)."""
MAX_FIELDS = 200


@dataclass
class FilePart:
    """The file part's headers."""

    field_name: str
    filename: str | None
    content_type: str | None


@dataclass
class MultipartForm:
    """The fields that came before the file part, and the file part's bytes."""

    fields: dict[str, list[str]]
    file: FilePart | None
    content: AsyncIterator[bytes] = field(repr=False)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    is_file: bool = False
    value: bytearray = field(default_factory=bytearray)


class _Events:
    """Collects the parser's callbacks as events: field, file, data, file_end, end."""

    def __init__(self, file_field: str) -> None:
        self.file_field = file_field
        self.queue: deque[tuple[str, object]] = deque()
        self.part = _Part()
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.fields = 0
        self.ended = False

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[bytes(self.header_name).lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        part = self.part
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise InvalidRequestError("a multipart part has no name")
        part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            part.filename = options[b"filename"].decode("utf-8", "replace")
        raw_type = part.headers.get(b"content-type")
        part.content_type = raw_type.decode("latin-1").strip() if raw_type else None
        part.is_file = part.filename is not None or part.name == self.file_field
        if part.is_file:
            self.queue.append(("file", FilePart(part.name, part.filename, part.content_type)))
        else:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise InvalidRequestError(f"more than {MAX_FIELDS} form fields")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.is_file:
            self.queue.append(("data", data[start:end]))
            return
        self.part.value += data[start:end]
        if len(self.part.value) > MAX_FIELD_BYTES:
            raise InvalidRequestError(
                f"form field {self.part.name!r} is longer than {MAX_FIELD_BYTES} bytes"
            )

    def on_part_end(self) -> None:
        if self.part.is_file:
            self.queue.append(("file_end", None))
        else:
            value = bytes(self.part.value).decode("utf-8", "replace")
            self.queue.append(("field", (self.part.name, value)))

    def on_end(self) -> None:
        self.ended = True


async def _events(
    stream: AsyncIterator[bytes], boundary: bytes, file_field: str
) -> AsyncIterator[tuple[str, object]]:
    events = _Events(file_field)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": events.on_part_begin,
            "on_part_data": events.on_part_data,
            "on_part_end": events.on_part_end,
            "on_header_field": events.on_header_field,
            "on_header_value": events.on_header_value,
            "on_header_end": events.on_header_end,
            "on_headers_finished": events.on_headers_finished,
            "on_end": events.on_end,
        },
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
            while events.queue:
                yield events.queue.popleft()
        parser.finalize()
    except FormParserError as error:
        raise InvalidRequestError(f"malformed multipart body: {error}") from error
    while events.queue:
        yield events.queue.popleft()
    if not events.ended:
        raise InvalidRequestError("the multipart body ended early")


async def read_form(
    stream: AsyncIterator[bytes], content_type: str, *, file_field: str = "file"
) -> MultipartForm:
    """Read the fields up to the file part; the file's bytes follow in ``content``.

    ``content`` stops at the end of the file part after reading the rest of the body, and
    raises ``InvalidRequestError`` if more fields or files follow, so a consumer that stores
    the stream fails instead of keeping an upload whose fields were cut short.

    Raises:
        InvalidRequestError: No boundary, or a malformed body.
    """
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequestError("multipart/form-data needs a boundary")
    events = _events(stream, boundary, file_field)
    fields: dict[str, list[str]] = {}
    file: FilePart | None = None
    async for kind, payload in events:
        if kind == "field":
            assert isinstance(payload, tuple)
            fields.setdefault(str(payload[0]), []).append(str(payload[1]))
        elif kind == "file":
            assert isinstance(payload, FilePart)
            file = payload
            break

    async def content() -> AsyncIterator[bytes]:
        if file is None:
            return
        async for kind, payload in events:
            if kind == "data":
                assert isinstance(payload, bytes)
                yield payload
            elif kind == "file_end":
                break
        async for kind, _ in events:
            if kind in ("field", "file"):
                raise InvalidRequestError(
                    "send the form fields before the file part, and only one file"
                )

    return MultipartForm(fields=fields, file=file, content=content())
