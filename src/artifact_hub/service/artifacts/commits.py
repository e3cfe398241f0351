"""How a change is committed: ownership checks, the blob first, then one transaction, retried.

Every write use case (:mod:`.writes`, :mod:`.sharing`, :mod:`.lifecycle`) goes through
:class:`ArtifactCommits`: stores the blob, builds the event in the write transaction, applies
it through the projection, appends it to the outbox, then tells the relay and read models.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from artifact_hub.core.errors import (
    ArtifactDeletedError,
    ArtifactNotFoundError,
    ConflictError,
    EventNotReadyError,
    FileTooLargeError,
    InvalidRequestError,
    PermissionDeniedError,
)
from artifact_hub.ports.blobs import BlobInfo
from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.events import ArtifactUpdated, EventBase
from artifact_hub.schemas.fields import MAX_TTL_SECONDS
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import Lineage
from artifact_hub.service.artifacts.content import (
    TTL,
    Content,
    StagedUpload,
    _known_size,
    iter_content,
)
from artifact_hub.service.artifacts.models import _invalid_request
from artifact_hub.service.artifacts.reads import ArtifactReads

_WRITE_RETRIES = 8


class ArtifactCommits(ArtifactReads):
    """The reads plus the write path shared by every change."""

    async def collect_blob(self, sha256: str) -> bool:
        """Remove the blob from the store if no version points at it any more.

        Runs in a write transaction holding the blob's lock, the one a write that reuses an
        existing blob takes to check the blob is still there: so a blob is never removed
        between such a write's upload and its commit without that write noticing.

        Returns:
            Whether the blob was removed.
        """
        async with self.db.begin() as conn:
            await self.store.lock_blob(conn, sha256)
            if await self.reader.blob_in_use(conn, sha256):
                return False
            await self.blobs.delete(sha256)
        return True

    async def _writable(
        self, caller: Caller, artifact_id: str, *, allow_expired: bool = False
    ) -> Artifact:
        artifact = await self.get(caller, artifact_id, include_deleted=allow_expired)
        if artifact.deleted_at is not None:
            raise ArtifactDeletedError(artifact_id=artifact_id)
        if not caller.admin and artifact.agent_id != caller.agent_id:
            raise PermissionDeniedError(
                f"only the owner of {artifact_id} can change it", artifact_id=artifact_id
            )
        return artifact

    async def _update(
        self, caller: Caller, artifact_id: str, *, allow_expired: bool = False, **changes: Any
    ) -> Artifact:
        await self._writable(caller, artifact_id, allow_expired=allow_expired)

        async def build(conn: Transaction) -> EventBase:
            return ArtifactUpdated(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=await self._next_seq(conn, artifact_id),
                **changes,
            )

        await self._commit(build)
        return await self.get(caller, artifact_id)

    async def _next_seq(self, conn: Transaction, artifact_id: str) -> int:
        revision = await self.reader.revision(conn, artifact_id)
        if revision is None:
            raise ArtifactNotFoundError(artifact_id=artifact_id)
        return revision + 1

    async def _check_lineage(
        self, conn: Transaction, caller: Caller, lineage: Lineage | None
    ) -> None:
        await self.rules.lineage_readable(conn, caller, lineage)

    async def _check_session_open(
        self, tenant_id: str, session_id: str, conn: Transaction | None = None
    ) -> None:
        if conn is not None:
            await self.rules.session_open(conn, tenant_id, session_id)
            return
        async with self.db.connect() as read:
            await self.rules.session_open(read, tenant_id, session_id)

    async def _commit(
        self, build: Callable[[Transaction], Awaitable[EventBase | None]]
    ) -> EventBase | None:
        """Build the event and apply + append it in one transaction, retrying lost races.

        ``build`` may return None when there is nothing to do; then nothing is written.
        """

        async def work(conn: Transaction) -> EventBase | None:
            with _invalid_request():  # an event made of the caller's values that fails
                event = await build(conn)
            if event is not None:
                await self.events.record(conn, event)
            return event

        for attempt in range(_WRITE_RETRIES):
            try:
                # Group commit: concurrent writes share one transaction, each in a savepoint.
                return await self.db.write(work, after=self._committed)
            except EventNotReadyError:
                # Another writer advanced the artifact between our read and our update.
                await asyncio.sleep(0.01 * (attempt + 1))
        raise ConflictError("the artifact is being changed concurrently; try again")

    def _committed(self, event: EventBase | None) -> None:
        """Tell the relay and the read models (search) what was just committed."""
        if event is None:
            return
        if self.on_commit is not None:
            self.on_commit()
        for callback in self.after_commit:
            callback(event)

    def _plan_expiry(self, caller: Caller, ttl: TTL, now: datetime) -> datetime | None:
        """The expiry for ``ttl`` within the caller's plan (the default TTL is shortened)."""
        return self.limits.check_expiry(
            caller, self._expiry(ttl, now), now, explicit=ttl is not None
        )

    async def _precheck_size(self, caller: Caller, content: Content, path_limit: int | None) -> int:
        """The size limit for this write; fails before the upload when the size is known."""
        limit = self.limits.max_size(caller, path_limit)
        # A path is measured off the loop (stat); the rest needs no thread hop.
        if isinstance(content, (str, os.PathLike)):
            size = await asyncio.to_thread(_known_size, content)
        else:
            size = _known_size(content)
        if size is not None:
            self.rules.size(caller, size, path_limit)
            if self.limits.locks_tenant(caller):
                async with self.db.connect() as conn:
                    await self.rules.quota(conn, caller, size, datetime.now(UTC), lock=False)
        return limit

    async def _check_stored(
        self, conn: Transaction, caller: Caller, blob: BlobInfo, now: datetime
    ) -> None:
        """Inside the write transaction: the quota still holds and the blob is still there."""
        await self.rules.quota(conn, caller, blob.size, now, lock=True)
        if not blob.created:
            # The bytes were already stored: the sweeper may have collected them since.
            await self.store.lock_blob(conn, blob.sha256)
            if not await self.blobs.exists(blob.sha256):
                raise ConflictError("the content was collected while uploading; push it again")

    async def _store(
        self, content: Content, expected_sha256: str | None, max_size: int | None
    ) -> BlobInfo:
        """Put the content in the blob store (a staged upload is adopted, not copied)."""
        if isinstance(content, StagedUpload):
            if max_size is not None and content.size > max_size:
                raise FileTooLargeError(
                    f"content is larger than the {max_size} byte limit", max_bytes=max_size
                )
            return await self.blobs.adopt(
                content.name, expected_sha256=expected_sha256, expected_size=content.size
            )
        return await self.blobs.put(
            iter_content(content), expected_sha256=expected_sha256, max_size=max_size
        )

    async def _commit_blob(
        self, build: Callable[[Transaction], Awaitable[EventBase | None]], blob: BlobInfo
    ) -> None:
        """Commit a write that stored ``blob``; remove the blob when the write fails."""
        try:
            await self._commit(build)
        except BaseException:
            await self._drop_blob(blob)
            raise

    async def _drop_blob(self, blob: BlobInfo) -> None:
        """Remove a blob this write created, unless a version points at it meanwhile."""
        if blob.created:
            # Shielded: a cancelled request must still not leave unreferenced bytes.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.collect_blob(blob.sha256))

    def _expiry(self, ttl: TTL, now: datetime) -> datetime | None:
        if ttl == "never":
            return None
        if ttl is None:
            return None if self.default_ttl is None else now + self.default_ttl
        if isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
            # Bounded before it becomes a timedelta: 10**12 seconds would overflow it.
            if not 0 < ttl <= MAX_TTL_SECONDS:
                raise InvalidRequestError(
                    f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds", max=MAX_TTL_SECONDS
                )
            ttl = timedelta(seconds=ttl)
        if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
            raise InvalidRequestError("ttl must be positive seconds, a timedelta or 'never'")
        if ttl > timedelta(seconds=MAX_TTL_SECONDS):
            raise InvalidRequestError(
                f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds", max=MAX_TTL_SECONDS
            )
        return now + ttl
