"""Reading artifacts: metadata, lists, versions, access, lineage, sessions and verified bytes.

:class:`ArtifactReads` also holds what every part of the service shares: its parts (index,
blob store, outbox, rules) and limits. The writes build on it (:mod:`.commits`).
"""

from __future__ import annotations

import asyncio
import builtins
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from artifact_hub.core.errors import (
    ArtifactDeletedError,
    ArtifactExpiredError,
    ArtifactNotFoundError,
    ServerError,
    SessionNotFoundError,
    VersionNotFoundError,
)
from artifact_hub.ports.artifacts import ArtifactStore
from artifact_hub.ports.blobs import CHUNK_SIZE, BlobNotFoundError, BlobStore, HashingReader
from artifact_hub.ports.events import EventLog
from artifact_hub.ports.index import ArtifactFilter, IndexReads, Page
from artifact_hub.ports.transactions import Transactions
from artifact_hub.schemas.artifacts import Access, Artifact, ArtifactVersion, Session
from artifact_hub.schemas.events import EventBase
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import LineageGraph
from artifact_hub.service.artifacts.content import _prepare_target
from artifact_hub.service.plans import PlanLimits
from artifact_hub.service.rules import WriteRules

_THREADED_HASH = 256 * 1024


def _expired(artifact: Artifact) -> bool:
    # Pinned artifacts do not expire while pinned (docs/rest-api.md, Limits).
    return (
        not artifact.pinned
        and artifact.expires_at is not None
        and artifact.expires_at <= datetime.now(UTC)
    )


