"""The S3 store's direct uploads: presigned PUTs and multipart parts, and their adoption.

Presigned uploads never pass through the hub: the client PUTs to ``staging/<upload id>``
(one presigned PUT, or presigned ``UploadPart`` URLs of a multipart upload the hub started),
and :meth:`S3Uploads.adopt` makes the staged object a blob with S3-side copies, its sha256
established by S3 (see there). This is the store's side of the
:class:`~artifact_hub.ports.blobs.DirectUploads` port.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import Any, cast

from botocore.exceptions import ClientError

from artifact_hub.adapters.storage.base import check_staged
from artifact_hub.adapters.storage.s3_client import (
    MAX_PARTS,
    MIN_PART_SIZE,
    S3Objects,
    error_code,
    is_not_found,
    sha256_header,
    storage_errors,
)
from artifact_hub.core.errors import ChecksumMismatchError
from artifact_hub.ports.blobs import BlobInfo, BlobNotFoundError, DirectPut, StagedBlob

__all__ = ["S3Uploads"]

# CompleteMultipartUpload's answers to parts that cannot make one object (a part under 5 MiB
# before the last, a part changed meanwhile): the upload's fault, not the hub's.
_BAD_PARTS_CODES = frozenset({"EntityTooSmall", "InvalidPart", "InvalidPartOrder"})


class S3Uploads(S3Objects):
    """Direct uploads to staging objects, and adopting them as blobs (abstract, see S3BlobStore)."""

    max_parts = MAX_PARTS
    min_part_size = MIN_PART_SIZE

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

    async def direct_put(
        self, name: str, *, expires_in: timedelta, size: int, sha256: str | None = None
    ) -> DirectPut:
        """A presigned PUT to ``staging/<name>`` and the checksum header it is signed for.

        See :meth:`presigned_put_url`; the client must send ``x-amz-checksum-sha256`` when
        ``sha256`` is given.
        """
        url = await self.presigned_put_url(name, expires_in=expires_in, size=size, sha256=sha256)
        if url is None:  # pragma: no cover - an S3 store always presigns
            raise RuntimeError("the S3 store gave no presigned URL")
        headers = {} if sha256 is None else {"x-amz-checksum-sha256": sha256_header(sha256)}
        return DirectPut(url=url, headers=headers)

    # ---------------------------------------------------------------- multipart uploads

    async def create_multipart_upload(self, key: str) -> str:
        """Start a multipart upload to the staging object ``staging/<key>``; its upload id."""
        with storage_errors():
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
        with storage_errors():
            return await asyncio.to_thread(
                self._complete_multipart, self.staging_key(key), upload_id
            )

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
            code = error_code(error)
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
        with storage_errors():
            response = await asyncio.to_thread(
                self._client.list_multipart_uploads, Bucket=self.bucket, Prefix=staging
            )
        return [u["UploadId"] for u in response.get("Uploads", []) if u.get("Key") == staging]

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Abort the multipart upload and drop its parts (no error when it is gone)."""
        try:
            with storage_errors():
                await asyncio.to_thread(
                    self._client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=self.staging_key(key),
                    UploadId=upload_id,
                )
        except ClientError as error:
            if error_code(error) != "NoSuchUpload" and not is_not_found(error):
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
            with storage_errors():
                sha256 = await asyncio.to_thread(self._copy_with_sha256, staging, staging, None)
        check_staged(StagedBlob(size=size, sha256=sha256), expected_sha256, None)
        if await self.stat(sha256) == size:
            return BlobInfo(sha256=sha256, size=size, created=False)
        with storage_errors():
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

        Raises:
            BlobNotFoundError: ``source`` is gone (a concurrent completion of the same upload
                adopted it and removed it between our HEAD and this copy).
        """
        try:
            result = self._client.copy_object(
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": source},
                ChecksumAlgorithm="SHA256",
                MetadataDirective="REPLACE",
                ContentType="application/octet-stream",
                Metadata={} if sha256 is None else {"sha256": sha256},
            )
        except ClientError as error:
            if is_not_found(error):
                raise BlobNotFoundError(source) from error
            raise
        value = result.get("CopyObjectResult", {}).get("ChecksumSHA256")
        if not value or "-" in value:
            raise ChecksumMismatchError(f"S3 gave no whole-object SHA256 for {source}")
        return base64.b64decode(value).hex()

    async def discard_staged(self, name: str) -> None:
        """Delete the staging object (S3 answers the same when it is absent)."""
        with storage_errors():
            await asyncio.to_thread(
                self._client.delete_object, Bucket=self.bucket, Key=self.staging_key(name)
            )


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
