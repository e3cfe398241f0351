"""Upload and download planning: how a body is laid out and streamed, hashing on the way.

:class:`UploadBody` (multipart or raw, from bytes, a path or a file), :class:`HashingWriter`
and :class:`AsyncHashingWriter` (downloads hashed as written, off the event loop), running
parts at once (:func:`map_limited`, :func:`async_map_limited`) and their summed progress.

These few I/O primitives are written twice, sync and async, because their two forms differ by
more than ``await`` (threads against tasks); ``scripts/unasync.py`` maps one name onto the
other (``AsyncHashingWriter`` -> ``HashingWriter``, ``async_map_limited`` -> ``map_limited``),
so the clients' flows that use them are written once.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio

from artifact_hub.client._config import CHUNK_SIZE, Progress, Source
from artifact_hub.core.errors import (
    InvalidRequestError,
)

T = TypeVar("T")

# ------------------------------------------------------------------------------ upload bodies


@dataclass
class UploadBody:
    """A streamed upload: a file or bytes, raw or wrapped in a ``multipart/form-data`` body.

    Nothing is read until the body is iterated, and each iteration starts again from the
    first byte, so a retried attempt resends everything. A file on disk is read in chunks and
    never held whole in memory.

    Attributes:
        source: A path, bytes, or an open binary file (seekable if it may be retried).
        size: Length of the content in bytes.
        filename: Name of the file part.
        content_type: Media type of the file part (or of the raw body).
        fields: Form fields sent before the file part; ``None`` sends the content raw.
        progress: Called with ``(bytes_done, total)`` as the content goes out.
    """

    source: str | os.PathLike[str] | bytes | IO[bytes]
    size: int
    filename: str
    content_type: str
    fields: list[tuple[str, str]] | None = None
    progress: Progress | None = None
    start: int = 0
    boundary: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(
        cls,
        source: Source,
        *,
        filename: str | None,
        content_type: str | None,
        fields: list[tuple[str, str]] | None = None,
        progress: Progress | None = None,
    ) -> UploadBody:
        """Describe ``source`` (sizing it without reading it)."""
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            name = filename or "data.bin"
            return cls(data, len(data), name, content_type or _guess_type(name), fields, progress)
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if not path.is_file():
                raise InvalidRequestError(f"no such file: {path}", path=str(path))
            name = filename or path.name
            size = path.stat().st_size
            return cls(path, size, name, content_type or _guess_type(name), fields, progress)
        handle: IO[bytes] = source
        name = filename or Path(str(getattr(handle, "name", "data.bin"))).name
        start = handle.tell()
        handle.seek(0, os.SEEK_END)
        size = handle.tell() - start
        handle.seek(start)
        media = content_type or _guess_type(name)
        return cls(handle, size, name, media, fields, progress, start)

    def part(self, offset: int, size: int, progress: Progress | None = None) -> UploadBody:
        """The raw content bytes ``offset..offset+size`` as a body of their own (one part)."""
        if isinstance(self.source, bytes):
            source: str | os.PathLike[str] | bytes | IO[bytes] = self.source[offset : offset + size]
            start = 0
        else:
            source, start = self.source, self.start + offset
        return UploadBody(source, size, self.filename, self.content_type, None, progress, start)

    @property
    def parts_in_parallel(self) -> bool:
        """Whether parts may be read at once (each opens its own file; a caller's does not)."""
        return isinstance(self.source, bytes | str | os.PathLike)

    # --- layout

    def _head(self) -> bytes:
        if self.fields is None:
            return b""
        parts = []
        for name, value in self.fields:
            parts.append(
                f"--{self.boundary}\r\n"
                f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
                f"{value}\r\n"
            )
        parts.append(
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{_quote(self.filename)}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        )
        return "".join(parts).encode()

    def _tail(self) -> bytes:
        return b"" if self.fields is None else f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def headers(self) -> dict[str, str]:
        """``Content-Type`` and ``Content-Length`` of the whole body."""
        if self.fields is None:
            media = self.content_type
        else:
            media = f"multipart/form-data; boundary={self.boundary}"
        length = len(self._head()) + self.size + len(self._tail())
        return {"Content-Type": media, "Content-Length": str(length)}

    # --- iteration

    def _open(self) -> tuple[IO[bytes] | None, bytes | None, bool]:
        if isinstance(self.source, bytes):
            return None, self.source, False
        if isinstance(self.source, str | os.PathLike):
            return Path(self.source).open("rb"), None, True
        return self.source, None, False

    def _report(self, done: int) -> None:
        if self.progress is not None:
            self.progress(done, self.size)

    def __iter__(self) -> Iterator[bytes]:
        """Yield the body in chunks, from the start."""
        yield self._head()
        handle, data, owned = self._open()
        done = 0
        self._report(0)
        try:
            if owned and handle is not None and self.start:
                handle.seek(self.start)
            if data is not None:
                for start in range(0, len(data), CHUNK_SIZE):
                    chunk = data[start : start + CHUNK_SIZE]
                    done += len(chunk)
                    yield chunk
                    self._report(done)
            elif handle is not None:
                if not owned and handle.seekable():
                    handle.seek(self.start)
                while done < self.size:
                    chunk = handle.read(min(CHUNK_SIZE, self.size - done))
                    if not chunk:
                        break
                    done += len(chunk)
                    yield chunk
                    self._report(done)
        finally:
            if owned and handle is not None:
                handle.close()
        yield self._tail()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks, reading the file in a worker thread."""
        chunks = iter(self)
        sentinel = b"\x00sentinel"
        while True:
            chunk = await asyncio.to_thread(next, chunks, sentinel)
            if chunk is sentinel:
                return
            yield chunk


class HashingWriter:
    """Writes chunks to a file and hashes them (sha256) in a worker thread.

    A download hands each chunk over and goes back to the socket at once: reading the
    network, writing the file and hashing then overlap (file writes and ``hashlib`` release
    the GIL) instead of taking turns. At most ``depth`` chunks wait in between, so memory
    stays bounded. Call :meth:`finish` (also on errors: it stops the thread).
    """

    def __init__(self, handle: IO[bytes], depth: int = 4) -> None:
        self._handle = handle
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._digest = hashlib.sha256()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="artifact-hub-pull", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks
            try:
                self._handle.write(chunk)
                self._digest.update(chunk)
            except BaseException as error:
                self._error = error

    def write(self, chunk: bytes) -> None:
        """Queue a chunk (waits while ``depth`` are queued); raise an earlier write's error."""
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def finish(self) -> str:
        """Wait for the queued chunks; the sha256 of all of them (hex)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()


class AsyncHashingWriter:
    """:class:`HashingWriter` for the event loop: chunks written and hashed in worker threads.

    Each chunk is written and hashed in a worker thread while the next one arrives (one chunk
    in flight), not on the event loop. Call :meth:`finish` (also on errors: it waits for the
    chunk in flight).
    """

    def __init__(self, handle: anyio.AsyncFile[bytes]) -> None:
        self._handle = handle.wrapped
        self._digest = hashlib.sha256()
        self._pending: asyncio.Future[None] | None = None

    def _write(self, chunk: bytes) -> None:
        self._handle.write(chunk)
        self._digest.update(chunk)

    async def write(self, chunk: bytes) -> None:
        """Wait for the chunk in flight (raising its error), then start writing ``chunk``."""
        if self._pending is not None:
            await self._pending
        self._pending = asyncio.ensure_future(asyncio.to_thread(self._write, chunk))

    async def finish(self) -> str:
        """Wait for the chunk in flight; the sha256 of all of them (hex)."""
        if self._pending is not None:
            # shielded: a cancelled pull still lets the thread finish with the file
            await asyncio.shield(self._pending)
        return self._digest.hexdigest()


def map_limited(function: Callable[[T], Any], items: Iterable[T], limit: int) -> None:
    """Call ``function`` on every item, ``limit`` at a time in threads; raise the first error."""
    with ThreadPoolExecutor(max_workers=limit) as pool:
        for _ in pool.map(function, items):
            pass


async def async_map_limited(
    function: Callable[[T], Awaitable[Any]], items: Iterable[T], limit: int
) -> None:
    """Await ``function`` on every item, ``limit`` at a time as tasks; raise the first error."""
    gate = asyncio.Semaphore(limit)

    async def run(item: T) -> None:
        async with gate:
            await function(item)

    await asyncio.gather(*(run(item) for item in items))


class _PartsProgress:
    """Adds up the progress of parts sent at once into one ``progress(done, total)``."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.progress = progress
        self.done: dict[int, int] = {}
        self.lock = threading.Lock()

    def reporter(self, number: int) -> Progress | None:
        if self.progress is None:
            return None

        def report(done: int, _total: int | None) -> None:
            with self.lock:
                self.done[number] = done
                overall = sum(self.done.values())
            assert self.progress is not None
            self.progress(overall, self.total)

        return report


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


_UNKNOWN_TYPE = "application/octet-stream"


def _guess_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or _UNKNOWN_TYPE
