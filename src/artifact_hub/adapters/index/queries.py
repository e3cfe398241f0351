"""The read side of the index: artifacts, versions, access and sessions, tenant-confined.

Every query takes the tenant; list queries also take the caller, and return only what its
agent owns or was shared with it (directly or through one of its groups).
"""

from __future__ import annotations

import base64
import builtins
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.artifact_rows import artifact_from_row
from artifact_hub.adapters.index.lineage_queries import LineageQueries
from artifact_hub.adapters.index.projector import label_value
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.ports.index import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_LINEAGE_NODES,
    ArtifactFilter,
    IndexReads,
    Page,
)
from artifact_hub.schemas.artifacts import AccessEntry, Artifact, ArtifactVersion, Session
from artifact_hub.schemas.identity import Caller

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_LINEAGE_NODES",
    "ArtifactFilter",
    "IndexReader",
    "Page",
    "artifact_from_row",
    "decode_cursor",
    "encode_cursor",
]


def encode_cursor(created_at: datetime, artifact_id: str) -> str:
    """An opaque cursor pointing just after ``(created_at, artifact_id)``."""
    raw = json.dumps([created_at.isoformat(), artifact_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Read a cursor made by :func:`encode_cursor`.

    Raises:
        InvalidRequestError: The cursor was not made by this API.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, artifact_id = json.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(created)
        if not isinstance(artifact_id, str):
            raise TypeError(artifact_id)
    except (ValueError, TypeError) as error:
        raise InvalidRequestError("cursor is not valid", cursor=cursor) from error
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), artifact_id


class IndexReader(LineageQueries):
    """Queries over the index tables."""

    @staticmethod
    def visible_to(caller: Caller) -> ColumnElement[bool]:
        """The condition for artifacts the caller may read (within its tenant)."""
        tenant = and_(
            t.artifacts.c.tenant_id == caller.tenant_id, t.artifacts.c.purged_at.is_(None)
        )
        if caller.admin:
            return tenant
        return and_(tenant, or_(t.artifacts.c.agent_id == caller.agent_id, _shared_with(caller)))

    async def get(self, conn: AsyncConnection, tenant_id: str, artifact_id: str) -> Artifact | None:
        """The artifact (deleted or expired ones included), or None outside the tenant."""
        row = (
            await conn.execute(
                select(t.artifacts).where(
                    and_(
                        t.artifacts.c.artifact_id == artifact_id,
                        t.artifacts.c.tenant_id == tenant_id,
                    )
                )
            )
        ).first()
        return None if row is None else artifact_from_row(row)

    async def can_read(self, conn: AsyncConnection, caller: Caller, artifact_id: str) -> bool:
        """Whether the caller may read this artifact."""
        found = await conn.scalar(
            select(t.artifacts.c.artifact_id).where(
                and_(t.artifacts.c.artifact_id == artifact_id, self.visible_to(caller))
            )
        )
        return found is not None

    def conditions(
        self,
        caller: Caller,
        filters: ArtifactFilter | None = None,
        *,
        now: datetime | None = None,
    ) -> builtins.list[ColumnElement[bool]]:
        """The WHERE conditions of :meth:`list`: visibility to the caller, then the filters.

        Search (``service/search.py``) applies the same ones, so every read path sees the same
        artifacts.
        """
        f = filters or ArtifactFilter()
        a = t.artifacts.c
        conditions: builtins.list[ColumnElement[bool]] = [self.visible_to(caller)]
        if f.shared_only:
            conditions.append(_shared_with(caller))
            if caller.agent_id is not None:
                conditions.append(or_(a.agent_id.is_(None), a.agent_id != caller.agent_id))
        for column, value in (
            (a.session_id, f.session_id),
            (a.agent_id, f.agent_id),
            (a.kind, f.kind),
            (a.name, f.name),
            (a.namespace, f.namespace),
            (a.content_type, f.content_type),
            (a.run_id, f.run_id),
            (a.graph_id, f.graph_id),
            (a.node_id, f.node_id),
            (a.pinned, f.pinned),
        ):
            if value is not None:
                conditions.append(column == value)
        if f.created_after is not None:
            conditions.append(a.created_at >= f.created_after)
        if f.created_before is not None:
            conditions.append(a.created_at < f.created_before)
        if not f.include_deleted:
            conditions.append(a.deleted_at.is_(None))
        if not f.include_expired:
            moment = now or datetime.now(UTC)
            conditions.append(a.expired_at.is_(None))
            # Pinned artifacts do not expire while pinned (docs/rest-api.md, Limits).
            conditions.append(
                or_(a.pinned == true(), a.expires_at.is_(None), a.expires_at > moment)
            )
        for tag in f.tags:
            conditions.append(
                exists().where(
                    and_(
                        t.artifact_tags.c.artifact_id == a.artifact_id, t.artifact_tags.c.tag == tag
                    )
                )
            )
        for source, pairs in (("label", f.labels), ("metadata", f.metadata)):
            for key, value in pairs.items():
                lbl = t.artifact_labels.c
                conditions.append(
                    exists().where(
                        and_(
                            lbl.artifact_id == a.artifact_id,
                            lbl.source == source,
                            lbl.key == key,
                            lbl.value == label_value(value),
                        )
                    )
                )
        return conditions

    async def list(
        self,
        conn: AsyncConnection,
        caller: Caller,
        filters: ArtifactFilter | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        offset: int | None = None,
        now: datetime | None = None,
    ) -> Page:
        """One page of the caller's artifacts, ``created_at DESC, artifact_id DESC``."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequestError(f"limit must be between 1 and {MAX_LIMIT}", limit=limit)
        a = t.artifacts.c
        conditions = self.conditions(caller, filters, now=now)
        if cursor is not None:
            created, last_id = decode_cursor(cursor)
            # A row value: SQLite and PostgreSQL both read it as one range of the
            # (tenant, [session|agent,] created_at, artifact_id) index, so a page costs the
            # same at any depth. The equivalent OR was a scan from the newest row with bound
            # parameters on SQLite (157 ms for the last page of a million).
            conditions.append(tuple_(a.created_at, a.artifact_id) < tuple_(created, last_id))
        query = (
            select(t.artifacts)
            .where(and_(*conditions))
            .order_by(a.created_at.desc(), a.artifact_id.desc())
            .limit(limit + 1)
        )
        if offset:
            query = query.offset(offset)
        rows = (await conn.execute(query)).all()
        items = [artifact_from_row(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at, last.artifact_id)
        return Page(items=items, next_cursor=next_cursor)

    async def versions(
        self, conn: AsyncConnection, artifact_id: str
    ) -> builtins.list[ArtifactVersion]:
        """Every version of the artifact, oldest first (soft-deleted ones included)."""
        rows = (
            await conn.execute(
                select(t.artifact_versions)
                .where(t.artifact_versions.c.artifact_id == artifact_id)
                .order_by(t.artifact_versions.c.version)
            )
        ).all()
        return [ArtifactVersion.model_validate(dict(row._mapping)) for row in rows]

    async def version(
        self, conn: AsyncConnection, artifact_id: str, version: int
    ) -> ArtifactVersion | None:
        """One version, or None."""
        row = (
            await conn.execute(
                select(t.artifact_versions).where(
                    and_(
                        t.artifact_versions.c.artifact_id == artifact_id,
                        t.artifact_versions.c.version == version,
                    )
                )
            )
        ).first()
        return None if row is None else ArtifactVersion.model_validate(dict(row._mapping))

    async def access(self, conn: AsyncConnection, artifact_id: str) -> builtins.list[AccessEntry]:
        """The artifact's grants, sorted by principal."""
        rows = (
            await conn.execute(
                select(t.access_entries)
                .where(t.access_entries.c.artifact_id == artifact_id)
                .order_by(t.access_entries.c.principal_type, t.access_entries.c.principal_id)
            )
        ).all()
        return [AccessEntry.model_validate(dict(row._mapping)) for row in rows]

    async def session(
        self, conn: AsyncConnection, tenant_id: str, session_id: str
    ) -> Session | None:
        """The session, or None when nothing was ever written to it nor sealed."""
        row = (
            await conn.execute(
                select(t.sessions).where(
                    and_(t.sessions.c.tenant_id == tenant_id, t.sessions.c.session_id == session_id)
                )
            )
        ).first()
        return None if row is None else Session.model_validate(dict(row._mapping))

    async def revision(self, conn: AsyncConnection, artifact_id: str) -> int | None:
        """The seq of the last event applied to the artifact (None when unknown)."""
        value = await conn.scalar(
            select(t.artifacts.c.revision)
            .where(t.artifacts.c.artifact_id == artifact_id)
            .with_for_update()
        )
        return None if value is None else int(value)

    async def blob_in_use(self, conn: AsyncConnection, sha256: str) -> bool:
        """Whether any version (deleted or not) still points at the blob."""
        found = await conn.scalar(
            select(t.artifact_versions.c.artifact_id)
            .where(t.artifact_versions.c.sha256 == sha256)
            .limit(1)
        )
        return found is not None

    async def snapshot(self, conn: AsyncConnection) -> dict[str, builtins.list[dict[str, Any]]]:
        """Every index table's rows, sorted: to compare two indexes built from one event log.

        Bookkeeping that differs between a live index and a rebuilt one (``processed_events``
        applied times, the outbox) is left out.
        """
        result: dict[str, builtins.list[dict[str, Any]]] = {}
        for table in (
            t.artifacts,
            t.artifact_versions,
            t.artifact_labels,
            t.artifact_tags,
            t.access_entries,
            t.sessions,
            t.artifact_lineage,
            t.lineage_inputs,
            t.tenant_usage,
        ):
            rows = (await conn.execute(select(table).order_by(*table.primary_key.columns))).all()
            result[table.name] = [dict(row._mapping) for row in rows]
        return result


def _shared_with(caller: Caller) -> ColumnElement[bool]:
    entries = t.access_entries.c
    principals: builtins.list[ColumnElement[bool]] = []
    if caller.agent_id is not None:
        principals.append(
            and_(entries.principal_type == "agent", entries.principal_id == caller.agent_id)
        )
    if caller.groups:
        principals.append(
            and_(entries.principal_type == "group", entries.principal_id.in_(caller.groups))
        )
    if not principals:
        return false()
    return exists().where(and_(entries.artifact_id == t.artifacts.c.artifact_id, or_(*principals)))


if TYPE_CHECKING:
    _port: type[IndexReads] = IndexReader  # mypy checks the reader against the port
