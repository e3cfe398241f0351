"""Revocable links in SQL, and the rows a link's use reads (the ``LinkStore`` port)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.ports.links import KeyGrant, LinkOwners, LinkRow, LinkStore

__all__ = ["SqlLinkStore"]


def _link(row: Any) -> LinkRow:
    return LinkRow(
        link_id=row.link_id,
        tenant_id=row.tenant_id,
        artifact_id=row.artifact_id,
        version=row.version,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class SqlLinkStore:
    """The ``links`` table (and reads of ``artifacts`` and ``api_keys`` for a link's use)."""

    async def insert_link(self, conn: AsyncConnection, link: LinkRow) -> None:
        """Add a link."""
        await conn.execute(
            insert(t.links).values(
                link_id=link.link_id,
                tenant_id=link.tenant_id,
                artifact_id=link.artifact_id,
                version=link.version,
                created_by=link.created_by,
                created_at=link.created_at,
                expires_at=link.expires_at,
                revoked_at=link.revoked_at,
            )
        )

    async def get_link(self, conn: AsyncConnection, link_id: str) -> LinkRow | None:
        """The link, or None."""
        row = (await conn.execute(select(t.links).where(t.links.c.link_id == link_id))).first()
        return None if row is None else _link(row)

    async def link_owners(
        self, conn: AsyncConnection, tenant_id: str, link_id: str
    ) -> LinkOwners | None:
        """The link's maker and its artifact's owner, or None."""
        row = (
            await conn.execute(
                select(t.links.c.created_by, t.artifacts.c.agent_id.label("owner"))
                .select_from(
                    t.links.outerjoin(
                        t.artifacts, t.artifacts.c.artifact_id == t.links.c.artifact_id
                    )
                )
                .where(and_(t.links.c.link_id == link_id, t.links.c.tenant_id == tenant_id))
            )
        ).first()
        if row is None:
            return None
        return LinkOwners(created_by=row.created_by, artifact_owner=row.owner)

    async def revoke_link(self, conn: AsyncConnection, link_id: str, at: datetime) -> None:
        """Mark the link revoked unless it already is."""
        await conn.execute(
            update(t.links)
            .where(and_(t.links.c.link_id == link_id, t.links.c.revoked_at.is_(None)))
            .values(revoked_at=at)
        )

    async def list_links(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        artifact_id: str,
        *,
        limit: int,
        active_at: datetime | None = None,
        before: tuple[datetime, str] | None = None,
    ) -> list[LinkRow]:
        """The artifact's links, newest first."""
        c = t.links.c
        condition = and_(c.tenant_id == tenant_id, c.artifact_id == artifact_id)
        if active_at is not None:
            condition = and_(condition, c.revoked_at.is_(None), c.expires_at > active_at)
        if before is not None:
            created_at, link_id = before
            condition = and_(
                condition,
                or_(
                    c.created_at < created_at,
                    and_(c.created_at == created_at, c.link_id < link_id),
                ),
            )
        rows = (
            await conn.execute(
                select(t.links)
                .where(condition)
                .order_by(c.created_at.desc(), c.link_id.desc())
                .limit(limit)
            )
        ).all()
        return [_link(row) for row in rows]

    async def artifact_tenant(self, conn: AsyncConnection, artifact_id: str) -> str | None:
        """The artifact's tenant, or None."""
        tenant_id = await conn.scalar(
            select(t.artifacts.c.tenant_id).where(t.artifacts.c.artifact_id == artifact_id)
        )
        return None if tenant_id is None else str(tenant_id)

    async def agent_grants(
        self, conn: AsyncConnection, tenant_id: str, agent_id: str
    ) -> list[KeyGrant]:
        """The grants of the agent's keys in the tenant, revoked ones included."""
        k = t.api_keys.c
        rows = (
            await conn.execute(
                select(k.groups, k.admin, k.revoked_at).where(
                    and_(k.tenant_id == tenant_id, k.agent_id == agent_id)
                )
            )
        ).all()
        return [
            KeyGrant(
                groups=tuple(row.groups or ()),
                admin=bool(row.admin),
                revoked=row.revoked_at is not None,
            )
            for row in rows
        ]


if TYPE_CHECKING:
    _port: type[LinkStore] = SqlLinkStore  # mypy checks the store against the port
