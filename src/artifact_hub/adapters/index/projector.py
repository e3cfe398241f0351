"""The projection from events to the index: the one piece of code that changes index rows.

The service layer calls it inside its write transaction; the consumers call it for events
that arrive from Kafka or in-process. Applying is idempotent: the event id is recorded in
``processed_events`` in the same transaction as the change, so a replay is a no-op. Events
about one artifact are applied in ``seq`` order: an event whose predecessor has not been applied
yet raises ``EventNotReadyError`` (try again later), one that contradicts what is applied raises
``EventRejectedError`` (dead-letter it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.canonical_json import event_digest, json_encoder, label_value
from artifact_hub.adapters.index.projection_rows import (
    _State,
    check_sequence,
    created_artifact_row,
    label_rows,
    lineage_rows,
    tag_rows,
    updated_artifact_values,
    versioned_artifact_values,
)
from artifact_hub.adapters.index.projection_writes import ProjectionWrites
from artifact_hub.adapters.index.statements import (
    _ADVANCE,
    _DELETE_ACCESS,
    _INSERT_PROCESSED,
    _INSERT_VERSION,
    _SEEN,
    _STATE,
    SEAL_SESSION,
    Usage,
    _update_artifact,
    add_usage,
    artifact_update,
    insert_ignore,
    lock_artifact,
    session_touch,
    usage_upsert,
    write_usage,
)
from artifact_hub.core.errors import EventNotReadyError, EventRejectedError
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactEvent,
    ArtifactExpired,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    SessionSealed,
)

__all__ = [
    "SEAL_SESSION",
    "IndexProjector",
    "Usage",
    "add_usage",
    "artifact_update",
    "check_sequence",
    "created_artifact_row",
    "event_digest",
    "insert_ignore",
    "json_encoder",
    "label_rows",
    "label_value",
    "lineage_rows",
    "lock_artifact",
    "session_touch",
    "tag_rows",
    "updated_artifact_values",
    "usage_upsert",
    "versioned_artifact_values",
    "write_usage",
]


class IndexProjector(ProjectionWrites):
    """Applies events to the index tables, idempotently and in per-artifact order.

    Besides the index rows it keeps ``tenant_usage`` (see ``tables.tenant_usage``): every
    change of the bytes a tenant stores is added in the same transaction.
    """

    async def apply(
        self,
        conn: AsyncConnection,
        event: EventBase,
        *,
        usage: Usage | None = None,
        fresh: bool = False,
    ) -> bool:
        """Apply one event inside the caller's transaction.

        Args:
            conn: The caller's transaction.
            event: The event.
            usage: Where to add the event's storage delta instead of writing it to
                ``tenant_usage`` now (a batch writes every tenant's delta once, at its end).
            fresh: The event was just made by the caller (the write path), so it cannot have
                been applied before: the ``processed_events`` lookup is skipped (the row's
                primary key still refuses a second one).

        Returns:
            True when the event changed the index, False when it was already applied.

        Raises:
            EventNotReadyError: An earlier event of the same artifact is still missing.
            EventRejectedError: The event contradicts the index (e.g. a second create).
        """
        if not fresh and await conn.scalar(_SEEN, {"b_event_id": event.event_id}) is not None:
            return False
        if isinstance(event, ArtifactEvent):
            await lock_artifact(conn, event.artifact_id)
        delta: tuple[int, int] | None = None
        if isinstance(event, ArtifactCreated):
            await self._created(conn, event)
            delta = (event.size_bytes, 1)
        elif isinstance(event, SessionSealed):
            await self._sealed(conn, event)
        elif isinstance(event, ArtifactEvent):
            row = await self._advance(conn, event)
            live = row.deleted_at is None and row.purged_at is None
            if isinstance(event, ArtifactVersioned):
                await self._versioned(conn, event, row)
                if live:
                    delta = (event.size_bytes, 1)
            elif isinstance(event, ArtifactShared):
                await self._shared(conn, event)
            elif isinstance(event, ArtifactUpdated):
                await self._updated(conn, event)
            elif isinstance(event, ArtifactDeleted):
                delta = await self._deleted(conn, event, live=live)
            elif isinstance(event, ArtifactExpired):
                await conn.execute(
                    update(t.artifacts)
                    .where(t.artifacts.c.artifact_id == event.artifact_id)
                    .values(expired_at=event.occurred_at)
                )
            else:  # pragma: no cover - every ArtifactEvent subclass is handled above
                raise EventRejectedError(f"unknown event type {event.type}")
        else:  # pragma: no cover
            raise EventRejectedError(f"unknown event type {event.type}")
        if delta is not None and (delta[0] or delta[1]):
            if usage is not None:
                add_usage(usage, event.tenant_id, *delta)
            else:
                await conn.execute(
                    usage_upsert(conn),
                    {"tenant_id": event.tenant_id, "bytes": delta[0], "versions": delta[1]},
                )
        await conn.execute(
            _INSERT_PROCESSED,
            {
                "event_id": event.event_id,
                "event_type": event.type,
                "applied_at": datetime.now(UTC),
                "digest": event_digest(event),
            },
        )
        return True

    async def _advance(self, conn: AsyncConnection, event: ArtifactEvent) -> _State:
        """Move the artifact's revision from ``seq - 1`` to ``seq``, or say why not.

        Returns:
            The artifact's row as it was (revision, tenant, version, metadata, deletion).
        """
        row: _State | None = (
            await conn.execute(_STATE, {"b_artifact_id": event.artifact_id})
        ).first()
        check_sequence(event, row)
        assert row is not None  # check_sequence raised otherwise
        result = await conn.execute(
            _ADVANCE,
            {
                "b_artifact_id": event.artifact_id,
                "b_from_revision": row.revision,
                "b_revision": event.seq,
                "b_updated_at": event.occurred_at,
            },
        )
        if result.rowcount != 1:  # a concurrent writer advanced it first
            raise EventNotReadyError(
                f"{event.artifact_id} changed concurrently", artifact_id=event.artifact_id
            )
        return row

    async def _created(self, conn: AsyncConnection, event: ArtifactCreated) -> None:
        # ON CONFLICT DO NOTHING tells an existing artifact without a SELECT first, and
        # without aborting the transaction (PostgreSQL) as a unique violation would.
        result = await conn.execute(insert_ignore(conn, "artifacts"), created_artifact_row(event))
        if result.rowcount != 1:
            raise EventRejectedError(
                f"artifact {event.artifact_id} already exists", artifact_id=event.artifact_id
            )
        await conn.execute(
            _INSERT_VERSION,
            {
                "artifact_id": event.artifact_id,
                "version": 1,
                "sha256": event.sha256,
                "size_bytes": event.size_bytes,
                "content_type": event.content_type,
                "metadata": event.metadata,
                "agent_id": event.agent_id,
                "created_at": event.occurred_at,
            },
        )
        # A new artifact has no side rows yet: insert without the DELETE of a replace.
        await self._replace_pairs(conn, event.artifact_id, "label", event.labels, fresh=True)
        await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata, fresh=True)
        await self._replace_tags(conn, event.artifact_id, event.tags, fresh=True)
        if event.lineage is not None:
            await self._lineage(conn, event, 1, event.lineage)
        if event.session_id:
            await self._touch_session(conn, event.tenant_id, event.session_id, event.occurred_at)

    async def _versioned(
        self, conn: AsyncConnection, event: ArtifactVersioned, previous: _State
    ) -> None:
        if event.version != previous.version + 1:
            raise EventRejectedError(
                f"version {event.version} of {event.artifact_id} does not follow "
                f"version {previous.version}",
                artifact_id=event.artifact_id,
                version=event.version,
            )
        metadata = previous.metadata if event.metadata is None else event.metadata
        await conn.execute(
            _INSERT_VERSION,
            {
                "artifact_id": event.artifact_id,
                "version": event.version,
                "sha256": event.sha256,
                "size_bytes": event.size_bytes,
                "content_type": event.content_type,
                "metadata": metadata,
                "agent_id": event.agent_id,
                "created_at": event.occurred_at,
            },
        )
        values = versioned_artifact_values(event, metadata)
        if event.lineage is not None:
            await self._lineage(conn, event, event.version, event.lineage)
        await _update_artifact(conn, event.artifact_id, values)
        if event.metadata is not None:
            await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata)

    async def _shared(self, conn: AsyncConnection, event: ArtifactShared) -> None:
        for principal in event.revokes:
            await conn.execute(
                _DELETE_ACCESS,
                {
                    "b_artifact_id": event.artifact_id,
                    "b_principal_type": principal.type,
                    "b_principal_id": principal.id,
                },
            )
        if event.grants:
            # An existing grant is kept as it is (who granted it first, and when).
            await conn.execute(
                insert_ignore(conn, "access_entries"),
                [
                    {
                        "artifact_id": event.artifact_id,
                        "principal_type": principal.type,
                        "principal_id": principal.id,
                        "granted_by": event.actor,
                        "granted_at": event.occurred_at,
                    }
                    for principal in {(p.type, p.id): p for p in event.grants}.values()
                ],
            )

    async def _updated(self, conn: AsyncConnection, event: ArtifactUpdated) -> None:
        values = updated_artifact_values(event)
        if values:
            await _update_artifact(conn, event.artifact_id, values)
        if event.metadata is not None:
            await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata)
        if event.labels is not None:
            await self._replace_pairs(conn, event.artifact_id, "label", event.labels)
        if event.tags is not None:
            await self._replace_tags(conn, event.artifact_id, event.tags)

    async def _deleted(
        self, conn: AsyncConnection, event: ArtifactDeleted, *, live: bool
    ) -> tuple[int, int] | None:
        """Apply a delete; return the storage delta (``live``: the artifact counted)."""
        if event.version is None:
            delta = None
            if live:  # its versions stop counting now (a purge after a delete: already)
                size, count = await self._live_usage(conn, event.artifact_id)
                delta = (-size, -count)
            if event.purged:
                # The artifact row stays as a tombstone (its revision orders any late event).
                for table in (
                    t.artifact_versions,
                    t.artifact_labels,
                    t.artifact_tags,
                    t.access_entries,
                    t.artifact_lineage,
                    t.lineage_inputs,
                ):
                    await conn.execute(
                        delete(table).where(table.c.artifact_id == event.artifact_id)
                    )
                await conn.execute(
                    update(t.artifacts)
                    .where(t.artifacts.c.artifact_id == event.artifact_id)
                    .values(
                        deleted_at=func.coalesce(t.artifacts.c.deleted_at, event.occurred_at),
                        purged_at=event.occurred_at,
                        metadata={},
                        labels={},
                        tags=[],
                        metrics={},
                    )
                )
            else:
                await conn.execute(
                    update(t.artifacts)
                    .where(t.artifacts.c.artifact_id == event.artifact_id)
                    .values(deleted_at=event.occurred_at)
                )
            return delta
        v = t.artifact_versions.c
        where = and_(v.artifact_id == event.artifact_id, v.version == event.version)
        version = (await conn.execute(select(v.size_bytes, v.deleted_at).where(where))).first()
        if version is None:
            raise EventRejectedError(
                f"{event.artifact_id} has no version {event.version}",
                artifact_id=event.artifact_id,
                version=event.version,
            )
        await conn.execute(
            update(t.artifact_versions).where(where).values(deleted_at=event.occurred_at)
        )
        if live and version.deleted_at is None:
            return (-int(version.size_bytes), -1)
        return None

    async def _sealed(self, conn: AsyncConnection, event: SessionSealed) -> None:
        await self._touch_session(conn, event.tenant_id, event.session_id, event.occurred_at)
        await conn.execute(
            SEAL_SESSION,
            {
                "b_tenant_id": event.tenant_id,
                "b_session_id": event.session_id,
                "b_sealed_at": event.occurred_at,
            },
        )
