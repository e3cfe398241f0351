"""The S3 store's clean-up: what a killed process leaves behind, found by listing.

Spool files whose writer is gone (``spool_dir``; the hub puts it in its data folder),
unfinished multipart uploads (boto3's own for large blobs, and the hub's for presigned
parts), staging objects nobody completes, and blobs no version references (the sweeper
decides which; :meth:`S3Cleanup.list_blobs` only lists them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from botocore.exceptions import ClientError

from artifact_hub.adapters.storage.base import check_sha256, remove_stale_spool
from artifact_hub.adapters.storage.s3_client import STAGING_PREFIX, S3Objects, error_code
from artifact_hub.ports.blobs import StoredBlob, SweptBytes

__all__ = ["S3Cleanup"]


class S3Cleanup(S3Objects):
    """Listing and sweeping an S3 store (abstract, see S3BlobStore)."""

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
                        if error_code(error) != "NoSuchUpload":
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
            if error_code(error) != "NoSuchUpload":
                raise
        return total
