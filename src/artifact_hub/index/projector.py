"""The projection from events to the index: the one piece of code that changes index rows.

The service layer calls it inside its write transaction; the consumers call it for events
that arrive from Kafka or in-process. Applying is idempotent: the event id is recorded in
``processed_events`` in the same transaction as the change, so a replay is a no-op. Events
about one artifact are applied in ``seq`` order: an event whose predecessor has not been applied
yet raises ``EventNotReadyError`` (try again later), one that contradicts what is applied raises
``EventRejectedError`` (dead-letter it).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.errors import EventNotReadyError, EventRejectedError
from artifact_hub.index import tables as t
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
from artifact_hub.schemas.lineage import Lineage

__all__ = ["IndexProjector", "event_digest", "label_value", "lock_artifact"]


def event_digest(event: EventBase) -> str:
    """SHA-256 of the event's canonical JSON (every field, envelope included).

    Recorded with the event id in ``processed_events``: a redelivery of the same event has the
    same digest, a different event that reuses the id does not.
    """
    document = json.dumps(
        event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(document.encode()).hexdigest()


async def lock_artifact(conn: AsyncConnection, artifact_id: str) -> None:
    """Serialize transactions about one artifact until the caller's transaction ends.

    A row lock cannot do it before the artifact's row exists (an early event and the create
    it waits for would race); PostgreSQL takes an advisory lock on the id. SQLite needs
    nothing: its write transactions already run one at a time.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:id, 0))"), {"id": artifact_id}
        )


