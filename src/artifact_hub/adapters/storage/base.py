"""What the blob store adapters share: hash and name checks, and the locked temp-file spool.

The port itself (``BlobStore`` and its value types) lives in :mod:`artifact_hub.ports.blobs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from artifact_hub.core.errors import ChecksumMismatchError

# Re-exported from the port while callers outside the adapters still import them from here
# (the API routes, consumers, search sync and some tests); new code imports artifact_hub.ports.
from artifact_hub.ports.blobs import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    HashingReader,
    StagedBlob,
    StoredBlob,
    SweptBytes,
)

__all__ = [
    "CHUNK_SIZE",
    "BlobInfo",
    "BlobNotFoundError",
    "BlobStore",
    "HashingReader",
    "StagedBlob",
    "StoredBlob",
    "SweptBytes",
    "check_sha256",
    "check_staged",
    "check_staging_name",
    "content_disposition",
    "remove_stale_spool",
    "spool_to_temp_file",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_STAGING_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A ``Content-Disposition`` value naming ``filename`` safely (RFC 6266).

    The plain ``filename`` keeps only printable ASCII without quotes or backslashes, so no
    name can break out of the header; ``filename*`` carries the exact name, UTF-8 encoded.
    """
    base = filename.replace("\\", "/").rsplit("/", 1)[-1] or "artifact"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in base)
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


def check_staging_name(name: str) -> str:
    """Return ``name`` unchanged if it is one safe path segment (letters, digits, ``._-``).

    Raises:
        ValueError: It is anything else.
    """
    if not isinstance(name, str) or _STAGING_NAME.fullmatch(name) is None:
        raise ValueError(f"not a valid staging name: {name!r}")
    return name


def check_staged(
    staged: StagedBlob, expected_sha256: str | None, expected_size: int | None
) -> None:
    """Raise ``ChecksumMismatchError`` unless staged bytes have the expected size and hash."""
    if expected_size is not None and staged.size != expected_size:
        raise ChecksumMismatchError(
            f"{staged.size} bytes were uploaded, {expected_size} were declared",
            expected_size=expected_size,
            actual_size=staged.size,
        )
    if expected_sha256 is not None and staged.sha256 != expected_sha256:
        raise ChecksumMismatchError(
            f"the upload hashes to {staged.sha256}, expected {expected_sha256}",
            expected=expected_sha256,
            actual=staged.sha256,
        )


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


SPOOL_PREFIX = ".spool-"
SPOOL_SUFFIX = ".part"
_LINK_PREFIX = ".link-"
_LINK_MIN_AGE = 60.0
"""Seconds a leftover hard link (``.link-*``, see ``LocalBlobStore``) must have existed
before it is taken for a crash's: a live one lives for one ``rename``."""


def _lock(fd: int) -> bool:
    """Take an exclusive, non-blocking ``flock`` on ``fd``; whether it was free.

    The lock is what tells a live writer's spool file from a dead one's: the kernel drops it
    when the process dies, however it dies. Without ``fcntl`` (not POSIX) nothing is locked
    and nothing is ever taken for stale.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class _TempFile:
    """A temporary file written from worker threads, one batch at a time.

    The lock serialises the writes with ``discard``: when the task driving the writes is
    cancelled, the worker thread of the write in flight keeps running, and the file must not
    be closed or unlinked under it.

    The file stays open, and ``flock``-ed, until ``discard``: that tells
    :func:`remove_stale_spool` in any process that its writer is alive, even while the
    complete file is being uploaded (S3) after its last write.
    """

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self.path = path
        self._file = file
        self._lock = threading.Lock()

    @classmethod
    def create(cls, directory: Path) -> _TempFile:
        while True:
            fd, name = tempfile.mkstemp(dir=directory, prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX)
            # A cleaner may have found the new file between mkstemp and the lock: then it
            # holds the lock (or unlinked the file already) and this writer takes another.
            if _lock(fd) and os.fstat(fd).st_nlink > 0:
                return cls(Path(name), os.fdopen(fd, "wb"))
            os.close(fd)

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
            if os.name != "posix":  # pragma: no cover - no flock there, and an open file
                self._file.close()  # could not be renamed

    def discard(self) -> None:
        with self._lock:
            # Unlinked before it is closed (which drops the lock): no cleaner can see a
            # closed file here and mistake it for a dead writer's.
            self.path.unlink(missing_ok=True)
            self._file.close()


def remove_stale_spool(directory: Path) -> SweptBytes:
    """Remove the spool files in ``directory`` whose writer is gone; what was removed.

    A spool file is stale when nobody holds its lock (a live writer holds it from creation
    to removal; the kernel drops it when the process dies, SIGKILL included). Leftover hard
    links of an adoption (``.link-*``) are removed once they are a minute old. Safe to run
    while other processes write to the same folder.
    """
    swept = SweptBytes()
    try:
        import fcntl  # noqa: F401 - without locks no file can be told stale
    except ImportError:  # pragma: no cover - not POSIX
        return swept
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return swept
    now = time.time()
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            if entry.name.startswith(_LINK_PREFIX):
                stat = entry.stat(follow_symlinks=False)
                # ctime: a new link changes the inode's ctime, not its (old) mtime.
                if now - stat.st_ctime > _LINK_MIN_AGE:
                    os.unlink(entry.path)
                    swept.add(stat.st_size if stat.st_nlink <= 1 else 0)
                continue
            if not (entry.name.startswith(SPOOL_PREFIX) and entry.name.endswith(SPOOL_SUFFIX)):
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                # Same file still under that name, and nobody writing it: remove it while
                # holding its lock, so no writer can take it meanwhile.
                if _lock(fd) and os.path.samestat(os.fstat(fd), os.stat(entry.path)):
                    size = os.fstat(fd).st_size
                    os.unlink(entry.path)
                    swept.add(size)
            finally:
                os.close(fd)
    return swept


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
