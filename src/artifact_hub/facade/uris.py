"""The URIs the facade reads: ``file://`` (and plain paths), ``s3://`` and ``artifact://``.

``artifact://<artifact_id>`` is the hub's own URI for an artifact: the facade gives it as
``Artifact.uri`` when the artifact was stored without one, and reads it through the hub, with
the caller's rights. ``s3://bucket/key`` is read with boto3 (blocking calls run in a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from artifact_hub.core.errors import InvalidRequestError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["ARTIFACT_SCHEME", "ParsedUri", "S3Reader", "artifact_uri", "parse_uri"]

ARTIFACT_SCHEME = "artifact"
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


def artifact_uri(artifact_id: str) -> str:
    """The hub's URI of an artifact: ``artifact://<artifact_id>``."""
    return f"{ARTIFACT_SCHEME}://{artifact_id}"


@dataclass(frozen=True)
class ParsedUri:
    """A URI the facade can read.

    Attributes:
        scheme: ``file``, ``s3`` or ``artifact``.
        path: The local path (``file``).
        bucket: The bucket (``s3``).
        key: The object key or prefix (``s3``); the artifact id (``artifact``).
    """

    scheme: str
    path: Path | None = None
    bucket: str = ""
    key: str = ""


def parse_uri(uri: str | os.PathLike[str]) -> ParsedUri:
    """Read ``uri``: a ``file://``, ``s3://`` or ``artifact://`` URI, or a plain local path.

    Raises:
        InvalidRequestError: Another scheme, or a malformed URI.
    """
    if isinstance(uri, os.PathLike):
        return ParsedUri("file", path=Path(uri))
    if "://" not in uri:
        return ParsedUri("file", path=Path(uri))
    split = urlsplit(uri)
    scheme = split.scheme.lower()
    if scheme == "file":
        if split.netloc not in ("", "localhost"):
            raise InvalidRequestError("file:// URIs must name a local path", uri=uri)
        return ParsedUri("file", path=Path(unquote(split.path)))
    if scheme == "s3":
        if not split.netloc:
            raise InvalidRequestError("an s3:// URI needs a bucket", uri=uri)
        return ParsedUri("s3", bucket=split.netloc, key=unquote(split.path.lstrip("/")))
    if scheme == ARTIFACT_SCHEME:
        artifact_id = split.netloc + split.path.rstrip("/") if split.netloc else ""
        if not artifact_id or "/" in artifact_id or split.query or split.fragment:
            raise InvalidRequestError("an artifact:// URI names one artifact id", uri=uri)
        return ParsedUri(ARTIFACT_SCHEME, key=artifact_id)
    raise InvalidRequestError(
        f"unsupported URI scheme {split.scheme!r}: use file://, s3:// or artifact://", uri=uri
    )


class S3Reader:
    """Reads ``s3://`` objects with boto3 (one client, made on first use).

    Args:
        options: boto3 client options (``endpoint_url``, ``region_name``, credentials); empty
            for boto3's default chain (environment, profile, instance role).
    """

    def __init__(self, options: dict[str, Any] | None) -> None:
        self.options = dict(options or {})
        self._client: S3Client | None = None

    def _s3(self) -> S3Client:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", **self.options)
        return self._client

    async def read(self, bucket: str, key: str) -> bytes:
        """The object's bytes.

        Raises:
            FileNotFoundError: No such bucket or key.
        """

        def read() -> bytes:
            with _not_found(bucket, key):
                body = self._s3().get_object(Bucket=bucket, Key=key)["Body"]
                try:
                    return body.read()
                finally:
                    body.close()

        return await asyncio.to_thread(read)

    async def etag(self, bucket: str, key: str) -> tuple[str, int]:
        """The object's ETag and size (``FileNotFoundError`` when missing)."""

        def head() -> tuple[str, int]:
            with _not_found(bucket, key):
                found = self._s3().head_object(Bucket=bucket, Key=key)
            return found["ETag"].strip('"'), found["ContentLength"]

        return await asyncio.to_thread(head)

    async def download(self, bucket: str, key: str, target: Path) -> None:
        """Write the object to ``target`` (blocking transfer in a thread)."""

        def download() -> None:
            with _not_found(bucket, key):
                self._s3().download_file(bucket, key, str(target))

        await asyncio.to_thread(download)

    async def list_prefix(self, bucket: str, prefix: str) -> list[tuple[str, str, int]]:
        """``(key, etag, size)`` of every object under ``prefix`` (a folder), sorted."""
        folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"

        def listing() -> list[tuple[str, str, int]]:
            found: list[tuple[str, str, int]] = []
            with _not_found(bucket, folder):
                pages = (
                    self._s3()
                    .get_paginator("list_objects_v2")
                    .paginate(Bucket=bucket, Prefix=folder)
                )
                for page in pages:
                    for item in page.get("Contents", []):
                        found.append((item["Key"], item["ETag"].strip('"'), item["Size"]))
            return sorted(found)

        return await asyncio.to_thread(listing)


@contextlib.contextmanager
def _not_found(bucket: str, key: str) -> Iterator[None]:
    """Turns boto3's "no such key/bucket" into ``FileNotFoundError``."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            raise FileNotFoundError(f"s3://{bucket}/{key} does not exist") from error
        raise
