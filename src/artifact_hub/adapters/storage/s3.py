"""Blobs as objects in an S3 bucket (AWS S3, MinIO, moto, and other S3 APIs).

A blob is the object ``<prefix><sha256>``. A write spools the stream to a local temporary
file while hashing it (the key is the hash, so it is known only at the end), then uploads
the file with boto3's transfer manager: one PUT, or a multipart upload past
``multipart_threshold``. S3 makes an object visible only when its PUT or its multipart
upload completes, so a half-written blob is never visible under its key.

Presigned uploads never pass through the hub: the client PUTs to ``staging/<upload id>``
(one presigned PUT, or presigned ``UploadPart`` URLs of a multipart upload the hub started),
and :meth:`S3BlobStore.adopt` makes the staged object a blob with S3-side copies, its
sha256 established by S3 (see there).

boto3 is blocking; every call runs in a worker thread (``asyncio.to_thread``).

What a killed process leaves behind is found by listing: spool files whose writer is gone
(``spool_dir``; the hub puts it in its data folder), unfinished multipart uploads (boto3's own
for large blobs, and the hub's for presigned parts), staging objects nobody completes, and
blobs no version references (see ``remove_stale_staging`` and ``list_blobs``).

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
import base64
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, FlexibleChecksumError

from artifact_hub.adapters.storage.base import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    HashingReader,
    StagedBlob,
    StoredBlob,
    SweptBytes,
    check_sha256,
    check_staged,
    check_staging_name,
    content_disposition,
    remove_stale_spool,
    spool_to_temp_file,
)
from artifact_hub.core.errors import ChecksumMismatchError

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CreateBucketConfigurationTypeDef

__all__ = ["S3BlobStore"]

MiB = 1024 * 1024
STAGING_PREFIX = "staging/"
MAX_PARTS = 10_000
"""S3's most parts in one multipart upload."""
MIN_PART_SIZE = 5 * MiB
"""S3's smallest part (all but the last)."""
# HEAD answers have no body, so a missing key there is just "404". A missing bucket
# (NoSuchBucket) is a configuration error and is not one of these.
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
# CompleteMultipartUpload's answers to parts that cannot make one object (a part under 5 MiB
# before the last, a part changed meanwhile): the upload's fault, not the hub's.
_BAD_PARTS_CODES = frozenset({"EntityTooSmall", "InvalidPart", "InvalidPartOrder"})


