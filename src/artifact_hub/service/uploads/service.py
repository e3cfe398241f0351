"""Presigned uploads: ``upload-url`` → ``PUT`` the bytes → ``complete``.

For files too large to pass through an API request comfortably (up to 5 GB). The client asks
for an upload, PUTs the raw bytes to the URL it got, and completes it. The bytes are written
once and never read back by the hub:

- on S3 they go straight to the bucket, to ``staging/<upload_id>`` (the store implements
  :class:`~artifact_hub.ports.blobs.DirectUploads`): one presigned PUT (signed for the
  declared length, and for the declared sha256 when there is one), or, past
  ``multipart_threshold``, a multipart upload the hub starts, with one presigned URL per
  part. ``complete`` finishes the multipart upload and the store adopts the object with
  S3-side copies, its sha256 computed or verified by S3 (``S3BlobStore.adopt``);
- on the local store the URL is the hub's signed ``/v1/uploads/<upload_id>``, whose body is
  hashed while it streams into the store's own folder (``LocalBlobStore.stage``);
  ``complete`` hard-links that file under its hash (``LocalBlobStore.adopt``).

``complete`` checks size and sha256 against what was declared, then records the artifact
through :meth:`ArtifactService.push` (plan limits, quota, session, events) with the adopted
blob. Until then nothing is visible: the pending upload is a row in ``uploads``, not an
artifact. Its artifact id is chosen up front, which makes completing twice (even at the same
time) give the same artifact.

Where the parts live: sizes in :mod:`.sizes`, ids in :mod:`.naming`, request checks in
:mod:`.requests`, staged bytes and multipart uploads in :mod:`.staging`.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterable
from datetime import UTC, datetime

from artifact_hub.core.errors import (
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
from artifact_hub.ports.blobs import BlobNotFoundError
from artifact_hub.ports.uploads import UploadRecord
from artifact_hub.schemas.api import Upload, UploadPart, UploadUrlRequest
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts import StagedUpload, new_artifact_id
from artifact_hub.service.uploads.naming import new_upload_id, upload_path
from artifact_hub.service.uploads.requests import _push_fields, _ttl, _validate
from artifact_hub.service.uploads.sizes import MAX_UPLOAD_BYTES, part_sizes
from artifact_hub.service.uploads.staging import _MPU_SEPARATOR, UploadStaging

_STAGING_KEY_MAX = 255
"""The length of ``uploads.staging_key``: a longer S3 upload id is looked up, not kept."""


class UploadService(UploadStaging):
    """Presigned uploads over the artifact service.

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
        # The S3 URLs are signed for exactly these lengths; saying so lets a client that
        # streams the body send Content-Length instead of chunked encoding (S3 refuses it).
        headers = {"Content-Length": str(request.size_bytes)}
        parts: list[UploadPart] | None = None
        if self._s3 is not None:
            staging_key = self._s3.staging_key(upload_id)
            if request.size_bytes > self.multipart_threshold:
                mpu_id = await self._s3.create_multipart_upload(upload_id)
                # The column holds 255 characters; S3 does not bound its upload ids, so a
                # longer one is looked up again by its key (a bare separator says so).
                kept = staging_key + _MPU_SEPARATOR + mpu_id
                staging_key = (
                    kept if len(kept) <= _STAGING_KEY_MAX else kept[: len(staging_key) + 1]
                )
                part_size = self._part_size(self._s3, request.size_bytes)
                sizes = part_sizes(request.size_bytes, part_size)
                urls = await self._s3.presigned_part_urls(
                    upload_id, mpu_id, sizes, expires_in=self.url_ttl
                )
                offsets = [0, *itertools.accumulate(sizes)][:-1]
                parts = [
                    UploadPart(part_number=n, url=u, offset=o, size=z)
                    for n, (u, o, z) in enumerate(zip(urls, offsets, sizes, strict=True), 1)
                ]
                url, headers = urls[0], {}
            else:
                put = await self._s3.direct_put(
                    upload_id,
                    expires_in=self.url_ttl,
                    size=request.size_bytes,
                    sha256=request.sha256,
                )
                url = put.url
                headers.update(put.headers)  # the checksum header, when signed for one
            expires_at = datetime.now(UTC) + self.url_ttl
        else:
            staging_key = f"staged/{upload_id}"
            signed = self.signer.sign("PUT", upload_path(upload_id), self.url_ttl)
            url, expires_at = signed.url(self.public_url), signed.expires_at
        record = UploadRecord(
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
        async with self.db.begin() as conn:
            await self.store.add(conn, record)
        return Upload(
            id=upload_id,
            url=url,
            method="PUT",
            headers=headers,
            expires_at=expires_at,
            parts=parts,
        )

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
            row = await self.store.get(conn, upload_id)
        if row is None:
            raise UploadNotFoundError(f"Upload {upload_id} was not found.", upload_id=upload_id)
        if row.completed_at is not None:
            raise ConflictError(f"Upload {upload_id} is already complete.", upload_id=upload_id)
        limit = row.size_bytes
        if content_length is not None and content_length > limit:
            raise FileTooLargeError(f"this upload was declared as {limit} bytes", max_bytes=limit)
        # Hashed while it streams into the store's own folder; complete only links it.
        staged = await self.blobs.stage(upload_id, body, max_size=limit)
        return staged.size

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
        declared = row.size_bytes
        for mpu_id in await self._mpu_ids(upload_id, row.staging_key):
            assert self._s3 is not None  # only S3 uploads have one
            try:
                await self._s3.complete_multipart_upload(upload_id, mpu_id)
            except ChecksumMismatchError:
                await self._discard(upload_id, row.staging_key)
                raise
        staged = await self.blobs.staged(upload_id)
        if staged is None:
            raise InvalidRequestError(
                f"nothing was uploaded for {upload_id} yet: PUT the bytes to its URL first",
                upload_id=upload_id,
            )
        if staged.size != declared or (
            row.sha256 is not None and staged.sha256 is not None and staged.sha256 != row.sha256
        ):
            await self._discard(upload_id, row.staging_key)
            if staged.size != declared:
                raise ChecksumMismatchError(
                    f"{staged.size} bytes were uploaded, {declared} were declared",
                    expected_size=declared,
                    actual_size=staged.size,
                )
            raise ChecksumMismatchError(
                f"the upload hashes to {staged.sha256}, expected {row.sha256}",
                expected=row.sha256,
                actual=staged.sha256,
            )
        request = UploadUrlRequest.model_validate(row.request)
        try:
            # No byte is read or written again: the blob store adopts the staged ones.
            await self.artifacts.push(
                caller,
                StagedUpload(upload_id, declared),
                artifact_id=row.artifact_id,
                expected_sha256=row.sha256,
                max_size=declared,
                ttl=_ttl(request),
                **_push_fields(request),
            )
        except (ChecksumMismatchError, FileTooLargeError):
            # These bytes can never become this upload; keep no copy of them.
            await self._discard(upload_id, row.staging_key)
            raise
        except EventRejectedError:
            # The artifact id is taken: an earlier or concurrent complete of this upload
            # already pushed it. Mark it complete all the same (that one may have crashed).
            pass
        except BlobNotFoundError:
            # The staged bytes went away between our look and the adoption: a concurrent
            # complete adopted them (then its artifact is the answer), or they were swept.
            row = await self._row(caller, upload_id)
            if row.completed_at is None:
                raise InvalidRequestError(
                    f"nothing was uploaded for {upload_id}: PUT the bytes to its URL first",
                    upload_id=upload_id,
                ) from None
            return await self.artifacts.get(caller, row.artifact_id)
        async with self.db.begin() as conn:
            await self.store.mark_completed(conn, upload_id, datetime.now(UTC))
        await self._discard(upload_id, row.staging_key)
        return await self.artifacts.get(caller, row.artifact_id)

    async def sweep(self, now: datetime | None = None) -> int:
        """Forget uploads never completed in time and remove their staged bytes.

        For the periodic sweeper. Completed uploads are kept (they make ``complete``
        idempotent). Returns how many uploads were removed.
        """
        cutoff = (now or datetime.now(UTC)) - self.complete_grace
        async with self.db.connect() as conn:
            stale = await self.store.stale(conn, cutoff)
        for upload_id, staging_key in stale:
            await self._discard(upload_id, staging_key)
            async with self.db.begin() as conn:
                await self.store.forget_pending(conn, upload_id)
        return len(stale)

    async def _row(self, caller: Caller, upload_id: str) -> UploadRecord:
        async with self.db.connect() as conn:
            row = await self.store.get(conn, upload_id, tenant_id=caller.tenant_id)
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
