"""The blob store port: content-addressed, streaming, write-once storage of bytes.

A blob is named by the sha256 of its bytes. Writing streams the bytes to a temporary place
while hashing them and makes the blob visible under its hash only once it is complete and
verified, so a half-finished upload is never visible. Writing the same bytes twice stores them
once. Reading streams chunks; the caller verifies the hash (see ``HashingReader``).

The adapters (``artifact_hub.adapters.storage``: local folder, S3, memory) implement
:class:`BlobStore`; a store whose clients upload straight to it (S3's presigned and multipart
uploads) also implements :class:`DirectUploads`, which the upload service detects with
``isinstance`` so it never names an adapter.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from artifact_hub.core.errors import ChecksumMismatchError, FileTooLargeError

__all__ = [
    "CHUNK_SIZE",
    "BlobInfo",
    "BlobNotFoundError",
    "BlobStore",
    "DirectPut",
    "DirectUploads",
    "HashingReader",
    "StagedBlob",
    "StoredBlob",
    "SweptBytes",
]

CHUNK_SIZE = 1024 * 1024
"""The size of the chunks a store reads and writes in (1 MiB)."""


class BlobNotFoundError(KeyError):
    """No blob is stored under that sha256 (an internal error: the index points at nothing)."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What a write stored: the content address and size."""

    sha256: str
    size: int
    created: bool
    """False when a blob with the same bytes was already there (deduplicated)."""


@dataclass(frozen=True, slots=True)
class StagedBlob:
    """Bytes staged for a direct upload (see :meth:`BlobStore.stage`), not yet a blob."""

    size: int
    sha256: str | None
    """Their sha256 as the store established it while they were written, or None when the
    store does not know it (S3 objects uploaded without a whole-object SHA256 checksum)."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """One blob as a store lists it (see :meth:`BlobStore.list_blobs`)."""

    sha256: str
    size: int
    modified: datetime
    """When it was last written (or, on the local store, adopted)."""


@dataclass(slots=True)
class SweptBytes:
    """What a clean-up of a store removed: how many things, and their bytes."""

    count: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        """Count one removed thing of ``size`` bytes."""
        self.count += 1
        self.bytes += size


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

    # ---------------------------------------------------------------- staged uploads
    # A presigned upload stages its bytes under a name (the upload id) and, once they are
    # checked, ``adopt`` makes them a blob by moving them under their hash: the bytes are
    # written once and never read back by the hub.

    async def stage(
        self, name: str, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> StagedBlob:
        """Write a stream to the staging slot ``name`` while hashing it.

        The slot's previous bytes (an earlier PUT) are replaced only once the new stream is
        complete; on any error nothing of the new stream remains.

        Raises:
            FileTooLargeError: More than ``max_size`` bytes arrived.
            NotImplementedError: The store stages uploads its own way (S3: presigned PUTs).
        """
        raise NotImplementedError(f"{type(self).__name__} does not stage streams")

    async def staged(self, name: str) -> StagedBlob | None:
        """What the slot ``name`` holds (size, and sha256 when known), without reading it."""
        raise NotImplementedError(f"{type(self).__name__} does not stage uploads")

    async def adopt(
        self,
        name: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> BlobInfo:
        """Make the staged bytes of ``name`` the blob of their hash, without reading them.

        The staged bytes stay in their slot until :meth:`discard_staged` (so a write that
        fails after this can adopt them again).

        Raises:
            ChecksumMismatchError: Their sha256 or size is not the expected one.
            BlobNotFoundError: Nothing is staged under ``name``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not stage uploads")

    async def discard_staged(self, name: str) -> None:
        """Remove whatever is staged under ``name`` (no error when nothing is)."""
        raise NotImplementedError(f"{type(self).__name__} does not stage uploads")

    # ---------------------------------------------------------------- clean-up
    # What a process killed mid-write leaves (SIGKILL runs no ``finally``): spool files,
    # staged uploads nobody completes, S3 multipart uploads nobody completes or aborts, and
    # blobs stored before the commit that would have referenced them. The sweeper removes
    # them (service/sweeper.py); listing needs a store that can enumerate itself.

    async def remove_stale_spool(self) -> SweptBytes:
        """Remove the spool files of writers that are gone (see :func:`remove_stale_spool`).

        Safe while other processes write: a live writer's file is locked.
        """
        return SweptBytes()

    def list_blobs(self) -> AsyncIterator[StoredBlob]:
        """Every blob the store holds, in no particular order.

        Raises:
            NotImplementedError: The store cannot be listed (then no orphan is collected).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list its blobs")

    async def remove_stale_staging(self, older_than: datetime) -> SweptBytes:
        """Remove staged uploads (and unfinished S3 multipart uploads) begun before a time.

        The caller picks ``older_than`` beyond any upload's life, so nothing removed here
        could still be completed.
        """
        return SweptBytes()

    async def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing
        """Release connections or threads."""


@dataclass(frozen=True, slots=True)
class DirectPut:
    """Where a client PUTs an upload's bytes straight to the store, and with which headers."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    """Headers the URL is signed for beyond ``Content-Length`` (e.g. a checksum)."""


@runtime_checkable
class DirectUploads(Protocol):
    """A store clients upload to directly: one presigned PUT, or presigned multipart parts.

    The bytes land in a staging object named after the upload (``staging_key``); the store's
    :meth:`BlobStore.adopt` then makes them a blob. Implemented by ``S3BlobStore``.
    """

    @property
    def max_parts(self) -> int:
        """The most parts one multipart upload may have."""
        ...

    @property
    def min_part_size(self) -> int:
        """The smallest part (all but the last) a multipart upload accepts."""
        ...

    def staging_key(self, name: str) -> str:
        """The store's key of the staging object of upload ``name`` (ValueError if unsafe)."""
        ...

    async def direct_put(
        self, name: str, *, expires_in: timedelta, size: int, sha256: str | None = None
    ) -> DirectPut:
        """A presigned PUT of exactly ``size`` bytes (hashing to ``sha256`` when given)."""
        ...

    async def create_multipart_upload(self, name: str) -> str:
        """Start a multipart upload to the staging object of ``name``; its upload id."""
        ...

    async def presigned_part_urls(
        self, name: str, upload_id: str, part_sizes: list[int], *, expires_in: timedelta
    ) -> list[str]:
        """One presigned URL per part, each signed for its size."""
        ...

    async def complete_multipart_upload(self, name: str, upload_id: str) -> bool:
        """Complete it with the parts the store has; False when it is gone or has none.

        Raises:
            ChecksumMismatchError: The parts cannot make one object.
        """
        ...

    async def multipart_upload_ids(self, name: str) -> list[str]:
        """The ids of the unfinished multipart uploads to the staging object of ``name``."""
        ...

    async def abort_multipart_upload(self, name: str, upload_id: str) -> None:
        """Abort the multipart upload and drop its parts (no error when it is gone)."""
        ...