class S3BlobStore(BlobStore):
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
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        prefix: str = "blobs/",
        multipart_threshold: int = 8 * MiB,
        multipart_chunksize: int | None = None,
        max_concurrency: int = 4,
        spool_dir: Path | str | None = None,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._owns_client = client is None
        if client is None:
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region_name,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
                config=_client_config(path_style=endpoint_url is not None),
            )
        self._client = client
        self._transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize or multipart_threshold,
            max_concurrency=max_concurrency,
        )
        self.spool_dir = Path(spool_dir) if spool_dir is not None else Path(tempfile.gettempdir())
        self.spool_dir.mkdir(parents=True, exist_ok=True)

    @property
    def client(self) -> S3Client:
        """The boto3 client (blocking: call it from a worker thread)."""
        return self._client

    def key_for(self, sha256: str) -> str:
        """The object key a blob is (or would be) stored under.

        Raises:
            ValueError: ``sha256`` is not 64 lowercase hex characters.
        """
        return self.prefix + check_sha256(sha256)

    def staging_key(self, name: str) -> str:
        """The object key of a staged direct upload named ``name`` (see ``presigned_put_url``).

        Raises:
            ValueError: ``name`` is not one safe path segment (letters, digits, ``._-``).
        """
        return STAGING_PREFIX + check_staging_name(name)

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (safe to race with another creator)."""
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as error:
            if not _is_not_found(error):
                raise
        region = self._client.meta.region_name
        try:
            if region in (None, "", "us-east-1"):
                # us-east-1 is the one region that refuses an explicit LocationConstraint.
                self._client.create_bucket(Bucket=self.bucket)
            else:
                configuration = cast(
                    "CreateBucketConfigurationTypeDef", {"LocationConstraint": region}
                )
                self._client.create_bucket(
                    Bucket=self.bucket, CreateBucketConfiguration=configuration
                )
        except ClientError as error:
            if _error_code(error) != "BucketAlreadyOwnedByYou":
                raise

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
            ValueError: ``sha256`` is not a lowercase hex sha256 (at once).
        """
        return self._read(self.key_for(sha256), sha256, chunk_size)

    async def _read(self, key: str, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        try:
            response = await asyncio.to_thread(self._client.get_object, Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_not_found(error):
                raise BlobNotFoundError(sha256) from None
            raise
        body: StreamingBody = response["Body"]
        pieces = body.iter_chunks(chunk_size)
        try:
            while (chunk := await asyncio.to_thread(_next_chunk, pieces, sha256)) is not None:
                yield chunk
        finally:
            # Gives the connection back to the pool when the reader stops early.
            body.close()

    async def stat(self, sha256: str) -> int | None:
        """The object's size, or None when it is not stored."""
        key = self.key_for(sha256)
        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_not_found(error):
                return None
            raise
        return head["ContentLength"]

    async def delete(self, sha256: str) -> None:
        """Delete the object (S3 answers the same when it is absent)."""
        key = self.key_for(sha256)
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

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

    async def presigned_put_url(
        self,
        key: str,
        *,
        expires_in: timedelta,
        size: int | None = None,
        sha256: str | None = None,
    ) -> str | None:
        """A URL for a direct PUT to the staging object ``staging/<key>``.

        The staged object is not a blob: :meth:`adopt` moves it under its hash after
        checking it. ``key`` is a name such as an upload id; see :meth:`staging_key`.

        Args:
            key: The staging name, one path segment.
            expires_in: How long the URL works.
            size: When given, the URL is signed for exactly this ``Content-Length``.
            sha256: When given, the URL is signed for the header ``x-amz-checksum-sha256``
                (:func:`sha256_header`): S3 refuses bytes that do not hash to it, and keeps
                it as the object's checksum, so :meth:`adopt` needs no copy to learn it.

        Raises:
            ValueError: ``key`` is not a valid staging name, or ``sha256`` no sha256.
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.staging_key(key)}
        if size is not None:
            params["ContentLength"] = size
        if sha256 is not None:
            params["ChecksumSHA256"] = sha256_header(sha256)
        return await self._presign("put_object", params, expires_in)

    # ---------------------------------------------------------------- multipart uploads

    async def create_multipart_upload(self, key: str) -> str:
        """Start a multipart upload to the staging object ``staging/<key>``; its upload id."""
        response = await asyncio.to_thread(
            self._client.create_multipart_upload,
            Bucket=self.bucket,
            Key=self.staging_key(key),
            ContentType="application/octet-stream",
        )
        return response["UploadId"]

    async def presigned_part_urls(
        self, key: str, upload_id: str, part_sizes: list[int], *, expires_in: timedelta
    ) -> list[str]:
        """One presigned ``UploadPart`` URL per part, each signed for its ``Content-Length``."""
        staging = self.staging_key(key)
        urls: list[str] = []
        for number, size in enumerate(part_sizes, start=1):
            params = {
                "Bucket": self.bucket,
                "Key": staging,
                "UploadId": upload_id,
                "PartNumber": number,
                "ContentLength": size,
            }
            urls.append(await self._presign("upload_part", params, expires_in))
        return urls

    async def complete_multipart_upload(self, key: str, upload_id: str) -> bool:
        """Complete the multipart upload with the parts S3 has (``ListParts``).

        Returns False when S3 no longer knows the upload (already completed or aborted) or
        has no part of it yet.

        Raises:
            ChecksumMismatchError: The parts cannot make one object (one too small, ...).
        """
        return await asyncio.to_thread(self._complete_multipart, self.staging_key(key), upload_id)

    def _complete_multipart(self, staging: str, upload_id: str) -> bool:
        parts: list[dict[str, Any]] = []
        marker = 0
        try:
            while True:
                page = self._client.list_parts(
                    Bucket=self.bucket, Key=staging, UploadId=upload_id, PartNumberMarker=marker
                )
                parts += [
                    {"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                    for p in page.get("Parts", [])
                ]
                if not page.get("IsTruncated"):
                    break
                marker = int(page["NextPartNumberMarker"])
            if not parts:
                return False
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=staging,
                UploadId=upload_id,
                MultipartUpload=cast(Any, {"Parts": parts}),
            )
        except ClientError as error:
            code = _error_code(error)
            if code == "NoSuchUpload":
                return False
            if code in _BAD_PARTS_CODES:
                raise ChecksumMismatchError(
                    f"the uploaded parts do not make one object ({code})", code=code
                ) from error
            raise
        return True

    async def multipart_upload_ids(self, key: str) -> list[str]:
        """The ids of the unfinished multipart uploads to ``staging/<key>``."""
        staging = self.staging_key(key)
        response = await asyncio.to_thread(
            self._client.list_multipart_uploads, Bucket=self.bucket, Prefix=staging
        )
        return [u["UploadId"] for u in response.get("Uploads", []) if u.get("Key") == staging]

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Abort the multipart upload and drop its parts (no error when it is gone)."""
        try:
            await asyncio.to_thread(
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self.staging_key(key),
                UploadId=upload_id,
            )
        except ClientError as error:
            if _error_code(error) != "NoSuchUpload" and not _is_not_found(error):
                raise

    # ---------------------------------------------------------------- staged uploads

    async def staged(self, name: str) -> StagedBlob | None:
        """The staging object's size, and its sha256 when S3 holds a whole-object SHA256."""
        head = await self._head(self.staging_key(name))
        if head is None:
            return None
        return StagedBlob(size=head["ContentLength"], sha256=_whole_sha256(head))

    async def adopt(
        self,
        name: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> BlobInfo:
        """Make the staging object the blob of its hash, with S3-side copies only.

        The hub never reads the bytes. Their sha256 is S3's: the whole-object SHA256 checksum
        S3 verified on a single PUT signed with it (see :meth:`presigned_put_url`), else the
        one S3 computes while copying the object over itself with ``ChecksumAlgorithm=SHA256``
        (a ``CopyObject`` result is a single-part object, so its checksum is of the whole
        object, not a checksum of part checksums). The object is then copied under its hash
        unless that blob is there already. Objects up to 5 GB (the presigned limit).

        Raises:
            BlobNotFoundError: Nothing is staged under ``name``.
            ChecksumMismatchError: Its size or sha256 is not the expected one.
        """
        staging = self.staging_key(name)
        head = await self._head(staging)
        if head is None:
            raise BlobNotFoundError(name)
        size = int(head["ContentLength"])
        check_staged(StagedBlob(size=size, sha256=None), None, expected_size)
        sha256 = _whole_sha256(head)
        if sha256 is None:
            sha256 = await asyncio.to_thread(self._copy_with_sha256, staging, staging, None)
        check_staged(StagedBlob(size=size, sha256=sha256), expected_sha256, None)
        if await self.stat(sha256) == size:
            return BlobInfo(sha256=sha256, size=size, created=False)
        copied = await asyncio.to_thread(
            self._copy_with_sha256, staging, self.key_for(sha256), sha256
        )
        if copied != sha256:  # the staging object changed under us (a second PUT)
            await self.delete(sha256)
            raise ChecksumMismatchError(
                f"the upload {name} changed while it was being stored", expected=sha256
            )
        return BlobInfo(sha256=sha256, size=size, created=True)

    def _copy_with_sha256(self, source: str, target: str, sha256: str | None) -> str:
        """``CopyObject`` with S3 computing a SHA256 of the copy; its hex digest.

        ``sha256`` becomes the copy's ``sha256`` metadata, as on blobs ``put`` writes.
        """
        result = self._client.copy_object(
            Bucket=self.bucket,
            Key=target,
            CopySource={"Bucket": self.bucket, "Key": source},
            ChecksumAlgorithm="SHA256",
            MetadataDirective="REPLACE",
            ContentType="application/octet-stream",
            Metadata={} if sha256 is None else {"sha256": sha256},
        )
        value = result.get("CopyObjectResult", {}).get("ChecksumSHA256")
        if not value or "-" in value:
            raise ChecksumMismatchError(f"S3 gave no whole-object SHA256 for {source}")
        return base64.b64decode(value).hex()

    async def discard_staged(self, name: str) -> None:
        """Delete the staging object (S3 answers the same when it is absent)."""
        await asyncio.to_thread(
            self._client.delete_object, Bucket=self.bucket, Key=self.staging_key(name)
        )

    async def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head = await asyncio.to_thread(
                self._client.head_object, Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
            )
        except ClientError as error:
            if _is_not_found(error):
                return None
            raise
        return cast("dict[str, Any]", head)

    async def _presign(self, method: str, params: dict[str, Any], expires_in: timedelta) -> str:
        # Signing is local, but resolving credentials may call an instance metadata service.
        return await asyncio.to_thread(
            self._client.generate_presigned_url,
            ClientMethod=method,
            Params=params,
            ExpiresIn=int(expires_in.total_seconds()),
        )

    # ---------------------------------------------------------------- clean-up

    async def remove_stale_spool(self) -> SweptBytes:
        """Remove the spool files in ``spool_dir`` whose writer is gone (see the base class)."""
        return await asyncio.to_thread(remove_stale_spool, self.spool_dir)

    async def list_blobs(self) -> AsyncIterator[StoredBlob]:
        """Every object under ``prefix`` named by a sha256, with its size and LastModified."""
        pages = await asyncio.to_thread(
            lambda: iter(
                self._client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self.prefix
                )
            )
        )
        while (page := await asyncio.to_thread(next, pages, None)) is not None:
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                try:
                    check_sha256(name)
                except ValueError:
                    continue
                yield StoredBlob(sha256=name, size=item["Size"], modified=item["LastModified"])

    async def remove_stale_staging(self, older_than: datetime) -> SweptBytes:
        """Abort multipart uploads begun before ``older_than``, delete old staging objects.

        Every unfinished multipart upload under ``staging/`` (presigned parts) and under
        ``prefix`` (``put``'s own, when its process died mid-upload) is aborted, which drops
        its parts; the bytes counted are those of the parts S3 lists.
        """
        return await asyncio.to_thread(self._remove_stale_staging, older_than)

    def _remove_stale_staging(self, older_than: datetime) -> SweptBytes:
        swept = SweptBytes()
        for prefix in (STAGING_PREFIX, self.prefix):
            paginator = self._client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] >= older_than:
                        continue
                    size = self._parts_size(upload["Key"], upload["UploadId"])
                    try:
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                    except ClientError as error:
                        if _error_code(error) != "NoSuchUpload":
                            raise
                        continue
                    swept.add(size)
        paginator2 = self._client.get_paginator("list_objects_v2")
        for page2 in paginator2.paginate(Bucket=self.bucket, Prefix=STAGING_PREFIX):
            for item in page2.get("Contents", []):
                if item["LastModified"] < older_than:
                    self._client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    swept.add(item["Size"])
        return swept

    def _parts_size(self, key: str, upload_id: str) -> int:
        total = 0
        try:
            paginator = self._client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                total += sum(part["Size"] for part in page.get("Parts", []))
        except ClientError as error:
            if _error_code(error) != "NoSuchUpload":
                raise
        return total

    async def close(self) -> None:
        """Close the client's connections, if this store created the client."""
        if self._owns_client:
            await asyncio.to_thread(self._client.close)


def sha256_header(sha256: str) -> str:
    """A hex sha256 as S3's ``x-amz-checksum-sha256`` value (base64 of the digest)."""
    return base64.b64encode(bytes.fromhex(check_sha256(sha256))).decode("ascii")


def _whole_sha256(head: Any) -> str | None:
    """The hex sha256 of a whole object from a HEAD answer, or None when S3 has none.

    A multipart object's SHA256 is a checksum of its parts' checksums (``...-N``,
    ``ChecksumType: COMPOSITE``), not the object's sha256.
    """
    value = head.get("ChecksumSHA256")
    if not value or "-" in value or head.get("ChecksumType") == "COMPOSITE":
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except ValueError:
        return None


def _client_config(*, path_style: bool) -> Config:
    return Config(
        # Without it botocore signs presigned URLs with SigV2, which newer AWS regions and
        # some S3-compatible services refuse.
        signature_version="s3v4",
        retries={"mode": "standard"},
        # Path style for MinIO and moto, which serve one host (bucket-in-hostname needs
        # wildcard DNS). Explicit virtual style for AWS: only then do presigned URLs use the
        # regional endpoint; the legacy global one fails in newer regions.
        s3={"addressing_style": "path" if path_style else "virtual"},
    )


def _next_chunk(pieces: Iterator[bytes], sha256: str) -> bytes | None:
    """The next chunk, or None at the end (``StopIteration`` must not cross a thread)."""
    try:
        return next(pieces, None)
    except FlexibleChecksumError as error:
        raise ChecksumMismatchError(
            f"S3 returned bytes that do not match its stored checksum for blob {sha256}",
            sha256=sha256,
        ) from error


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _is_not_found(error: ClientError) -> bool:
    return _error_code(error) in _NOT_FOUND_CODES
