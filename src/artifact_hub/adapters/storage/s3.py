"""Blobs as objects in an S3 bucket (AWS S3, MinIO, moto, and other S3 APIs).

A blob is the object ``<prefix><sha256>``. A write spools the stream to a local temporary
file while hashing it (the key is the hash, so it is known only at the end), then uploads
the file with boto3's transfer manager: one PUT, or a multipart upload past
``multipart_threshold``. S3 makes an object visible only when its PUT or its multipart
upload completes, so a half-written blob is never visible under its key.

The store is assembled from one module per job: the client, keys and shared calls
(:mod:`.s3_client`), presigned and multipart direct uploads and their adoption
(:mod:`.s3_uploads`), and the clean-up of what a killed process leaves (:mod:`.s3_cleanup`).
This module holds the blob reads and writes. boto3 is blocking; every call runs in a worker
thread (``asyncio.to_thread``).

On checksums (botocore >= 1.36 computes CRC32 request checksums by default, which some
S3-compatible services reject): uploads here name ``ChecksumAlgorithm="SHA256"``
explicitly, so the default never applies to them, and botocore adds no default checksum
to presigned URLs; moto 5.2 works either way. The defaults are therefore left alone, which
also keeps response validation on: botocore checks a single-part object's stored SHA256 as
it streams, and a mismatch surfaces as ``ChecksumMismatchError``. Pass your own ``client``
to change any of this.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, FlexibleChecksumError

from artifact_hub.adapters.storage.base import (
    check_sha256,
    content_disposition,
    spool_to_temp_file,
)
from artifact_hub.adapters.storage.s3_cleanup import S3Cleanup
from artifact_hub.adapters.storage.s3_client import (
    MAX_PARTS,
    MIN_PART_SIZE,
    STAGING_PREFIX,
    is_not_found,
    sha256_header,
    storage_errors,
)
from artifact_hub.adapters.storage.s3_uploads import S3Uploads
from artifact_hub.core.errors import ChecksumMismatchError
from artifact_hub.ports.blobs import CHUNK_SIZE, BlobInfo, BlobNotFoundError, HashingReader

if TYPE_CHECKING:
    from botocore.response import StreamingBody

    from artifact_hub.ports.blobs import DirectUploads

# The S3 limits and helpers callers imported from here before the split.
__all__ = ["MAX_PARTS", "MIN_PART_SIZE", "STAGING_PREFIX", "S3BlobStore", "sha256_header"]


class S3BlobStore(S3Uploads, S3Cleanup):
    """Content-addressed blobs as objects in one S3 bucket.

    Args:
        bucket: The bucket's name (see :meth:`ensure_bucket`).
        endpoint_url: The S3 API's URL for MinIO, moto and other non-AWS services; None
            for AWS. When set, requests use path-style addressing (``host/bucket/key``).
        region_name: The bucket's region.
        aws_access_key_id: Credentials; None to use boto3's usual chain (environment,
            profile, instance role).
        aws_secret_access_key: See ``aws_access_key_id``.
        prefix: Put in front of every blob's sha256 to make its key.
        multipart_threshold: Files at least this large are uploaded in parts.
        multipart_chunksize: The size of one part (default: ``multipart_threshold``).
            boto3 raises it when a file would otherwise need more than 10,000 parts.
        max_concurrency: Parts uploaded at once by one ``put``. Each ``put`` runs its own
            pool of this many threads, and each part in flight holds one to two MiB of
            buffers, so this bounds a write's memory and threads; boto3's default is 10.
        spool_dir: Where streams are spooled before the upload (default: the system's
            temporary directory; the hub passes ``data_dir/spool``, where a restart finds
            what a killed process left). It needs room for the largest blob being written.
        client: A ready boto3 S3 client; the connection arguments above are then ignored,
            and :meth:`close` leaves it open.
        max_attempts: Attempts per S3 call in botocore's standard retry mode (5xx,
            throttling, connection errors; jittered exponential backoff). What still fails
            raises :class:`~artifact_hub.core.errors.StorageUnavailableError`.
    """

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> BlobInfo:
        """Spool and hash the stream, then upload it under its hash unless it is there.

        See :meth:`BlobStore.put`. The object carries ``ChecksumAlgorithm=SHA256`` (S3 checks
        every part) and the metadata ``sha256``.

        Raises:
            ChecksumMismatchError: The bytes do not hash to ``expected_sha256``.
            FileTooLargeError: More than ``max_size`` bytes arrived.
            StorageUnavailableError: S3 kept failing after the client's retries; nothing new
                is visible under the blob's key.
            ValueError: ``expected_sha256`` is not a lowercase hex sha256.
        """
        if expected_sha256 is not None:
            check_sha256(expected_sha256)
        reader = HashingReader(expected_sha256=expected_sha256, max_size=max_size)
        async with spool_to_temp_file(chunks, self.spool_dir, reader) as spooled:
            sha256, size = reader.sha256, reader.size
            # Same hash, same bytes: keep the object that is there, unless its size shows it
            # is not that blob (then the verified upload replaces it).
            if await self.stat(sha256) == size:
                return BlobInfo(sha256=sha256, size=size, created=False)
            # When this task is cancelled here, the worker thread goes on: either the upload
            # completes (a verified blob, fine) or the spool file is removed under it, a part
            # fails and boto3 aborts the multipart upload. Nothing partial becomes visible.
            with storage_errors():
                await asyncio.to_thread(self._upload, spooled, sha256)
        return BlobInfo(sha256=sha256, size=size, created=True)

    def _upload(self, path: Path, sha256: str) -> None:
        self._client.upload_file(
            str(path),
            self.bucket,
            self.key_for(sha256),
            ExtraArgs={
                "ChecksumAlgorithm": "SHA256",
                "Metadata": {"sha256": sha256},
                "ContentType": "application/octet-stream",
            },
            Config=self._transfer_config,
        )

    def get(self, sha256: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the object in chunks of at most ``chunk_size`` bytes.

        Raises:
            BlobNotFoundError: No such blob (on first iteration).
            ChecksumMismatchError: S3 returned a checksum the bytes do not match.
            StorageUnavailableError: S3 kept failing after the client's retries.
            ValueError: ``sha256`` is not a lowercase hex sha256 (at once).
        """
        return self._read(self.key_for(sha256), sha256, chunk_size)

    async def _read(self, key: str, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        with storage_errors():
            try:
                response = await asyncio.to_thread(
                    self._client.get_object, Bucket=self.bucket, Key=key
                )
            except ClientError as error:
                if is_not_found(error):
                    raise BlobNotFoundError(sha256) from None
                raise
        body: StreamingBody = response["Body"]
        pieces = body.iter_chunks(chunk_size)
        try:
            while True:
                with storage_errors():  # a connection lost mid-body
                    chunk = await asyncio.to_thread(_next_chunk, pieces, sha256)
                if chunk is None:
                    break
                yield chunk
        finally:
            # Gives the connection back to the pool when the reader stops early.
            body.close()

    async def presigned_get_url(
        self,
        sha256: str,
        *,
        expires_in: timedelta,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """A URL that reads the blob straight from S3 until ``expires_in`` has passed.

        ``filename`` and ``content_type`` become S3's ``response-content-disposition`` and
        ``response-content-type`` overrides (they are part of the signature).
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key_for(sha256)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        if content_type:
            params["ResponseContentType"] = content_type
        return await self._presign("get_object", params, expires_in)


def _next_chunk(pieces: Iterator[bytes], sha256: str) -> bytes | None:
    """The next chunk, or None at the end (``StopIteration`` must not cross a thread)."""
    try:
        return next(pieces, None)
    except FlexibleChecksumError as error:
        raise ChecksumMismatchError(
            f"S3 returned bytes that do not match its stored checksum for blob {sha256}",
            sha256=sha256,
        ) from error


if TYPE_CHECKING:
    _direct: type[DirectUploads] = S3BlobStore
