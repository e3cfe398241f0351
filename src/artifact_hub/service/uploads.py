"""Presigned uploads: ``upload-url`` → ``PUT`` the bytes → ``complete``.

For files too large to pass through an API request comfortably (up to 5 GB). The client asks
for an upload, PUTs the raw bytes to the URL it got, and completes it:

- on S3 the URL is the store's presigned PUT to ``staging/<upload_id>``, so the bytes go
  straight to the bucket;
- on other stores it is the hub's signed ``/v1/uploads/<upload_id>`` URL, which streams the
  body to ``data_dir/uploads/<upload_id>`` (never whole in memory, never past the declared
  size).

``complete`` then pushes the staged bytes through :meth:`ArtifactService.push` like any other
write (hashed, verified against the declared sha256 and size, content-addressed), and removes
the staged object. Until then nothing is visible: the pending upload is a row in ``uploads``,
not an artifact. Its artifact id is chosen up front, which makes completing twice (even at the
same time) give the same artifact.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import and_, delete, insert, select, update

from artifact_hub.errors import (
    ChecksumMismatchError,
    ConflictError,
    EventRejectedError,
    FileTooLargeError,
    InvalidRequestError,
    LinkExpiredError,
    SessionNotFoundError,
    SessionSealedError,
    UploadNotFoundError,
)
from artifact_hub.index import tables as t
from artifact_hub.index.database import Database
from artifact_hub.schemas.api import Upload, UploadUrlRequest
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.events import ArtifactCreated
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts import TTL, ArtifactService, iter_content, new_artifact_id
from artifact_hub.service.signing import UrlSigner
from artifact_hub.storage.base import CHUNK_SIZE, HashingReader, spool_to_temp_file

if TYPE_CHECKING:
    from artifact_hub.storage.s3 import S3BlobStore

__all__ = ["MAX_UPLOAD_BYTES", "UploadService", "new_upload_id", "upload_path"]

MAX_UPLOAD_BYTES = 5 * 1024**3
"""The presigned path's limit (5 GB): S3 accepts at most this in one PUT."""

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
# Fields of the request that are not push() arguments (or are mapped by hand).
_NOT_PUSH_FIELDS = frozenset(
    {
        "content_base64",
        "agent_id",
        "size_bytes",
        "sha256",
        "ttl_seconds",
        "never_expires",
    }
)


def new_upload_id() -> str:
    """``upl_`` and 16 random lowercase base32 characters (80 bits)."""
    return "upl_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def upload_path(upload_id: str) -> str:
    """The path a hub upload URL's signature covers."""
    return f"/v1/uploads/{upload_id}"


