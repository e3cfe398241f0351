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
import contextlib
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from artifact_hub.adapters.storage.base import check_sha256, check_staging_name
from artifact_hub.core.errors import StorageUnavailableError
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
    "storage_errors",
    "unavailable_error",
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
# Answers under 500 that still say the service, not the request, failed (throttling).
_THROTTLED_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout"}
)
DEFAULT_MAX_ATTEMPTS = 3
"""botocore's standard retry mode: attempts per call, the first included."""


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
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
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
                config=client_config(
                    path_style=endpoint_url is not None, max_attempts=max_attempts
                ),
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
        """The object's size, or None when it is not stored.

        Raises:
            StorageUnavailableError: S3 kept failing after the client's retries.
        """
        key = self.key_for(sha256)
        with storage_errors():
            try:
                head = await asyncio.to_thread(
                    self._client.head_object, Bucket=self.bucket, Key=key
                )
            except ClientError as error:
                if is_not_found(error):
                    return None
                raise
        return head["ContentLength"]

    async def delete(self, sha256: str) -> None:
        """Delete the object (S3 answers the same when it is absent)."""
        key = self.key_for(sha256)
        with storage_errors():
            await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def _head(self, key: str) -> dict[str, Any] | None:
        """HEAD with checksums, or None when the object is not there."""
        with storage_errors():
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


def client_config(*, path_style: bool, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Config:
    """The botocore settings of a client the store creates itself."""
    return Config(
        # Without it botocore signs presigned URLs with SigV2, which newer AWS regions and
        # some S3-compatible services refuse.
        signature_version="s3v4",
        # The one retry of S3 calls: 5xx, throttling and connection errors, with jittered
        # exponential backoff. What still fails after it becomes StorageUnavailableError.
        retries={"mode": "standard", "total_max_attempts": max_attempts},
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


def unavailable_error(error: BaseException) -> StorageUnavailableError | None:
    """The hub's error for a failure of the S3 service itself, or None for any other.

    5xx answers, throttling and connection errors are the service's (botocore has already
    retried them); a 4xx such as ``NoSuchKey`` or ``AccessDenied`` is not, and stays as it is.
    """
    if isinstance(error, S3UploadFailedError) and isinstance(error.__context__, ClientError):
        # boto3's transfer manager re-raises the ClientError of a failed upload as this.
        error = error.__context__
    if isinstance(error, HTTPClientError | BotoConnectionError):
        return StorageUnavailableError(f"the blob store cannot be reached: {error}")
    if not isinstance(error, ClientError):
        return None
    metadata = error.response.get("ResponseMetadata", {})
    status = int(metadata.get("HTTPStatusCode") or 0)
    code = error_code(error)
    if status < 500 and code not in _THROTTLED_CODES:
        return None
    attempts = int(metadata.get("RetryAttempts") or 0) + 1
    return StorageUnavailableError(
        f"the blob store answered {code or status} to {error.operation_name} "
        f"{attempts} time(s); retry later",
        operation=error.operation_name,
        s3_code=code,
    )


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a failure of the S3 service into :class:`StorageUnavailableError` (a 503)."""
    try:
        yield
    except (ClientError, HTTPClientError, BotoConnectionError, S3UploadFailedError) as error:
        mapped = unavailable_error(error)
        if mapped is None:
            raise
        raise mapped from error