class ArtifactReads:
    """The read use cases, and the parts every use case shares (index, blobs, events, rules).

    Args:
        db: The index's units of work.
        blobs: The blob store.
        reader: The index's reads.
        store: The write path's locks and index questions (quota, lineage, lifespan).
        events: Records each change: applied to the index and appended to the outbox.
        on_commit: Called after every committed change (the relay's ``notify``).
        after_commit: More callbacks, each given the committed event (search indexing); add to
            the list after construction too. They must not block: schedule work instead.
        default_ttl: TTL of new artifacts when the caller gives none (None: never expire).
        source: The CloudEvents ``source`` of the events this hub writes.
        limits: The plans' limits (file size, storage quota, TTL) checked on every write.
    """

    def __init__(
        self,
        db: Transactions,
        blobs: BlobStore,
        *,
        reader: IndexReads,
        store: ArtifactStore,
        events: EventLog,
        on_commit: Callable[[], None] | None = None,
        after_commit: Sequence[Callable[[EventBase], None]] = (),
        default_ttl: timedelta | None = timedelta(days=30),
        source: str = "artifact-hub",
        limits: PlanLimits | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.reader = reader
        self.store = store
        self.events = events
        self.on_commit = on_commit
        self.after_commit: builtins.list[Callable[[EventBase], None]] = list(after_commit)
        self.default_ttl = default_ttl
        self.source = source
        # The checks bus ingestion applies too (consumers/validation.py): one rule book.
        self.rules = WriteRules(reader, store, limits or PlanLimits())

    @property
    def limits(self) -> PlanLimits:
        """The plans' limits (those of :attr:`rules`)."""
        return self.rules.limits

    @limits.setter
    def limits(self, limits: PlanLimits) -> None:
        self.rules.limits = limits

    async def get(
        self, caller: Caller, artifact_id: str, *, include_deleted: bool = False
    ) -> Artifact:
        """The artifact's metadata.

        Raises:
            ArtifactNotFoundError: Unknown, in another tenant, or not visible to the caller.
            ArtifactDeletedError: Soft-deleted (unless ``include_deleted``).
            ArtifactExpiredError: Its TTL has passed.
        """
        async with self.db.connect() as conn:
            artifact = await self.reader.get(conn, caller.tenant_id, artifact_id)
            if artifact is None or not await self.reader.can_read(conn, caller, artifact_id):
                raise ArtifactNotFoundError(
                    f"Artifact {artifact_id} was not found.", artifact_id=artifact_id
                )
        if artifact.deleted_at is not None and not include_deleted:
            raise ArtifactDeletedError(
                f"Artifact {artifact_id} was deleted.", artifact_id=artifact_id
            )
        if not include_deleted and _expired(artifact):
            raise ArtifactExpiredError(f"Artifact {artifact_id} expired.", artifact_id=artifact_id)
        return artifact

    async def list(
        self,
        caller: Caller,
        filters: ArtifactFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int | None = None,
    ) -> Page:
        """One page of what the caller may read, newest first (``created_at, id`` DESC)."""
        async with self.db.connect() as conn:
            return await self.reader.list(
                conn, caller, filters, limit=limit, cursor=cursor, offset=offset
            )

    async def versions(self, caller: Caller, artifact_id: str) -> builtins.list[ArtifactVersion]:
        """Every live version of an artifact, oldest first."""
        await self.get(caller, artifact_id)
        async with self.db.connect() as conn:
            rows = await self.reader.versions(conn, artifact_id)
        return [row for row in rows if row.deleted_at is None]

    async def access(self, caller: Caller, artifact_id: str) -> Access:
        """Who the artifact is shared with."""
        artifact = await self.get(caller, artifact_id)
        async with self.db.connect() as conn:
            entries = await self.reader.access(conn, artifact_id)
        return Access(
            artifact_id=artifact_id,
            owner=artifact.agent_id,
            agents=[e.principal_id for e in entries if e.principal_type == "agent"],
            groups=[e.principal_id for e in entries if e.principal_type == "group"],
        )

    async def lineage(self, caller: Caller, artifact_id: str) -> LineageGraph:
        """Where the artifact came from and what was made from it (both ways, transitively).

        Artifacts of the caller's tenant that it may not read appear as hidden nodes (id
        only); other tenants' artifacts never appear.

        Raises:
            ArtifactNotFoundError: Unknown, in another tenant, or not visible to the caller.
            ArtifactDeletedError: Soft-deleted.
            ArtifactExpiredError: Its TTL has passed.
        """
        await self.get(caller, artifact_id)
        async with self.db.connect() as conn:
            return await self.reader.lineage(conn, caller, artifact_id)

    async def session(self, caller: Caller, session_id: str) -> Session:
        """A session of the caller's tenant."""
        async with self.db.connect() as conn:
            found = await self.reader.session(conn, caller.tenant_id, session_id)
        if found is None:
            raise SessionNotFoundError(session_id=session_id)
        return found

    async def open(
        self, caller: Caller, artifact_id: str, version: int | None = None
    ) -> tuple[Artifact, ArtifactVersion, AsyncIterator[bytes]]:
        """The artifact, the asked version (default: latest) and a verified byte stream.

        The stream raises ``ChecksumMismatchError`` at its end when the stored bytes no
        longer hash to the recorded sha256, so nothing reads corrupt content as good.
        """
        artifact = await self.get(caller, artifact_id)
        row = await self._version_row(artifact_id, version or artifact.version)
        return artifact, row, self._verified(row)

    async def pull_bytes(
        self, caller: Caller, artifact_id: str, version: int | None = None
    ) -> bytes:
        """The content in memory (for small artifacts), verified."""
        _, _, stream = await self.open(caller, artifact_id, version)
        return b"".join([chunk async for chunk in stream])

    async def pull_to(
        self,
        caller: Caller,
        artifact_id: str,
        path: str | os.PathLike[str],
        *,
        version: int | None = None,
    ) -> Path:
        """Write the content to ``path`` (a directory takes the artifact's name).

        The file appears only once all bytes arrived and were verified.
        """
        artifact, _, stream = await self.open(caller, artifact_id, version)
        target = await asyncio.to_thread(_prepare_target, Path(path), artifact.name)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".artifact-hub-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in stream:
                    await asyncio.to_thread(handle.write, chunk)
            os.replace(temp, target)
        except BaseException:
            os.unlink(temp)
            raise
        return target

    async def _verified(self, row: ArtifactVersion) -> AsyncIterator[bytes]:
        checker = HashingReader(expected_sha256=row.sha256, expected_size=row.size_bytes)
        loop = asyncio.get_running_loop()
        # Each chunk is hashed in a worker thread while the event loop sends it on (sha256
        # releases the GIL): hashing on the loop held a 1 GiB download to the speed of one
        # core doing both. The updates stay in order: each waits for the one before.
        hashing: asyncio.Future[None] | None = None
        try:
            async for chunk in self.blobs.get(row.sha256, chunk_size=CHUNK_SIZE):
                if hashing is not None:
                    await hashing
                if len(chunk) >= _THREADED_HASH:
                    hashing = loop.run_in_executor(None, checker.update, chunk)
                else:
                    hashing = None
                    checker.update(chunk)
                yield chunk
            if hashing is not None:
                await hashing
        except BlobNotFoundError as error:
            raise ServerError(
                f"the content of {row.artifact_id} v{row.version} is missing from the store",
                artifact_id=row.artifact_id,
                version=row.version,
            ) from error
        checker.verify()

    async def _version_row(self, artifact_id: str, version: int) -> ArtifactVersion:
        async with self.db.connect() as conn:
            row = await self.reader.version(conn, artifact_id, version)
        if row is None:
            raise VersionNotFoundError(
                f"Artifact {artifact_id} has no version {version}.",
                artifact_id=artifact_id,
                version=version,
            )
        if row.deleted_at is not None:
            raise ArtifactDeletedError(
                f"Version {version} of {artifact_id} was deleted.",
                artifact_id=artifact_id,
                version=version,
            )
        return row