def label_value(value: Any) -> str:
    """How a label or metadata value is stored (and compared) in the key/value side table.

    Every value is stored as its canonical JSON, so the string ``"3"`` and the number ``3``
    stay different.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)[:512]


class IndexProjector:
    """Applies events to the index tables, idempotently and in per-artifact order."""

    async def apply(self, conn: AsyncConnection, event: EventBase) -> bool:
        """Apply one event inside the caller's transaction.

        Returns:
            True when the event changed the index, False when it was already applied.

        Raises:
            EventNotReadyError: An earlier event of the same artifact is still missing.
            EventRejectedError: The event contradicts the index (e.g. a second create).
        """
        seen = await conn.scalar(
            select(t.processed_events.c.event_id).where(
                t.processed_events.c.event_id == event.event_id
            )
        )
        if seen is not None:
            return False
        if isinstance(event, ArtifactEvent):
            await lock_artifact(conn, event.artifact_id)
        if isinstance(event, ArtifactCreated):
            await self._created(conn, event)
        elif isinstance(event, SessionSealed):
            await self._sealed(conn, event)
        elif isinstance(event, ArtifactEvent):
            await self._advance(conn, event)
            if isinstance(event, ArtifactVersioned):
                await self._versioned(conn, event)
            elif isinstance(event, ArtifactShared):
                await self._shared(conn, event)
            elif isinstance(event, ArtifactUpdated):
                await self._updated(conn, event)
            elif isinstance(event, ArtifactDeleted):
                await self._deleted(conn, event)
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
        await conn.execute(
            insert(t.processed_events).values(
                event_id=event.event_id,
                event_type=event.type,
                applied_at=datetime.now(UTC),
                digest=event_digest(event),
            )
        )
        return True

    async def _advance(self, conn: AsyncConnection, event: ArtifactEvent) -> None:
        """Move the artifact's revision from ``seq - 1`` to ``seq``, or say why not."""
        row = (
            await conn.execute(
                select(t.artifacts.c.revision, t.artifacts.c.tenant_id)
                .where(t.artifacts.c.artifact_id == event.artifact_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise EventNotReadyError(
                f"{event.type} for {event.artifact_id} arrived before artifact.created",
                artifact_id=event.artifact_id,
                seq=event.seq,
            )
        if row.tenant_id != event.tenant_id:
            raise EventRejectedError(
                f"{event.type} for {event.artifact_id} names another tenant",
                artifact_id=event.artifact_id,
            )
        if event.seq <= row.revision:
            raise EventRejectedError(
                f"{event.type} seq {event.seq} for {event.artifact_id} was already taken by "
                f"another event (revision is {row.revision})",
                artifact_id=event.artifact_id,
                seq=event.seq,
            )
        if event.seq > row.revision + 1:
            raise EventNotReadyError(
                f"{event.type} seq {event.seq} for {event.artifact_id} waits for seq "
                f"{row.revision + 1}",
                artifact_id=event.artifact_id,
                seq=event.seq,
            )
        result = await conn.execute(
            update(t.artifacts)
            .where(
                and_(
                    t.artifacts.c.artifact_id == event.artifact_id,
                    t.artifacts.c.revision == row.revision,
                )
            )
            .values(revision=event.seq, updated_at=event.occurred_at)
        )
        if result.rowcount != 1:  # a concurrent writer advanced it first
            raise EventNotReadyError(
                f"{event.artifact_id} changed concurrently", artifact_id=event.artifact_id
            )

    async def _created(self, conn: AsyncConnection, event: ArtifactCreated) -> None:
        exists = await conn.scalar(
            select(t.artifacts.c.artifact_id).where(t.artifacts.c.artifact_id == event.artifact_id)
        )
        if exists is not None:
            raise EventRejectedError(
                f"artifact {event.artifact_id} already exists", artifact_id=event.artifact_id
            )
        await conn.execute(
            insert(t.artifacts).values(
                artifact_id=event.artifact_id,
                tenant_id=event.tenant_id,
                namespace=event.namespace,
                name=event.name,
                agent_id=event.agent_id,
                session_id=event.session_id,
                kind=event.kind,
                content_type=event.content_type,
                version=1,
                sha256=event.sha256,
                size_bytes=event.size_bytes,
                metadata=event.metadata,
                labels=event.labels,
                tags=event.tags,
                metrics=event.metrics,
                pinned=event.pinned,
                uri=event.uri,
                preview_uri=event.preview_uri,
                run_id=event.run_id or (event.lineage.run_id if event.lineage else None),
                graph_id=event.graph_id or (event.lineage.workflow_id if event.lineage else None),
                node_id=event.node_id or (event.lineage.step_id if event.lineage else None),
                tool_name=event.tool_name,
                tool_version=event.tool_version,
                org_id=event.org_id,
                user_id=event.user_id,
                client_id=event.client_id,
                app_id=event.app_id,
                created_at=event.occurred_at,
                updated_at=event.occurred_at,
                expires_at=event.expires_at,
                revision=1,
            )
        )
        await conn.execute(
            insert(t.artifact_versions).values(
                artifact_id=event.artifact_id,
                version=1,
                sha256=event.sha256,
                size_bytes=event.size_bytes,
                content_type=event.content_type,
                metadata=event.metadata,
                agent_id=event.agent_id,
                created_at=event.occurred_at,
            )
        )
        # A new artifact has no side rows yet: insert without the DELETE of a replace.
        await self._replace_pairs(conn, event.artifact_id, "label", event.labels, fresh=True)
        await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata, fresh=True)
        await self._replace_tags(conn, event.artifact_id, event.tags, fresh=True)
        if event.lineage is not None:
            await self._lineage(conn, event, 1, event.lineage)
        if event.session_id:
            await self._touch_session(conn, event.tenant_id, event.session_id, event.occurred_at)

    async def _versioned(self, conn: AsyncConnection, event: ArtifactVersioned) -> None:
        previous = (
            await conn.execute(
                select(t.artifacts.c.version, t.artifacts.c.metadata).where(
                    t.artifacts.c.artifact_id == event.artifact_id
                )
            )
        ).one()
        if event.version != previous.version + 1:
            raise EventRejectedError(
                f"version {event.version} of {event.artifact_id} does not follow "
                f"version {previous.version}",
                artifact_id=event.artifact_id,
                version=event.version,
            )
        metadata = previous.metadata if event.metadata is None else event.metadata
        await conn.execute(
            insert(t.artifact_versions).values(
                artifact_id=event.artifact_id,
                version=event.version,
                sha256=event.sha256,
                size_bytes=event.size_bytes,
                content_type=event.content_type,
                metadata=metadata,
                agent_id=event.agent_id,
                created_at=event.occurred_at,
            )
        )
        values: dict[str, Any] = {
            "version": event.version,
            "sha256": event.sha256,
            "size_bytes": event.size_bytes,
            "metadata": metadata,
        }
        if event.content_type is not None:
            values["content_type"] = event.content_type
        if event.lineage is not None:
            # The artifact row names the run that made its current version.
            values["run_id"] = event.lineage.run_id
            if event.lineage.workflow_id is not None:
                values["graph_id"] = event.lineage.workflow_id
            if event.lineage.step_id is not None:
                values["node_id"] = event.lineage.step_id
            await self._lineage(conn, event, event.version, event.lineage)
        await conn.execute(
            update(t.artifacts).where(t.artifacts.c.artifact_id == event.artifact_id).values(values)
        )
        if event.metadata is not None:
            await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata)

    @staticmethod
    async def _lineage(
        conn: AsyncConnection, event: ArtifactEvent, version: int, lineage: Lineage
    ) -> None:
        """Record which run and step made ``version``, and the versions it was made from."""
        await conn.execute(
            insert(t.artifact_lineage).values(
                artifact_id=event.artifact_id,
                version=version,
                tenant_id=event.tenant_id,
                run_id=lineage.run_id,
                workflow_id=lineage.workflow_id,
                step_id=lineage.step_id,
                created_at=event.occurred_at,
            )
        )
        inputs = {(i.artifact_id, i.version): None for i in lineage.inputs}  # unique, in order
        if inputs:
            await conn.execute(
                insert(t.lineage_inputs),
                [
                    {
                        "artifact_id": event.artifact_id,
                        "version": version,
                        "input_artifact_id": input_id,
                        "input_version": input_version,
                        "tenant_id": event.tenant_id,
                    }
                    for input_id, input_version in inputs
                ],
            )

    async def _shared(self, conn: AsyncConnection, event: ArtifactShared) -> None:
        entries = t.access_entries
        for principal in event.revokes:
            await conn.execute(
                delete(entries).where(
                    and_(
                        entries.c.artifact_id == event.artifact_id,
                        entries.c.principal_type == principal.type,
                        entries.c.principal_id == principal.id,
                    )
                )
            )
        for principal in event.grants:
            existing = await conn.scalar(
                select(entries.c.principal_id).where(
                    and_(
                        entries.c.artifact_id == event.artifact_id,
                        entries.c.principal_type == principal.type,
                        entries.c.principal_id == principal.id,
                    )
                )
            )
            if existing is None:
                await conn.execute(
                    insert(entries).values(
                        artifact_id=event.artifact_id,
                        principal_type=principal.type,
                        principal_id=principal.id,
                        granted_by=event.actor,
                        granted_at=event.occurred_at,
                    )
                )

    async def _updated(self, conn: AsyncConnection, event: ArtifactUpdated) -> None:
        values: dict[str, Any] = {}
        if event.pinned is not None:
            values["pinned"] = event.pinned
        if event.expiry is not None:
            values["expires_at"] = event.expiry.expires_at
            values["expired_at"] = None
        for field in ("metadata", "labels", "tags", "metrics"):
            value = getattr(event, field)
            if value is not None:
                values[field] = value
        if values:
            await conn.execute(
                update(t.artifacts)
                .where(t.artifacts.c.artifact_id == event.artifact_id)
                .values(values)
            )
        if event.metadata is not None:
            await self._replace_pairs(conn, event.artifact_id, "metadata", event.metadata)
        if event.labels is not None:
            await self._replace_pairs(conn, event.artifact_id, "label", event.labels)
        if event.tags is not None:
            await self._replace_tags(conn, event.artifact_id, event.tags)

    async def _deleted(self, conn: AsyncConnection, event: ArtifactDeleted) -> None:
        if event.purged and event.version is None:
            # The artifact row stays as a tombstone (its revision orders any late event).
            for table in (
                t.artifact_versions,
                t.artifact_labels,
                t.artifact_tags,
                t.access_entries,
                t.artifact_lineage,
                t.lineage_inputs,
            ):
                await conn.execute(delete(table).where(table.c.artifact_id == event.artifact_id))
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
            return
        if event.version is None:
            await conn.execute(
                update(t.artifacts)
                .where(t.artifacts.c.artifact_id == event.artifact_id)
                .values(deleted_at=event.occurred_at)
            )
            return
        result = await conn.execute(
            update(t.artifact_versions)
            .where(
                and_(
                    t.artifact_versions.c.artifact_id == event.artifact_id,
                    t.artifact_versions.c.version == event.version,
                )
            )
            .values(deleted_at=event.occurred_at)
        )
        if result.rowcount != 1:
            raise EventRejectedError(
                f"{event.artifact_id} has no version {event.version}",
                artifact_id=event.artifact_id,
                version=event.version,
            )

    async def _sealed(self, conn: AsyncConnection, event: SessionSealed) -> None:
        await self._touch_session(conn, event.tenant_id, event.session_id, event.occurred_at)
        await conn.execute(
            update(t.sessions)
            .where(
                and_(
                    t.sessions.c.tenant_id == event.tenant_id,
                    t.sessions.c.session_id == event.session_id,
                    t.sessions.c.sealed_at.is_(None),
                )
            )
            .values(sealed_at=event.occurred_at)
        )

    @staticmethod
    async def _touch_session(
        conn: AsyncConnection, tenant_id: str, session_id: str, at: datetime
    ) -> None:
        sessions = t.sessions
        existing = (
            await conn.execute(
                select(sessions.c.created_at).where(
                    and_(sessions.c.tenant_id == tenant_id, sessions.c.session_id == session_id)
                )
            )
        ).first()
        if existing is None:
            await conn.execute(
                insert(sessions).values(tenant_id=tenant_id, session_id=session_id, created_at=at)
            )
        elif at < existing.created_at:
            # Events of different artifacts may arrive in any order; keep the earliest.
            await conn.execute(
                update(sessions)
                .where(and_(sessions.c.tenant_id == tenant_id, sessions.c.session_id == session_id))
                .values(created_at=at)
            )

    @staticmethod
    async def _replace_pairs(
        conn: AsyncConnection,
        artifact_id: str,
        source: str,
        pairs: dict[str, Any],
        *,
        fresh: bool = False,
    ) -> None:
        labels = t.artifact_labels
        if not fresh:
            await conn.execute(
                delete(labels).where(
                    and_(labels.c.artifact_id == artifact_id, labels.c.source == source)
                )
            )
        if pairs:
            await conn.execute(
                insert(labels),
                [
                    {
                        "artifact_id": artifact_id,
                        "source": source,
                        "key": key[:128],
                        "value": label_value(value),
                    }
                    for key, value in pairs.items()
                ],
            )

    @staticmethod
    async def _replace_tags(
        conn: AsyncConnection, artifact_id: str, tags: list[str], *, fresh: bool = False
    ) -> None:
        if not fresh:
            await conn.execute(
                delete(t.artifact_tags).where(t.artifact_tags.c.artifact_id == artifact_id)
            )
        unique = sorted(set(tags))
        if unique:
            await conn.execute(
                insert(t.artifact_tags),
                [{"artifact_id": artifact_id, "tag": tag} for tag in unique],
            )
