"""The blob store port: content-addressed, streaming, write-once storage of bytes.

A blob is named by the sha256 of its bytes. Writing streams the bytes to a temporary place
while hashing them and makes the blob visible under its hash only once it is complete and
verified, so a half-finished upload is never visible. Writing the same bytes twice stores them
once. Reading streams chunks; the caller verifies the hash (see ``HashingReader``).
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from artifact_hub.errors import ChecksumMismatchError, FileTooLargeError

__all__ = [
    "CHUNK_SIZE",
    "BlobInfo",
    "BlobNotFoundError",
    "BlobStore",
    "HashingReader",
    "check_sha256",
    "content_disposition",
    "spool_to_temp_file",
]

CHUNK_SIZE = 1024 * 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobNotFoundError(KeyError):
    """No blob is stored under that sha256 (an internal error: the index points at nothing)."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What a write stored: the content address and size."""

    sha256: str
    size: int
    created: bool
    """False when a blob with the same bytes was already there (deduplicated)."""


class HashingReader:
    """Counts and hashes bytes as they pass, and checks them against limits and expectations.

    Used by every adapter on the write path, and by the service on the read path.
    """

    def __init__(
        self,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        max_size: int | None = None,
    ) -> None:
        self._hash = hashlib.sha256()
        self.size = 0
        self.expected_sha256 = expected_sha256
        self.expected_size = expected_size
        self.max_size = max_size

    def update(self, chunk: bytes) -> None:
        """Account for one chunk; raise ``FileTooLargeError`` past ``max_size``."""
        self.size += len(chunk)
        if self.max_size is not None and self.size > self.max_size:
            raise FileTooLargeError(
                f"content is larger than the {self.max_size} byte limit", max_bytes=self.max_size
            )
        self._hash.update(chunk)

    @property
    def sha256(self) -> str:
        """The hex digest of what passed so far."""
        return self._hash.hexdigest()

    def verify(self) -> str:
        """Raise ``ChecksumMismatchError`` unless hash and size match what was expected."""
        digest = self.sha256
        if self.expected_sha256 is not None and digest != self.expected_sha256:
            raise ChecksumMismatchError(
                f"content hashes to {digest}, expected {self.expected_sha256}",
                expected=self.expected_sha256,
                actual=digest,
            )
        if self.expected_size is not None and self.size != self.expected_size:
            raise ChecksumMismatchError(
                f"content is {self.size} bytes, expected {self.expected_size}",
                expected_size=self.expected_size,
                actual_size=self.size,
            )
        return digest