class UploadService:
    """Presigned uploads over the artifact service.

    Args:
        db: The index database (``uploads`` table).
        artifacts: The artifact service; ``complete`` pushes through it.
        signer: Signs the hub's upload URLs (stores without presigned PUTs).
        public_url: The hub's base URL as clients see it.
        staging_dir: Where the hub's upload URL stages bodies (``data_dir/uploads``).
        url_ttl: How long an upload URL works.
        complete_grace: How long after the URL's expiry ``complete`` is still accepted: an
            upload that started just before the expiry may take a while to finish.
    """

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactService,
        signer: UrlSigner,
        public_url: str,
        staging_dir: Path,
        *,
        url_ttl: timedelta = timedelta(hours=1),
        complete_grace: timedelta = timedelta(hours=1),
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.staging_dir = Path(staging_dir)
        self.url_ttl = url_ttl
        self.complete_grace = complete_grace
        self._s3 = _s3_store(artifacts)

    # ------------------------------------------------------------------ use cases

    async def request_upload(self, caller: Caller, request: UploadUrlRequest) -> Upload:
        """Register a pending upload and return where to PUT its bytes.

        Everything that can be checked before the bytes exist is checked here (size, sha256
        format, fields, an open session), so a client does not upload 5 GB to learn that.

        Raises:
            FileTooLargeError: ``size_bytes`` is over 5 GB or the plan's file size.
            InvalidRequestError: Malformed fields, or ``content_base64`` (not for this path).
            SessionSealedError: The session is sealed.
        """
        if request.size_bytes > MAX_UPLOAD_BYTES:
            raise FileTooLargeError(
                f"presigned uploads take at most {MAX_UPLOAD_BYTES} bytes",
                max_bytes=MAX_UPLOAD_BYTES,
            )
        # The plan's file size limit too, now rather than after the bytes are uploaded.
        self.artifacts.limits.check_size(caller, request.size_bytes, MAX_UPLOAD_BYTES)
        artifact_id = new_artifact_id()
        _validate(caller, request, artifact_id)
        if request.session_id:
            await self._check_session_open(caller, request.session_id)
        upload_id = new_upload_id()
        if self._s3 is not None:
            staging_key = self._s3.staging_key(upload_id)
            url = await self._s3.presigned_put_url(
                upload_id, expires_in=self.url_ttl, size=request.size_bytes
            )
            if url is None:  # pragma: no cover - S3BlobStore always presigns
                raise RuntimeError("the S3 store gave no presigned URL")
            expires_at = datetime.now(UTC) + self.url_ttl
        else:
            staging_key = f"uploads/{upload_id}"
            signed = self.signer.sign("PUT", upload_path(upload_id), self.url_ttl)
            url, expires_at = signed.url(self.public_url), signed.expires_at
        async with self.db.begin() as conn:
            await conn.execute(
                insert(t.uploads).values(
                    upload_id=upload_id,
                    tenant_id=caller.tenant_id,
                    agent_id=caller.agent_id,
                    request=request.model_dump(mode="json", exclude_none=True),
                    size_bytes=request.size_bytes,
                    sha256=request.sha256,
                    staging_key=staging_key,
                    created_at=datetime.now(UTC),
                    expires_at=expires_at,
                    artifact_id=artifact_id,
                )
            )
        # The S3 URL is signed for exactly this Content-Length; saying so lets a client that
        # streams the body send it instead of chunked encoding, which S3 would refuse.
        headers = {"Content-Length": str(request.size_bytes)}
        return Upload(id=upload_id, url=url, method="PUT", headers=headers, expires_at=expires_at)

    async def receive(
        self,
        upload_id: str,
        exp: str | None,
        sig: str | None,
        body: AsyncIterable[bytes],
        *,
        content_length: int | None = None,
    ) -> int:
        """Stage the body of a PUT to the hub's upload URL; return the bytes received.

        The body is streamed to a temporary file and moved to the staging name only when it
        ended within the declared size, so a failed PUT leaves nothing (and an earlier
        complete PUT stays).

        Raises:
            PermissionDeniedError: The URL was altered or is not signed.
            LinkExpiredError: The URL has expired.
            UploadNotFoundError: No such upload.
            ConflictError: The upload was already completed.
            FileTooLargeError: More bytes than ``size_bytes`` (by header or by counting).
        """
        self.signer.verify("PUT", upload_path(upload_id), exp, sig)
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(t.uploads).where(t.uploads.c.upload_id == upload_id))
            ).first()
        if row is None:
            raise UploadNotFoundError(f"Upload {upload_id} was not found.", upload_id=upload_id)
        if row.completed_at is not None:
            raise ConflictError(f"Upload {upload_id} is already complete.", upload_id=upload_id)
        limit = int(row.size_bytes)
        if content_length is not None and content_length > limit:
            raise FileTooLargeError(f"this upload was declared as {limit} bytes", max_bytes=limit)
        await asyncio.to_thread(self.staging_dir.mkdir, parents=True, exist_ok=True)
        reader = HashingReader(max_size=limit)
        async with spool_to_temp_file(body, self.staging_dir, reader, durable=True) as temp:
            await asyncio.to_thread(os.replace, temp, self._local_path(upload_id))
        return reader.size

    async def complete(self, caller: Caller, upload_id: str) -> Artifact:
        """Turn the staged bytes into an artifact; completing again returns the same one.

        Raises:
            UploadNotFoundError: Unknown, another tenant's, or another agent's upload.
            LinkExpiredError: The upload expired before it was completed (410).
            InvalidRequestError: Nothing was uploaded yet.
            ChecksumMismatchError: Size or sha256 differ from what was declared (the staged
                bytes are then discarded; ask for a new upload).
            FileTooLargeError: More bytes than declared.
            SessionSealedError: The session was sealed in the meantime.
        """
        row = await self._row(caller, upload_id)
        if row.completed_at is not None:
            return await self.artifacts.get(caller, row.artifact_id)
        if datetime.now(UTC) > row.expires_at + self.complete_grace:
            await self._discard(upload_id)
            raise LinkExpiredError(f"Upload {upload_id} has expired.", upload_id=upload_id)
        declared = int(row.size_bytes)
        size = await self._staged_size(upload_id)
        if size is None:
            raise InvalidRequestError(
                f"nothing was uploaded for {upload_id} yet: PUT the bytes to its URL first",
                upload_id=upload_id,
            )
        if size != declared:
            await self._discard(upload_id)
            raise ChecksumMismatchError(
                f"{size} bytes were uploaded, {declared} were declared",
                expected_size=declared,
                actual_size=size,
            )
        request = UploadUrlRequest.model_validate(row.request)
        try:
            await self.artifacts.push(
                caller,
                self._staged_chunks(upload_id),
                artifact_id=row.artifact_id,
                expected_sha256=row.sha256,
                max_size=declared,
                ttl=_ttl(request),
                **_push_fields(request),
            )
        except (ChecksumMismatchError, FileTooLargeError):
            # These bytes can never become this upload; keep no copy of them.
            await self._discard(upload_id)
            raise
        except EventRejectedError:
            # The artifact id is taken: an earlier or concurrent complete of this upload
            # already pushed it. Mark it complete all the same (that one may have crashed).
            pass
        async with self.db.begin() as conn:
            await conn.execute(
                update(t.uploads)
                .where(t.uploads.c.upload_id == upload_id)
                .values(completed_at=datetime.now(UTC))
            )
        await self._discard(upload_id)
        return await self.artifacts.get(caller, row.artifact_id)

    async def sweep(self, now: datetime | None = None) -> int:
        """Forget uploads never completed in time and remove their staged bytes.

        For the periodic sweeper. Completed uploads are kept (they make ``complete``
        idempotent). Returns how many uploads were removed.
        """
        cutoff = (now or datetime.now(UTC)) - self.complete_grace
        async with self.db.connect() as conn:
            stale = (
                await conn.scalars(
                    select(t.uploads.c.upload_id).where(
                        and_(t.uploads.c.completed_at.is_(None), t.uploads.c.expires_at < cutoff)
                    )
                )
            ).all()
        for upload_id in stale:
            await self._discard(upload_id)
            async with self.db.begin() as conn:
                await conn.execute(
                    delete(t.uploads).where(
                        and_(t.uploads.c.upload_id == upload_id, t.uploads.c.completed_at.is_(None))
                    )
                )
        return len(stale)

    # ------------------------------------------------------------------ internals

    async def _row(self, caller: Caller, upload_id: str) -> Any:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(t.uploads).where(
                        and_(
                            t.uploads.c.upload_id == upload_id,
                            t.uploads.c.tenant_id == caller.tenant_id,
                        )
                    )
                )
            ).first()
        # Another agent's pending upload is not the caller's to finish: it does not exist.
        if row is None or (not caller.admin and row.agent_id != caller.agent_id):
            raise UploadNotFoundError(f"Upload {upload_id} was not found.", upload_id=upload_id)
        return row

    async def _check_session_open(self, caller: Caller, session_id: str) -> None:
        try:
            session = await self.artifacts.session(caller, session_id)
        except SessionNotFoundError:
            return  # sessions come into being with their first artifact
        if session.sealed:
            raise SessionSealedError(
                f"Session {session_id} is sealed; use a new session.", session_id=session_id
            )

    def _local_path(self, upload_id: str) -> Path:
        return self.staging_dir / upload_id

    async def _staged_size(self, upload_id: str) -> int | None:
        if self._s3 is not None:
            return await _s3_size(self._s3, self._s3.staging_key(upload_id))
        try:
            stat = await asyncio.to_thread(self._local_path(upload_id).stat)
        except FileNotFoundError:
            return None
        return stat.st_size

    def _staged_chunks(self, upload_id: str) -> AsyncIterator[bytes]:
        if self._s3 is not None:
            return _s3_chunks(self._s3, self._s3.staging_key(upload_id))
        return iter_content(self._local_path(upload_id))

    async def _discard(self, upload_id: str) -> None:
        if self._s3 is not None:
            store = self._s3
            await asyncio.to_thread(
                store.client.delete_object, Bucket=store.bucket, Key=store.staging_key(upload_id)
            )
        else:
            await asyncio.to_thread(self._local_path(upload_id).unlink, missing_ok=True)


