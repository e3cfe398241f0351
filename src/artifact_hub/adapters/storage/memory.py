"""Blobs in a dict: a fake ``BlobStore`` for fast unit tests.

It keeps every blob in memory, which is its point: same semantics as the real adapters
(content addressing, dedup, verification before anything is visible), no I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from types import MappingProxyType

from artifact_hub.adapters.storage.base import (
    check_sha256,
    check_staged,
    check_staging_name,
)
from artifact_hub.ports.blobs import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    HashingReader,
    StagedBlob,
)

__all__ = ["MemoryBlobStore"]


class MemoryBlobStore(BlobStore):
    """Content-addressed blobs held in a dict, keyed by sha256."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._staged: dict[str, tuple[str, bytes]] = {}

    @property
    def blobs(self) -> Mapping[str, bytes]:
        """A read-only view of what is stored, by sha256 (for tests' assertions)."""
        return MappingProxyType(self._blobs)

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> BlobInfo:
        """Collect the stream, verify it, then store it under its hash.

        See :meth:`BlobStore.put`.

        Raises:
            ChecksumMismatchError: The bytes do not hash to ``expected_sha256``.
            FileTooLargeError: More than ``max_size`` bytes arrived.
            ValueError: ``expected_sha256`` is not a lowercase hex sha256.
        """
        if expected_sha256 is not None:
            check_sha256(expected_sha256)
        reader = HashingReader(expected_sha256=expected_sha256, max_size=max_size)
        buffer = bytearray()
        async for chunk in chunks:
            reader.update(chunk)
            buffer += chunk
        sha256 = reader.verify()
        created = sha256 not in self._blobs
        if created:
            self._blobs[sha256] = bytes(buffer)
        return BlobInfo(sha256=sha256, size=reader.size, created=created)

    def get(self, sha256: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the blob in chunks of at most ``chunk_size`` bytes.

        Raises:
            BlobNotFoundError: No such blob (on first iteration).
            ValueError: ``sha256`` is not a lowercase hex sha256 (at once).
        """
        return self._read(check_sha256(sha256), chunk_size)

    async def _read(self, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        try:
            data = self._blobs[sha256]
        except KeyError:
            raise BlobNotFoundError(sha256) from None
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def stat(self, sha256: str) -> int | None:
        """The blob's size, or None when it is not stored."""
        data = self._blobs.get(check_sha256(sha256))
        return None if data is None else len(data)

    async def delete(self, sha256: str) -> None:
        """Forget the blob (no error when it is absent)."""
        self._blobs.pop(check_sha256(sha256), None)

    async def stage(
        self, name: str, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> StagedBlob:
        """Collect and hash the stream into the slot ``name`` (see :meth:`BlobStore.stage`)."""
        check_staging_name(name)
        reader = HashingReader(max_size=max_size)
        buffer = bytearray()
        async for chunk in chunks:
            reader.update(chunk)
            buffer += chunk
        self._staged[name] = (reader.sha256, bytes(buffer))
        return StagedBlob(size=reader.size, sha256=reader.sha256)

    async def staged(self, name: str) -> StagedBlob | None:
        """The slot's size and sha256, or None when it is empty."""
        entry = self._staged.get(check_staging_name(name))
        return None if entry is None else StagedBlob(size=len(entry[1]), sha256=entry[0])

    async def adopt(
        self,
        name: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> BlobInfo:
        """Store the staged bytes under their hash (see :meth:`BlobStore.adopt`)."""
        entry = self._staged.get(check_staging_name(name))
        if entry is None:
            raise BlobNotFoundError(name)
        sha256, data = entry
        check_staged(StagedBlob(size=len(data), sha256=sha256), expected_sha256, expected_size)
        created = sha256 not in self._blobs
        if created:
            self._blobs[sha256] = data
        return BlobInfo(sha256=sha256, size=len(data), created=created)

    async def discard_staged(self, name: str) -> None:
        """Forget the slot (no error when it is empty)."""
        self._staged.pop(check_staging_name(name), None)
