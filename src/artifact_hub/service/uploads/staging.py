"""Where an upload's bytes wait: the blob store's staging area and S3 multipart uploads.

:class:`UploadStaging` also holds the upload service's parts (its constructor).
"""

from __future__ import annotations

from datetime import timedelta

from artifact_hub.ports.blobs import BlobStore, DirectUploads
from artifact_hub.ports.transactions import Transactions
from artifact_hub.ports.uploads import UploadStore
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.service.signing import UrlSigner
from artifact_hub.service.uploads.sizes import MULTIPART_THRESHOLD, PART_SIZE

_MPU_SEPARATOR = "#"
"""``uploads.staging_key`` of a multipart upload: ``staging/<upload_id>#<S3 upload id>``."""


def _mpu_id(staging_key: str | None) -> str | None:
    """The S3 multipart upload id kept in ``uploads.staging_key``, if any."""
    if not staging_key or _MPU_SEPARATOR not in staging_key:
        return None
    return staging_key.split(_MPU_SEPARATOR, 1)[1]


def _direct_uploads(blobs: BlobStore) -> DirectUploads | None:
    """The store's direct uploads (S3's presigned PUTs and parts), if it takes any."""
    return blobs if isinstance(blobs, DirectUploads) else None


class UploadStaging:
    """The staged bytes of presigned uploads, and the upload service's parts.

    Args:
        db: The index's transactions.
        artifacts: The artifact service; ``complete`` pushes through it, and its blob store
            stages the bytes (directly from clients when it implements ``DirectUploads``).
        signer: Signs the hub's upload URLs (stores without presigned PUTs).
        public_url: The hub's base URL as clients see it.
        url_ttl: How long an upload URL works.
        complete_grace: How long after the URL's expiry ``complete`` is still accepted: an
            upload that started just before the expiry may take a while to finish.
        multipart_threshold: On S3, uploads larger than this go in presigned parts.
        part_size: The parts' size (at least 5 MiB; raised so no upload needs over 10,000).
        store: The pending uploads (the ``uploads`` table).
    """

    def __init__(
        self,
        db: Transactions,
        artifacts: ArtifactService,
        signer: UrlSigner,
        public_url: str,
        *,
        store: UploadStore,
        url_ttl: timedelta = timedelta(hours=1),
        complete_grace: timedelta = timedelta(hours=1),
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ) -> None:
        self.db = db
        self.store = store
        self.artifacts = artifacts
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.url_ttl = url_ttl
        self.complete_grace = complete_grace
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._s3 = _direct_uploads(artifacts.blobs)

    @property
    def blobs(self) -> BlobStore:
        """The artifact service's blob store, where uploads are staged."""
        return self.artifacts.blobs

    def _part_size(self, direct: DirectUploads, size: int) -> int:
        part = max(self.part_size, direct.min_part_size)
        while -(-size // part) > direct.max_parts:
            part *= 2
        return part

    async def _staged_size(self, upload_id: str) -> int | None:
        staged = await self.blobs.staged(upload_id)
        return None if staged is None else staged.size

    async def _mpu_ids(self, upload_id: str, staging_key: str | None) -> list[str]:
        """The S3 multipart upload of this upload, if it has one (kept, or looked up)."""
        mpu_id = _mpu_id(staging_key)
        if self._s3 is None or mpu_id is None:
            return []
        if mpu_id:
            return [mpu_id]
        return await self._s3.multipart_upload_ids(upload_id)

    async def _discard(self, upload_id: str, staging_key: str | None = None) -> None:
        """Drop the staged bytes (and on S3 an unfinished multipart upload's parts)."""
        for mpu_id in await self._mpu_ids(upload_id, staging_key):
            assert self._s3 is not None  # only S3 uploads have one
            await self._s3.abort_multipart_upload(upload_id, mpu_id)
        await self.blobs.discard_staged(upload_id)