def _s3_store(artifacts: ArtifactService) -> S3BlobStore | None:
    # Imported here so that hubs without S3 never load boto3.
    from artifact_hub.storage.s3 import S3BlobStore

    return artifacts.blobs if isinstance(artifacts.blobs, S3BlobStore) else None


async def _s3_size(store: S3BlobStore, key: str) -> int | None:
    from botocore.exceptions import ClientError

    try:
        head = await asyncio.to_thread(store.client.head_object, Bucket=store.bucket, Key=key)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return head["ContentLength"]


async def _s3_chunks(store: S3BlobStore, key: str) -> AsyncIterator[bytes]:
    response = await asyncio.to_thread(store.client.get_object, Bucket=store.bucket, Key=key)
    body = response["Body"]
    pieces = body.iter_chunks(CHUNK_SIZE)
    try:
        # next() with a default: StopIteration must not cross the thread boundary.
        while (chunk := await asyncio.to_thread(next, pieces, None)) is not None:
            yield chunk
    finally:
        body.close()


def _ttl(request: UploadUrlRequest) -> TTL:
    if request.never_expires:
        return "never"
    return request.ttl_seconds


def _push_fields(request: UploadUrlRequest) -> dict[str, Any]:
    """The request's fields as ``ArtifactService.push`` keyword arguments."""
    fields = {
        name: value
        for name, value in request.model_dump(exclude_none=True).items()
        if name not in _NOT_PUSH_FIELDS
    }
    fields.setdefault("name", "artifact")
    return fields


def _validate(caller: Caller, request: UploadUrlRequest, artifact_id: str) -> None:
    """Check the request's fields as the event built at ``complete`` will.

    Raises:
        InvalidRequestError: Any field that would make that event invalid.
    """
    if request.content_base64 is not None:
        raise InvalidRequestError("content_base64 is not accepted here; PUT the bytes instead")
    if request.sha256 is not None and (
        len(request.sha256) != 64 or any(c not in "0123456789abcdef" for c in request.sha256)
    ):
        raise InvalidRequestError("sha256 must be 64 lowercase hex characters")
    fields = _push_fields(request)
    fields.pop("session_id", None)
    try:
        ArtifactCreated(
            tenant_id=caller.tenant_id,
            artifact_id=artifact_id,
            sha256=request.sha256 or "0" * 64,
            size_bytes=request.size_bytes,
            agent_id=caller.agent_id,
            **{**fields, "namespace": request.namespace or caller.namespace},
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidRequestError(f"{where}: {first.get('msg', 'invalid')}") from error
