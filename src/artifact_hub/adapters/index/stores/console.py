"""Reads only the web console needs: a caller by key id, the tenant's sessions and events.

Kept apart from :mod:`.queries` (the artifact reads every entry point shares). Every query is
confined to one tenant; the events are filtered to the artifacts the caller may read with
:meth:`IndexReader.visible_to`, the same condition the artifact list uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import and_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t

# A session page's cursor has the artifact cursor's shape: (created_at, id), newest first.
from artifact_hub.adapters.index.queries import IndexReader, decode_cursor, encode_cursor
from artifact_hub.ports.console import ConsoleStore, EventRow, SessionPage
from artifact_hub.schemas.artifacts import Session
from artifact_hub.schemas.identity import Caller

__all__ = ["SqlConsoleStore"]


class SqlConsoleStore:
    """The console's SQL (the service layer calls it; the console itself never does)."""

    async def caller_for_key(self, conn: AsyncConnection, key_id: str) -> Caller | None:
        """The caller of a live (not revoked) API key, or None."""
        row = (
            await conn.execute(
                select(t.api_keys, t.tenants.c.plan)
                .join(t.tenants, t.tenants.c.tenant_id == t.api_keys.c.tenant_id)
                .where(t.api_keys.c.key_id == key_id)
            )
        ).first()
        if row is None or row.revoked_at is not None:
            return None
        return Caller(
            tenant_id=row.tenant_id,
            agent_id=row.agent_id,
            groups=tuple(row.groups or ()),
            namespace=row.namespace,
            admin=bool(row.admin),
            plan=row.plan,
            key_id=row.key_id,
        )

    async def sessions(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        *,
        state: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> SessionPage:
        """The tenant's sessions, newest first; ``state`` is ``open``, ``sealed`` or None."""
        s = t.sessions.c
        conditions = [s.tenant_id == tenant_id]
        if state == "open":
            conditions.append(s.sealed_at.is_(None))
        elif state == "sealed":
            conditions.append(s.sealed_at.is_not(None))
        if cursor:
            created, last = decode_cursor(cursor)
            conditions.append(tuple_(s.created_at, s.session_id) < tuple_(created, last))
        rows = (
            await conn.execute(
                select(t.sessions)
                .where(and_(*conditions))
                .order_by(s.created_at.desc(), s.session_id.desc())
                .limit(limit + 1)
            )
        ).all()
        items = [Session.model_validate(dict(row._mapping)) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(items[-1].created_at, items[-1].session_id)
        return SessionPage(items=items, next_cursor=next_cursor)

    async def events(
        self,
        conn: AsyncConnection,
        caller: Caller,
        *,
        after_id: int | None = None,
        limit: int = 50,
    ) -> list[EventRow]:
        """The tenant's latest events the caller may see, newest first.

        ``after_id``: only events written after that one (the live feed's next poll). Artifact
        events show only when the caller may read the artifact; session events always (any
        key of the tenant may read a session).
        """
        o = t.outbox.c
        conditions = [o.tenant_id == caller.tenant_id]
        if after_id is not None:
            conditions.append(o.id > after_id)
        query = select(o.id, o.event_type, o.key, o.created_at, o.payload).where(and_(*conditions))
        rows = (await conn.execute(query.order_by(o.id.desc()).limit(limit * 4))).all()
        artifact_ids = {row.key for row in rows if row.event_type.startswith("artifact.")}
        readable = await self._readable(conn, caller, sorted(artifact_ids))
        found = [
            EventRow(row.id, row.event_type, row.key, row.created_at, row.payload)
            for row in rows
            if not row.event_type.startswith("artifact.") or row.key in readable
        ]
        return found[:limit]

    @staticmethod
    async def _readable(conn: AsyncConnection, caller: Caller, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        rows = await conn.execute(
            select(t.artifacts.c.artifact_id).where(
                and_(t.artifacts.c.artifact_id.in_(ids), IndexReader.visible_to(caller))
            )
        )
        return {row.artifact_id for row in rows}


if TYPE_CHECKING:
    _port: type[ConsoleStore] = SqlConsoleStore  # mypy checks the store against the port