class BlobStore(abc.ABC):
    """Port for blob storage. Adapters: ``LocalBlobStore``, ``S3BlobStore``, ``MemoryBlobStore``."""

    @abc.abstractmethod
    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> BlobInfo:
        """Store a stream of bytes under its sha256.

        Nothing becomes visible unless the whole stream was read, verified against
        ``expected_sha256`` when given, and stored durably. On any error (including the
        stream itself raising, or being cancelled) the partial bytes are removed.

        Raises:
            ChecksumMismatchError: The bytes do not hash to ``expected_sha256``.
            FileTooLargeError: More than ``max_size`` bytes arrived.
        """

    @abc.abstractmethod
    def get(self, sha256: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the blob's bytes as stored (the caller verifies them).

        Raises:
            BlobNotFoundError: Nothing is stored under that hash (raised on first iteration).
        """

    @abc.abstractmethod
    async def stat(self, sha256: str) -> int | None:
        """The blob's size, or None when it is not stored."""

    @abc.abstractmethod
    async def delete(self, sha256: str) -> None:
        """Remove the blob (no error when it is absent). Callers check nothing points at it."""

    async def exists(self, sha256: str) -> bool:
        """Whether a complete blob is stored under that hash."""
        return await self.stat(sha256) is not None

    async def presigned_get_url(
        self,
        sha256: str,
        *,
        expires_in: timedelta,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """A URL that reads the blob directly from the store, or None if it has none.

        ``filename`` and ``content_type``, when the store supports it, set the response's
        ``Content-Disposition`` and ``Content-Type`` (a blob itself has neither).
        """
        return None

    async def presigned_put_url(
        self, key: str, *, expires_in: timedelta, size: int | None = None
    ) -> str | None:
        """A URL for a direct upload to a staging ``key``, or None if the store has none."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing
        """Release connections or threads."""


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A ``Content-Disposition`` value naming ``filename`` safely (RFC 6266).

    The plain ``filename`` keeps only printable ASCII without quotes or backslashes, so no
    name can break out of the header; ``filename*`` carries the exact name, UTF-8 encoded.
    """
    base = filename.replace("\\", "/").rsplit("/", 1)[-1] or "artifact"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in base)
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


def check_sha256(sha256: str) -> str:
    """Return ``sha256`` unchanged if it is 64 lowercase hex characters.

    Adapters build file paths and object keys from hashes, so every hash that comes in is
    checked here first: that is what keeps ``../`` and friends out of them.

    Raises:
        ValueError: It is anything else.
    """
    if not isinstance(sha256, str) or _SHA256.fullmatch(sha256) is None:
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
    return sha256


class _TempFile:
    """A temporary file written from worker threads, one batch at a time.

    The lock serialises the writes with ``discard``: when the task driving the writes is
    cancelled, the worker thread of the write in flight keeps running, and the file must not
    be closed or unlinked under it.
    """

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self.path = path
        self._file = file
        self._lock = threading.Lock()

    @classmethod
    def create(cls, directory: Path) -> _TempFile:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".spool-", suffix=".part")
        return cls(Path(name), os.fdopen(fd, "wb"))

    def write(self, batch: list[bytes], reader: HashingReader) -> None:
        with self._lock:
            for chunk in batch:
                # Accounted before it is written, so a stream over the limit never lands on
                # disk beyond the limit.
                reader.update(chunk)
                self._file.write(chunk)

    def finish(self, durable: bool) -> None:
        with self._lock:
            self._file.flush()
            if durable:
                os.fsync(self._file.fileno())
            self._file.close()

    def discard(self) -> None:
        with self._lock:
            self._file.close()
            self.path.unlink(missing_ok=True)


@asynccontextmanager
async def spool_to_temp_file(
    chunks: AsyncIterable[bytes],
    directory: Path,
    reader: HashingReader,
    *,
    durable: bool = False,
) -> AsyncIterator[Path]:
    """Write a stream to a new temporary file in ``directory`` while hashing it.

    The file I/O and the hashing run in worker threads, in batches of about ``CHUNK_SIZE``
    bytes, so neither the event loop is blocked nor the whole stream held in memory. The
    shared write path of the adapters that stage a blob on local disk.

    Args:
        chunks: The stream; it may raise or be cancelled at any point.
        directory: Where the temporary file goes (it must exist). Put it on the same file
            system as the final place when the caller wants to ``os.replace`` it there.
        reader: Accounts for every chunk, enforces ``max_size`` and is verified at the end.
        durable: ``fsync`` the file before yielding it.

    Yields:
        The path of the complete, closed and verified file. On exit the file is removed,
        unless the body moved it away; on any error or cancellation, before or inside the
        body, it is removed too.

    Raises:
        ChecksumMismatchError: The stream did not match what ``reader`` expected.
        FileTooLargeError: The stream passed ``reader.max_size``.
    """
    # Created synchronously (one open(2)): were it done in a thread, a cancellation landing
    # between the creation and the await returning would leave a file nobody knows about.
    temp = _TempFile.create(directory)
    try:
        batch: list[bytes] = []
        batched = 0
        async for chunk in chunks:
            batch.append(chunk)
            batched += len(chunk)
            if batched >= CHUNK_SIZE:
                await asyncio.to_thread(temp.write, batch, reader)
                batch, batched = [], 0
        if batch:
            await asyncio.to_thread(temp.write, batch, reader)
        reader.verify()
        await asyncio.to_thread(temp.finish, durable)
        yield temp.path
    finally:
        # Shielded so that the removal finishes even when this task is cancelled again.
        await asyncio.shield(asyncio.to_thread(temp.discard))
