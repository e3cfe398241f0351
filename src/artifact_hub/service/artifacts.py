"""The use cases: push, version, read, list, pull, delete, share, seal, pin, extend TTL.

Every entry point (API, CLI, consumers' helpers, facade, workflow steps) calls this layer; none
touches storage directly. Each change follows one path: the blob first (content-addressed,
visible only when complete), then one transaction that applies the event through the
projection the consumers use and appends it to the outbox; the relay publishes it afterwards.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import ValidationError
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.errors import (
    ArtifactDeletedError,
    ArtifactExpiredError,
    ArtifactNotFoundError,
    ConflictError,
    EventNotReadyError,
    FileTooLargeError,
    InvalidRequestError,
    PermissionDeniedError,
    ServerError,
    SessionNotFoundError,
    VersionNotFoundError,
)
from artifact_hub.index import tables as t
from artifact_hub.index.database import Database
from artifact_hub.index.outbox import Outbox
from artifact_hub.index.projector import IndexProjector, lock_artifact
from artifact_hub.index.queries import ArtifactFilter, IndexReader, Page
from artifact_hub.schemas.artifacts import Access, Artifact, ArtifactVersion, Principal, Session
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactExpired,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    ExpiryChange,
    SessionSealed,
)
from artifact_hub.schemas.fields import MAX_TTL_SECONDS
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import Lineage, LineageGraph
from artifact_hub.service.plans import PlanLimits
from artifact_hub.service.rules import WriteRules
from artifact_hub.storage.base import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    HashingReader,
)

__all__ = ["TTL", "ArtifactService", "Content", "StagedUpload", "new_artifact_id"]


@dataclass(frozen=True, slots=True)
class StagedUpload:
    """Bytes already in the blob store's staging area (a presigned upload's PUT).

    Pushed as content, they are adopted under their hash (``BlobStore.adopt``: a rename or a
    store-side copy), never read and written again.

    Attributes:
        name: The staging slot (the upload's id).
        size: The size the upload declared (the store checks it).
    """

    name: str
    size: int


Content = (
    bytes
    | bytearray
    | memoryview
    | str
    | os.PathLike[str]
    | IO[bytes]
    | AsyncIterable[bytes]
    | StagedUpload
)
"""What can be pushed: bytes, a file path, a binary file object, an async byte stream, or a
staged upload."""

TTL = timedelta | int | float | Literal["never"] | None
"""A time to live: a timedelta or seconds, ``"never"``, or None for the hub's default."""

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_WRITE_RETRIES = 8


def new_artifact_id() -> str:
    """``art_`` and 16 random lowercase base32 characters (80 bits)."""
    return "art_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


class ArtifactService:
    """The hub's use cases, over a blob store, the index and the outbox.

    Args:
        db: The index database.
        blobs: The blob store.
        outbox: The outbox (its topic prefix decides where events go).
        on_commit: Called after every committed change (the relay's ``notify``).
        after_commit: More callbacks, each given the committed event (search indexing); add to
            the list after construction too. They must not block: schedule work instead.
        default_ttl: TTL of new artifacts when the caller gives none (None: never expire).
        source: The CloudEvents ``source`` of the events this hub writes.
        limits: The plans' limits (file size, storage quota, TTL) checked on every write.
    """

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        outbox: Outbox | None = None,
        projector: IndexProjector | None = None,
        reader: IndexReader | None = None,
        on_commit: Callable[[], None] | None = None,
        after_commit: Sequence[Callable[[EventBase], None]] = (),
        default_ttl: timedelta | None = timedelta(days=30),
        source: str = "artifact-hub",
        limits: PlanLimits | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.outbox = outbox or Outbox()
        self.projector = projector or IndexProjector()
        self.reader = reader or IndexReader()
        self.on_commit = on_commit
        self.after_commit: builtins.list[Callable[[EventBase], None]] = list(after_commit)
        self.default_ttl = default_ttl
        self.source = source
        # The checks bus ingestion applies too (consumers/validation.py): one rule book.
        self.rules = WriteRules(limits or PlanLimits(), self.reader)

    @property
    def limits(self) -> PlanLimits:
        """The plans' limits (those of :attr:`rules`)."""
        return self.rules.limits

    @limits.setter
    def limits(self, limits: PlanLimits) -> None:
        self.rules.limits = limits

    # ------------------------------------------------------------------ writes

    async def push(
        self,
        caller: Caller,
        content: Content,
        *,
        name: str | None = None,
        session_id: str | None = None,
        content_type: str | None = None,
        kind: str | None = None,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
        metrics: dict[str, Any] | None = None,
        pinned: bool = False,
        ttl: TTL = None,
        namespace: str | None = None,
        expected_sha256: str | None = None,
        max_size: int | None = None,
        artifact_id: str | None = None,
        lineage: Lineage | None = None,
        **scope: str | None,
    ) -> Artifact:
        """Store new content as a new artifact (version 1).

        Args:
            caller: Who pushes; the artifact belongs to its tenant and agent.
            content: Bytes, a path, a binary file object or an async byte stream.
            name: The artifact's name (default: the file's name, or ``"artifact"``).
            session_id: The session to file it under; fails if that session is sealed.
            content_type: The MIME type.
            kind: The facade's kind (``"text"``, ``"dataset"``, ...).
            metadata: Free JSON metadata (keys ``^[a-zA-Z][a-zA-Z0-9_-]{0,63}$``).
            labels: Key/values to filter on.
            tags: Tags to filter on.
            metrics: Numbers (``best()`` ranks by them).
            pinned: Pinned artifacts are kept by clean-ups.
            ttl: Time to live; None takes the hub's default, ``"never"`` keeps it forever.
            namespace: The team namespace (default: the caller's).
            expected_sha256: Fail with ``checksum_mismatch`` unless the bytes hash to this.
            max_size: Fail with ``file_too_large`` past this many bytes.
            artifact_id: Use this id (an ingested event's) instead of a new one.
            lineage: The workflow run and step saving it, and the artifact versions it was
                made from (each must be readable by ``caller``). Its run, workflow and step
                fill ``run_id``, ``graph_id`` and ``node_id`` unless those are given.
            **scope: ``run_id``, ``graph_id``, ``node_id``, ``tool_name``, ``tool_version``,
                ``org_id``, ``user_id``, ``client_id``, ``app_id``, ``uri``, ``preview_uri``.

        Raises:
            SessionSealedError: The session is sealed.
            ChecksumMismatchError: The content does not match ``expected_sha256``.
            FileTooLargeError: The content is larger than ``max_size`` or the plan allows.
            QuotaExceededError: The tenant's storage quota would be exceeded.
            TTLExceedsPlanLimitError: ``ttl`` is longer than the plan allows.
        """
        unknown = set(scope) - _SCOPE_FIELDS
        if unknown:
            raise InvalidRequestError(f"unknown artifact fields: {', '.join(sorted(unknown))}")
        if lineage is not None:
            for key, value in (
                ("run_id", lineage.run_id),
                ("graph_id", lineage.workflow_id),
                ("node_id", lineage.step_id),
            ):
                if scope.get(key) is None and value is not None:
                    scope[key] = value
        metadata = self.rules.metadata(metadata)
        self.rules.values(labels, metrics)
        now = datetime.now(UTC)
        # The event is built (so every field validated: name, ids, labels, metrics...) before
        # any byte is stored; the blob's hash and size fill it in afterwards.
        with _invalid_request():
            draft = ArtifactCreated(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                occurred_at=now,
                artifact_id=artifact_id or new_artifact_id(),
                name=name or _default_name(content),
                namespace=namespace or caller.namespace,
                agent_id=caller.agent_id,
                session_id=session_id,
                kind=kind,
                content_type=content_type,
                sha256="0" * 64,
                size_bytes=0,
                metadata=metadata or {},
                labels=labels or {},
                tags=list(tags),
                metrics=metrics or {},
                pinned=pinned,
                expires_at=self._plan_expiry(caller, ttl, now),
                lineage=lineage,
                **scope,
            )
        if session_id and not _small(content):
            # Before the upload, not to store bytes for nothing; the write checks again.
            await self._check_session_open(caller.tenant_id, session_id)
        max_size = await self._precheck_size(caller, content, max_size)
        blob = await self._store(content, expected_sha256, max_size)
        now = datetime.now(UTC)
        event = draft.model_copy(
            update={
                "sha256": blob.sha256,
                "size_bytes": blob.size,
                "occurred_at": now,
                "expires_at": self._plan_expiry(caller, ttl, now),
            }
        )

        async def build(conn: AsyncConnection) -> EventBase:
            if session_id:
                await self._check_session_open(caller.tenant_id, session_id, conn)
            await self._check_lineage(conn, caller, lineage)
            await self._check_stored(conn, caller, blob, now)
            return event

        await self._commit_blob(build, blob)
        # The row the projection just wrote, from the event itself: no read back.
        return _created_artifact(event)

    async def add_version(
        self,
        caller: Caller,
        artifact_id: str,
        content: Content,
        *,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        expected_sha256: str | None = None,
        max_size: int | None = None,
        lineage: Lineage | None = None,
    ) -> Artifact:
        """Store new content as the next version of an artifact the caller may write.

        ``metadata`` None keeps the previous version's metadata. The plan's size and storage
        limits apply as in :meth:`push`. ``lineage`` records the workflow run and step that
        made this version and what it was made from (as in :meth:`push`); the artifact's
        ``run_id``, ``graph_id`` and ``node_id`` then name that run.
        """
        metadata = self.rules.metadata(metadata)
        current = await self._writable(caller, artifact_id)
        if current.session_id and not _small(content):
            await self._check_session_open(caller.tenant_id, current.session_id)
        max_size = await self._precheck_size(caller, content, max_size)
        blob = await self._store(content, expected_sha256, max_size)

        async def build(conn: AsyncConnection) -> EventBase:
            await self._check_stored(conn, caller, blob, datetime.now(UTC))
            await self._check_lineage(conn, caller, lineage)
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            latest = await self.reader.get(conn, caller.tenant_id, artifact_id)
            if latest is None or latest.deleted_at is not None:
                raise ArtifactDeletedError(artifact_id=artifact_id)
            if latest.session_id:
                await self._check_session_open(caller.tenant_id, latest.session_id, conn)
            return ArtifactVersioned(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=seq,
                version=latest.version + 1,
                sha256=blob.sha256,
                size_bytes=blob.size,
                content_type=content_type or latest.content_type,
                metadata=metadata,
                agent_id=caller.agent_id,
                lineage=lineage,
            )

        await self._commit_blob(build, blob)
        return await self.get(caller, artifact_id)

    async def delete(self, caller: Caller, artifact_id: str) -> Artifact:
        """Soft-delete the artifact (all versions); a second delete answers 410.

        Raises:
            SessionSealedError: The artifact is in a sealed session (a delete is a write).
        """
        await self._writable(caller, artifact_id)

        async def build(conn: AsyncConnection) -> EventBase:
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            latest = await self.reader.get(conn, caller.tenant_id, artifact_id)
            if latest is None or latest.deleted_at is not None:
                raise ArtifactDeletedError(artifact_id=artifact_id)
            if latest.session_id:
                await self._check_session_open(caller.tenant_id, latest.session_id, conn)
            return ArtifactDeleted(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=seq,
            )

        await self._commit(build)
        return await self.get(caller, artifact_id, include_deleted=True)

    async def delete_version(self, caller: Caller, artifact_id: str, version: int) -> None:
        """Soft-delete one version; the latest version cannot be deleted alone.

        Raises:
            SessionSealedError: The artifact is in a sealed session.
        """
        current = await self._writable(caller, artifact_id)
        if version == current.version:
            raise ConflictError(
                "the latest version cannot be deleted on its own; delete the artifact",
                artifact_id=artifact_id,
                version=version,
            )
        await self._version_row(artifact_id, version)

        async def build(conn: AsyncConnection) -> EventBase:
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            row = await self.reader.version(conn, artifact_id, version)
            if row is None:
                raise VersionNotFoundError(artifact_id=artifact_id, version=version)
            if row.deleted_at is not None:
                raise ArtifactDeletedError(artifact_id=artifact_id, version=version)
            if current.session_id:  # a sealed session takes no deletes either
                await self._check_session_open(caller.tenant_id, current.session_id, conn)
            return ArtifactDeleted(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=seq,
                version=version,
            )

        await self._commit(build)

    async def share(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        agents: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Access:
        """Give agents and groups read access."""
        return await self._change_access(caller, artifact_id, grants=_principals(agents, groups))

    async def unshare(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        agents: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Access:
        """Take read access back from agents and groups."""
        return await self._change_access(caller, artifact_id, revokes=_principals(agents, groups))

    async def pin(self, caller: Caller, artifact_id: str, pinned: bool = True) -> Artifact:
        """Pin (or unpin) the artifact."""
        return await self._update(caller, artifact_id, pinned=pinned)

    async def extend_ttl(self, caller: Caller, artifact_id: str, ttl: TTL) -> Artifact:
        """Set the artifact to expire ``ttl`` from now (``"never"``: keep it).

        Raises:
            TTLExceedsPlanLimitError: ``ttl`` is longer than the plan allows.
        """
        expires = self._plan_expiry(caller, ttl, datetime.now(UTC))
        return await self._update(
            caller, artifact_id, expiry=ExpiryChange(expires_at=expires), allow_expired=True
        )

    async def update(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Artifact:
        """Replace metadata, labels, tags or metrics (those given) without a new version."""
        self.rules.values(labels, metrics)
        return await self._update(
            caller,
            artifact_id,
            metadata=self.rules.metadata(metadata),
            labels=labels,
            tags=None if tags is None else list(tags),
            metrics=metrics,
        )

    async def seal_session(self, caller: Caller, session_id: str) -> Session:
        """Seal a session: every later write to it fails with ``session_sealed``.

        Sealing twice is allowed and changes nothing.
        """
        async with self.db.connect() as conn:
            existing = await self.reader.session(conn, caller.tenant_id, session_id)
        if existing is not None and existing.sealed:
            return existing

        async def build(conn: AsyncConnection) -> EventBase:
            return SessionSealed(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                session_id=session_id,
            )

        await self._commit(build)
        async with self.db.connect() as conn:
            sealed = await self.reader.session(conn, caller.tenant_id, session_id)
        if sealed is None:  # pragma: no cover - the seal was just committed
            raise ServerError("session vanished after sealing")
        return sealed

    # ------------------------------------------------------------------ sweeper's changes

    async def expire(self, tenant_id: str, artifact_id: str, *, now: datetime) -> bool:
        """Record that the artifact's TTL passed (``artifact.expired``), once.

        Returns:
            False when there is nothing to do: not expired at ``now``, pinned, deleted, or
            already recorded as expired.
        """

        async def build(conn: AsyncConnection) -> EventBase | None:
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            a = t.artifacts.c
            row = (
                await conn.execute(
                    select(a.expires_at, a.expired_at, a.deleted_at, a.pinned).where(
                        and_(a.artifact_id == artifact_id, a.tenant_id == tenant_id)
                    )
                )
            ).first()
            if (
                row is None
                or row.pinned
                or row.deleted_at is not None
                or row.expired_at is not None
                or row.expires_at is None
                or row.expires_at > now
            ):
                return None
            return ArtifactExpired(
                tenant_id=tenant_id,
                source=self.source,
                occurred_at=now,
                artifact_id=artifact_id,
                seq=seq,
            )

        return await self._commit(build) is not None

    async def purge(self, tenant_id: str, artifact_id: str, *, now: datetime) -> builtins.list[str]:
        """Hard-delete the artifact (``artifact.deleted`` with ``purged``) and collect its blobs.

        The caller (the sweeper) decides that retention has passed. The artifact's row stays
        as a tombstone; its versions, labels, tags and grants leave the index.

        Returns:
            The sha256 of each blob removed from the store (blobs still used by other
            artifacts stay). Empty when the artifact was already purged.
        """
        shas: list[str] = []

        async def build(conn: AsyncConnection) -> EventBase | None:
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            a = t.artifacts.c
            purged = await conn.scalar(
                select(a.purged_at).where(
                    and_(a.artifact_id == artifact_id, a.tenant_id == tenant_id)
                )
            )
            if purged is not None:
                return None
            shas[:] = sorted({row.sha256 for row in await self.reader.versions(conn, artifact_id)})
            return ArtifactDeleted(
                tenant_id=tenant_id,
                source=self.source,
                occurred_at=now,
                artifact_id=artifact_id,
                seq=seq,
                purged=True,
            )

        if await self._commit(build) is None:
            return []
        return [sha for sha in shas if await self.collect_blob(sha)]

    async def collect_blob(self, sha256: str) -> bool:
        """Remove the blob from the store if no version points at it any more.

        Runs in a write transaction holding the blob's lock, the one a write that reuses an
        existing blob takes to check the blob is still there: so a blob is never removed
        between such a write's upload and its commit without that write noticing.

        Returns:
            Whether the blob was removed.
        """
        async with self.db.begin() as conn:
            await lock_artifact(conn, _blob_lock(sha256))
            if await self.reader.blob_in_use(conn, sha256):
                return False
            await self.blobs.delete(sha256)
        return True

    # ------------------------------------------------------------------ reads

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

    # ------------------------------------------------------------------ internals

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

    async def _change_access(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        grants: builtins.list[Principal] | None = None,
        revokes: builtins.list[Principal] | None = None,
    ) -> Access:
        if not grants and not revokes:
            raise InvalidRequestError("name at least one agent or group")
        await self._writable(caller, artifact_id)

        async def build(conn: AsyncConnection) -> EventBase:
            return ArtifactShared(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=await self._next_seq(conn, artifact_id),
                grants=grants or [],
                revokes=revokes or [],
            )

        await self._commit(build)
        return await self.access(caller, artifact_id)

    async def _update(
        self, caller: Caller, artifact_id: str, *, allow_expired: bool = False, **changes: Any
    ) -> Artifact:
        await self._writable(caller, artifact_id, allow_expired=allow_expired)

        async def build(conn: AsyncConnection) -> EventBase:
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

    async def _next_seq(self, conn: AsyncConnection, artifact_id: str) -> int:
        revision = await self.reader.revision(conn, artifact_id)
        if revision is None:
            raise ArtifactNotFoundError(artifact_id=artifact_id)
        return revision + 1

    async def _check_lineage(
        self, conn: AsyncConnection, caller: Caller, lineage: Lineage | None
    ) -> None:
        await self.rules.lineage_readable(conn, caller, lineage)

    async def _check_session_open(
        self, tenant_id: str, session_id: str, conn: AsyncConnection | None = None
    ) -> None:
        if conn is not None:
            await self.rules.session_open(conn, tenant_id, session_id)
            return
        async with self.db.connect() as read:
            await self.rules.session_open(read, tenant_id, session_id)

    async def _commit(
        self, build: Callable[[AsyncConnection], Awaitable[EventBase | None]]
    ) -> EventBase | None:
        """Build the event and apply + append it in one transaction, retrying lost races.

        ``build`` may return None when there is nothing to do; then nothing is written.
        """

        async def work(conn: AsyncConnection) -> EventBase | None:
            with _invalid_request():  # an event made of the caller's values that fails
                event = await build(conn)
            if event is not None:
                await self.projector.apply(conn, event, fresh=True)
                await self.outbox.append(conn, event)
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
        self, conn: AsyncConnection, caller: Caller, blob: BlobInfo, now: datetime
    ) -> None:
        """Inside the write transaction: the quota still holds and the blob is still there."""
        await self.rules.quota(conn, caller, blob.size, now, lock=True)
        if not blob.created:
            # The bytes were already stored: the sweeper may have collected them since.
            await lock_artifact(conn, _blob_lock(blob.sha256))
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
        self, build: Callable[[AsyncConnection], Awaitable[EventBase | None]], blob: BlobInfo
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


_SCOPE_FIELDS = frozenset(
    {
        "run_id",
        "graph_id",
        "node_id",
        "tool_name",
        "tool_version",
        "org_id",
        "user_id",
        "client_id",
        "app_id",
        "uri",
        "preview_uri",
    }
)


def _created_artifact(event: ArtifactCreated) -> Artifact:
    """The artifact as :class:`IndexProjector` records an ``artifact.created`` event."""
    fields = event.model_dump(
        include={
            "artifact_id", "tenant_id", "namespace", "name", "agent_id", "session_id", "kind",
            "content_type", "sha256", "size_bytes", "metadata", "labels", "tags", "metrics",
            "pinned", "uri", "preview_uri", "run_id", "graph_id", "node_id", "tool_name",
            "tool_version", "org_id", "user_id", "client_id", "app_id", "expires_at",
        }
    )  # fmt: skip
    return Artifact(**fields, version=1, created_at=event.occurred_at, updated_at=event.occurred_at)


def _expired(artifact: Artifact) -> bool:
    # Pinned artifacts do not expire while pinned (docs/rest-api.md, Limits).
    return (
        not artifact.pinned
        and artifact.expires_at is not None
        and artifact.expires_at <= datetime.now(UTC)
    )


def _blob_lock(sha256: str) -> str:
    return f"blob:{sha256}"


_SMALL = 1024 * 1024
_THREADED_HASH = 256 * 1024


def _small(content: Content) -> bool:
    """In memory and at most 1 MiB: cheaper to store and check once, in the write."""
    return isinstance(content, (bytes, bytearray, memoryview)) and len(content) <= _SMALL


def _known_size(content: Content) -> int | None:
    """The content's size when it is known before reading it (bytes, paths, regular files)."""
    if isinstance(content, StagedUpload):
        return content.size
    if isinstance(content, (bytes, bytearray)):
        return len(content)
    if isinstance(content, memoryview):
        return content.nbytes
    if isinstance(content, (str, os.PathLike)):
        try:
            return os.stat(content).st_size
        except OSError:
            return None  # iter_content reports the unreadable path
    seekable = getattr(content, "seekable", None)
    if seekable is not None and hasattr(content, "tell") and hasattr(content, "seek"):
        # Measured by seeking, not fstat: a spooled upload's fileno() would write it to disk.
        try:
            if not seekable():
                return None
            position = content.tell()
            end = content.seek(0, os.SEEK_END)
            content.seek(position)
            return max(0, end - position)
        except (OSError, ValueError):
            return None
    return None


def _principals(agents: Sequence[str], groups: Sequence[str]) -> builtins.list[Principal]:
    with _invalid_request():
        return [Principal(type="agent", id=a) for a in agents] + [
            Principal(type="group", id=g) for g in groups
        ]


@contextlib.contextmanager
def _invalid_request() -> Iterator[None]:
    """Turn a model's validation failure into ``invalid_request`` (the caller's values)."""
    try:
        yield
    except ValidationError as error:
        details = error.errors()
        if not details:
            raise InvalidRequestError(str(error)) from None
        where = ".".join(str(part) for part in details[0]["loc"]) or "value"
        raise InvalidRequestError(f"{where}: {details[0]['msg']}") from None


def _default_name(content: Content) -> str:
    if isinstance(content, (str, os.PathLike)):
        return Path(content).name
    name = getattr(content, "name", None)
    if isinstance(name, str) and name:
        return Path(name).name
    return "artifact"


def _prepare_target(target: Path, name: str) -> Path:
    """The file to write: ``target``, or the artifact's name inside it when it is a folder."""
    if target.is_dir() or str(target).endswith(os.sep):
        target = target / _safe_filename(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _safe_filename(name: str) -> str:
    """A name that cannot leave the target directory."""
    base = Path(name.replace("\\", "/")).name
    return base if base not in {"", ".", ".."} else "artifact"


async def iter_content(content: Content, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """Any pushable content as an async stream of chunks (files are read off the loop)."""
    if isinstance(content, (bytes, bytearray, memoryview)):
        view = memoryview(content)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
        return
    if isinstance(content, (str, os.PathLike)):
        path = Path(content)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
            raise InvalidRequestError(f"{path} is not a readable file", path=str(path)) from error
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()
        return
    if isinstance(content, AsyncIterable):
        async for chunk in content:
            yield bytes(chunk)
        return
    if hasattr(content, "read"):
        while chunk := await asyncio.to_thread(content.read, chunk_size):
            yield chunk
        return
    raise InvalidRequestError(f"cannot push content of type {type(content).__name__}")
