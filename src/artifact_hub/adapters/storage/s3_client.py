"""The S3 store's connection: the boto3 client, its settings, keys and the calls all parts share.

:class:`S3Objects` is the base of :class:`~artifact_hub.adapters.storage.s3.S3BlobStore`:
it owns the client (session, signature version, retries, addressing style), names the keys
(``<prefix><sha256>`` for blobs, ``staging/<name>`` for direct uploads), and wraps the
object calls the reads, the direct uploads (:mod:`.s3_uploads`) and the clean-up
(:mod:`.s3_cleanup`) all use. boto3 is blocking; every call runs in a worker thread
(``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from artifact_hub.adapters.storage.base import check_sha256, check_staging_name
from artifact_hub.ports.blobs import BlobStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CreateBucketConfigurationTypeDef

__all__ = [
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "STAGING_PREFIX",
    "MiB",
    "S3Objects",
    "error_code",
    "is_not_found",
    "sha256_header",
]

MiB = 1024 * 1024
STAGING_PREFIX = "staging/"
MAX_PARTS = 10_000
"""S3's most parts in one multipart upload."""
MIN_PART_SIZE = 5 * MiB
"""S3's smallest part (all but the last)."""
# HEAD answers have no body, so a missing key there is just "404". A missing bucket
# (NoSuchBucket) is a configuration error and is not one of these.
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Objects(BlobStore):
    """The client, the keys and the shared object calls of an S3 blob store.

    Abstract: :class:`~artifact_hub.adapters.storage.s3.S3BlobStore` is the store. See
    there for the arguments.
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
                config=client_config(path_style=endpoint_url is not None),
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
            if not is_not_found(error):
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
            if error_code(error) != "BucketAlreadyOwnedByYou":
                raise

    async def stat(self, sha256: str) -> int | None:
        """The object's size, or None when it is not stored."""
        key = self.key_for(sha256)
        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_not_found(error):
                return None
            raise
        return head["ContentLength"]

    async def delete(self, sha256: str) -> None:
        """Delete the object (S3 answers the same when it is absent)."""
        key = self.key_for(sha256)
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def _head(self, key: str) -> dict[str, Any] | None:
        """HEAD with checksums, or None when the object is not there."""
        try:
            head = await asyncio.to_thread(
                self._client.head_object, Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
            )
        except ClientError as error:
            if is_not_found(error):
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

    async def close(self) -> None:
        """Close the client's connections, if this store created the client."""
        if self._owns_client:
            await asyncio.to_thread(self._client.close)


def client_config(*, path_style: bool) -> Config:
    """The botocore settings of a client the store creates itself."""
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


def sha256_header(sha256: str) -> str:
    """A hex sha256 as S3's ``x-amz-checksum-sha256`` value (base64 of the digest)."""
    return base64.b64encode(bytes.fromhex(check_sha256(sha256))).decode("ascii")


def error_code(error: ClientError) -> str:
    """The S3 error code of a failed call (``NoSuchKey``, ``404``, ...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_not_found(error: ClientError) -> bool:
    """Whether a failed call says the key (not the bucket) does not exist."""
    return error_code(error) in _NOT_FOUND_CODES
