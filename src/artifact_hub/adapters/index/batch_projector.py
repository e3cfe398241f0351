"""Set-based projection of a batch of events: a fixed number of statements per table.

:class:`BatchProjection` applies the events of one consumer poll inside one transaction with
the same outcome as :meth:`IndexProjector.apply` on each event in turn, but reads once and
writes once per table: one SELECT of ``processed_events`` for the batch's event ids, one
SELECT of the batch's artifacts (revision, version, tenant, metadata, deletion), then the
changes computed in Python, in ``seq`` order per artifact, and written with ``executemany``
per table (inserts, updates grouped by the columns they set, deletes), and one upsert of
``tenant_usage`` at the end (tenants sorted).

The common events take this path: ``artifact.created``, ``artifact.versioned``,
``artifact.shared``, ``artifact.updated`` and ``session.sealed``. Any other event (deletes,
expiries) goes through :meth:`IndexProjector.apply` inside the same transaction, after the
pending rows are written, and so do the later events of its artifact in the batch.

The caller locks the batch's artifacts first (:func:`lock_artifacts`), so what is read stays
true until the transaction ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index.batch_pending import BatchPending, _Artifact
from artifact_hub.adapters.index.batch_sql import (
    _A,
    chunks,
    executemany,
    ids_param,
    in_ids,
    lock_artifacts,
    processed_digests,
    processed_ids,
)
from artifact_hub.adapters.index.projector import (
    IndexProjector,
    Usage,
    add_usage,
    check_sequence,
    created_artifact_row,
    event_digest,
    lineage_rows,
    updated_artifact_values,
    versioned_artifact_values,
)
from artifact_hub.core.errors import EventRejectedError
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactEvent,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    SessionSealed,
)

__all__ = [
    "BatchProjection",
    "chunks",
    "executemany",
    "ids_param",
    "in_ids",
    "lock_artifacts",
    "processed_digests",
    "processed_ids",
]


class BatchProjection(BatchPending):
    """One batch's projection inside the caller's transaction.

    Use: :meth:`load` with the batch's events, then :meth:`apply` each event in order
    (``seq`` order per artifact), then :meth:`finish`. :meth:`revision` tells the caller which
    events are early.

    Args:
        projector: The per-event projection, for the events this path does not handle.
    """

    def __init__(self, projector: IndexProjector) -> None:
        self.projector = projector
        self.usage: Usage = {}
        self.seen: set[str] = set()
        self.artifacts: dict[str, _Artifact] = {}
        self._now = datetime.now(UTC)
        self._clear()

    # ------------------------------------------------------------------ reading

    async def load(
        self,
        conn: AsyncConnection,
        events: Sequence[EventBase],
        more_ids: Iterable[str] = (),
        *,
        fresh: Set[str] = frozenset(),
    ) -> None:
        """Read what the batch needs: its processed event ids and its artifacts' state.

        Args:
            conn: The transaction, the batch's artifacts locked.
            events: The batch.
            more_ids: Ids of other events that may be applied too (parked ones).
            fresh: Event ids the caller found not applied in this transaction already.
        """
        # An artifact event applied concurrently since ``fresh`` was read shows, under the
        # lock, as a seq already taken (the caller then goes one event at a time); a session
        # event has no lock to tell it: read again.
        ids = [
            e.event_id
            for e in events
            if e.event_id not in fresh or not isinstance(e, ArtifactEvent)
        ]
        ids += [i for i in more_ids if i not in fresh]
        if ids:
            self.seen |= await processed_ids(conn, ids)
        ids = [e.artifact_id for e in events if isinstance(e, ArtifactEvent)]
        if not ids:
            return
        query = select(
            _A.artifact_id,
            _A.tenant_id,
            _A.revision,
            _A.version,
            _A.metadata,
            _A.deleted_at,
            _A.purged_at,
        ).where(in_ids(conn, _A.artifact_id))
        for row in await conn.execute(query, {"ids": ids_param(conn, ids)}):
            self.artifacts[row.artifact_id] = _Artifact(
                artifact_id=row.artifact_id,
                tenant_id=row.tenant_id,
                revision=int(row.revision),
                version=int(row.version),
                metadata=row.metadata,
                live=row.deleted_at is None and row.purged_at is None,
                in_db=True,
            )

    def revision(self, artifact_id: str) -> int | None:
        """The artifact's revision as applied so far (None: no such artifact yet)."""
        state = self.artifacts.get(artifact_id)
        return None if state is None else state.revision

    # ------------------------------------------------------------------ applying

    async def apply(self, conn: AsyncConnection, event: EventBase) -> bool:
        """Apply one event, like :meth:`IndexProjector.apply` (same result, same errors).

        Raises:
            EventNotReadyError: An earlier event of the same artifact is still missing.
            EventRejectedError: The event contradicts the index; nothing of it is pending.
        """
        done = self.apply_fast(event)
        if done is not None:
            return done
        return await self.apply_slow(conn, event)

    def apply_fast(self, event: EventBase) -> bool | None:
        """Apply ``event`` in memory; None when it needs :meth:`apply_slow`.

        Every check comes before any change: a rejected event leaves nothing pending.
        """
        if event.event_id in self.seen:
            return False
        if isinstance(event, ArtifactCreated):
            if not self._created(event):
                return None
        elif isinstance(event, SessionSealed):
            key = (event.tenant_id, event.session_id)
            self._touch(key, event.occurred_at)
            self._seals.setdefault(key, event.occurred_at)
        elif isinstance(event, ArtifactVersioned | ArtifactShared | ArtifactUpdated):
            state = self.artifacts.get(event.artifact_id)
            if state is not None and state.slow:
                return None
            state = self._check_advance(state, event)
            if isinstance(event, ArtifactVersioned):
                self._versioned(state, event)
            elif isinstance(event, ArtifactShared):
                self._shared(state, event)
            else:
                self._updated(state, event)
            self._set(state, {"revision": event.seq, "updated_at": event.occurred_at})
            state.revision = event.seq
        else:
            return None
        self._processed(event)
        return True

    async def apply_slow(self, conn: AsyncConnection, event: EventBase) -> bool:
        """Write what is pending, then :meth:`IndexProjector.apply` the event."""
        await self.flush(conn)
        applied = await self.projector.apply(conn, event, usage=self.usage)
        self.seen.add(event.event_id)
        if applied and isinstance(event, ArtifactEvent):
            state = self.artifacts.get(event.artifact_id)
            if state is None:  # pragma: no cover - only creates make artifacts, on the fast path
                state = self.artifacts[event.artifact_id] = _Artifact(
                    event.artifact_id, event.tenant_id, event.seq, 1, {}, live=True, in_db=True
                )
            state.revision = event.seq
            state.slow = True
        return applied

    def _processed(self, event: EventBase) -> None:
        self.seen.add(event.event_id)
        self._inserts["processed_events"].append(
            {
                "event_id": event.event_id,
                "event_type": event.type,
                "applied_at": self._now,
                "digest": event_digest(event),
            }
        )

    def _check_advance(self, state: _Artifact | None, event: ArtifactEvent) -> _Artifact:
        """The checks of ``IndexProjector._advance``, with its words."""
        check_sequence(event, state)
        assert state is not None  # check_sequence raised otherwise
        if isinstance(event, ArtifactVersioned) and event.version != state.version + 1:
            raise EventRejectedError(
                f"version {event.version} of {event.artifact_id} does not follow "
                f"version {state.version}",
                artifact_id=event.artifact_id,
                version=event.version,
            )
        return state

    def _set(self, state: _Artifact, values: dict[str, Any]) -> None:
        if state.row is not None:
            state.row.update(values)
        else:
            state.changes.update(values)

    def _created(self, event: ArtifactCreated) -> bool:
        state = self.artifacts.get(event.artifact_id)
        if state is not None:
            if state.slow:
                return False
            raise EventRejectedError(
                f"artifact {event.artifact_id} already exists", artifact_id=event.artifact_id
            )
        row = created_artifact_row(event)
        self.artifacts[event.artifact_id] = _Artifact(
            artifact_id=event.artifact_id,
            tenant_id=event.tenant_id,
            revision=1,
            version=1,
            metadata=event.metadata,
            live=True,
            in_db=False,
            row=row,
        )
        self._inserts["artifacts"].append(row)
        self._version_row(event, 1, event.metadata)
        self._labels[(event.artifact_id, "label")] = event.labels
        self._labels[(event.artifact_id, "metadata")] = event.metadata
        self._tags[event.artifact_id] = event.tags
        if event.lineage is not None:
            self._lineage(event, 1)
        if event.session_id:
            self._touch((event.tenant_id, event.session_id), event.occurred_at)
        add_usage(self.usage, event.tenant_id, event.size_bytes, 1)
        return True

    def _version_row(
        self, event: ArtifactCreated | ArtifactVersioned, version: int, metadata: Any
    ) -> None:
        self._inserts["artifact_versions"].append(
            {
                "artifact_id": event.artifact_id,
                "version": version,
                "sha256": event.sha256,
                "size_bytes": event.size_bytes,
                "content_type": event.content_type,
                "metadata": metadata,
                "agent_id": event.agent_id,
                "created_at": event.occurred_at,
                "deleted_at": None,
            }
        )

    def _lineage(self, event: ArtifactCreated | ArtifactVersioned, version: int) -> None:
        assert event.lineage is not None
        row, inputs = lineage_rows(event, version, event.lineage)
        self._inserts["artifact_lineage"].append(row)
        self._inserts["lineage_inputs"] += inputs

    def _versioned(self, state: _Artifact, event: ArtifactVersioned) -> None:
        metadata = state.metadata if event.metadata is None else event.metadata
        self._version_row(event, event.version, metadata)
        if event.lineage is not None:
            self._lineage(event, event.version)
        self._set(state, versioned_artifact_values(event, metadata))
        state.version = event.version
        state.metadata = metadata
        if event.metadata is not None:
            self._replace_pairs(state, event.artifact_id, "metadata", event.metadata)
        if state.live:
            add_usage(self.usage, event.tenant_id, event.size_bytes, 1)

    def _shared(self, state: _Artifact, event: ArtifactShared) -> None:
        for principal in event.revokes:
            key = (event.artifact_id, principal.type, principal.id)
            self._access[key] = None
            if state.in_db:
                self._access_deletes.add(key)
        for principal in event.grants:
            key = (event.artifact_id, principal.type, principal.id)
            if self._access.get(key) is None:  # unknown here (the row may exist), or revoked
                self._access[key] = {
                    "artifact_id": event.artifact_id,
                    "principal_type": principal.type,
                    "principal_id": principal.id,
                    "granted_by": event.actor,
                    "granted_at": event.occurred_at,
                }

    def _updated(self, state: _Artifact, event: ArtifactUpdated) -> None:
        values = updated_artifact_values(event)
        if values:
            self._set(state, values)
        if event.metadata is not None:
            state.metadata = event.metadata
            self._replace_pairs(state, event.artifact_id, "metadata", event.metadata)
        if event.labels is not None:
            self._replace_pairs(state, event.artifact_id, "label", event.labels)
        if event.tags is not None:
            self._tags[event.artifact_id] = event.tags
            if state.in_db:
                self._tag_deletes.add(event.artifact_id)

    def _replace_pairs(
        self, state: _Artifact, artifact_id: str, source: str, pairs: dict[str, Any]
    ) -> None:
        self._labels[(artifact_id, source)] = pairs
        if state.in_db:
            self._label_deletes.add((artifact_id, source))

    def _touch(self, key: tuple[str, str], at: datetime) -> None:
        earliest = self._touches.get(key)
        if earliest is None or at < earliest:
            self._touches[key] = at
