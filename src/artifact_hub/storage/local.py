"""Blobs as files in a local folder: the embedded mode's blob store.

Layout under ``root``::

    blobs/ab/cd/abcd…   one file per blob, named by its sha256, sharded by its first 4 hex
    tmp/                streams being written; a file moves to blobs/ only when complete

``tmp`` and ``blobs`` share a file system, so the move is an atomic ``os.replace``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from artifact_hub.storage.base import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    HashingReader,
    check_sha256,
    spool_to_temp_file,
)

__all__ = ["LocalBlobStore"]


class LocalBlobStore(BlobStore):
    """Content-addressed blobs in a local folder, written atomically and durably.

    Args:
        root: The folder; created (with ``blobs/`` and ``tmp/``) if missing.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        """The file a blob is (or would be) stored in.

        Raises:
            ValueError: ``sha256`` is not 64 lowercase hex characters.
        """
        check_sha256(sha256)
        return self._blobs / sha256[:2] / sha256[2:4] / sha256

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> BlobInfo:
        """Stream the bytes to ``tmp/``, verify them, then move them under their hash.

        See :meth:`BlobStore.put`. The file is fsynced before the move and its directory
        after it, so a blob that ``put`` returned survives a crash.

        Raises:
            ChecksumMismatchError: The bytes do not hash to ``expected_sha256``.
            FileTooLargeError: More than ``max_size`` bytes arrived.
            ValueError: ``expected_sha256`` is not a lowercase hex sha256.
        """
        if expected_sha256 is not None:
            check_sha256(expected_sha256)
        reader = HashingReader(expected_sha256=expected_sha256, max_size=max_size)
        async with spool_to_temp_file(chunks, self._tmp, reader, durable=True) as temp:
            created = await asyncio.to_thread(self._publish, temp, reader.sha256, reader.size)
        return BlobInfo(sha256=reader.sha256, size=reader.size, created=created)

    def _publish(self, temp: Path, sha256: str, size: int) -> bool:
        target = self.path_for(sha256)
        new_dirs = _make_dirs(target.parent)
        try:
            # Same hash, same bytes: keep the copy that is there. A size that disagrees can
            # only mean the stored file was damaged, and the verified new one repairs it.
            if target.stat().st_size == size:
                return False
            existed = True
        except FileNotFoundError:
            existed = False
        # Two writers of the same new bytes may both get here; the later replace swaps in
        # identical content, which is harmless (both then report created=True).
        os.replace(temp, target)
        _fsync_dir(target.parent)
        for directory in new_dirs:
            _fsync_dir(directory.parent)
        return not existed

    def get(self, sha256: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the blob's file in chunks of at most ``chunk_size`` bytes.

        Raises:
            BlobNotFoundError: No such blob (on first iteration).
            ValueError: ``sha256`` is not a lowercase hex sha256 (at once).
        """
        return self._read(self.path_for(sha256), sha256, chunk_size)

    async def _read(self, path: Path, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        try:
            file: BinaryIO = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(sha256) from None
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def stat(self, sha256: str) -> int | None:
        """The blob's size, or None when it is not stored."""
        path = self.path_for(sha256)
        try:
            result = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            return None
        return result.st_size

    async def delete(self, sha256: str) -> None:
        """Remove the blob's file (no error when it is absent)."""
        path = self.path_for(sha256)
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents; return the ones this call created."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # another writer made it first
            continue
        created.append(path)
    return created


def _fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    if os.name != "posix":  # directories cannot be opened for fsync elsewhere
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
