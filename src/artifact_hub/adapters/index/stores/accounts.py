"""Tenants, API keys and ingestion secrets in SQL (the ``AccountStore`` port)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from artifact_hub.adapters.index import tables as t
from artifact_hub.core.errors import ConflictError
from artifact_hub.ports.accounts import AccountStore, ApiKeyRow, IngestionSecretRow, TenantRow

__all__ = ["SqlAccountStore"]


def _secret_row(scope: str, owner_id: str) -> ColumnElement[bool]:
    s = t.ingestion_secrets.c
    return and_(s.scope == scope, s.owner_id == owner_id)


def _key(row: Any) -> ApiKeyRow:
    return ApiKeyRow(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        agent_id=row.agent_id,
        groups=tuple(row.groups or ()),
        namespace=row.namespace,
        admin=bool(row.admin),
        secret_sha256=str(row.secret_sha256),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class SqlAccountStore:
    """The ``tenants``, ``api_keys`` and ``ingestion_secrets`` tables."""

    async def count_tenants(self, conn: AsyncConnection) -> int:
        """How many tenants the hub has."""
        return int(await conn.scalar(select(func.count()).select_from(t.tenants)) or 0)

    async def insert_tenant(self, conn: AsyncConnection, tenant: TenantRow) -> None:
        """Add a tenant (``ConflictError`` when it exists)."""
        try:
            await conn.execute(
                insert(t.tenants).values(
                    tenant_id=tenant.tenant_id,
                    name=tenant.name,
                    plan=tenant.plan,
                    created_at=tenant.created_at,
                )
            )
        except IntegrityError as error:
            raise ConflictError(f"tenant {tenant.tenant_id} exists") from error

    async def get_tenant(self, conn: AsyncConnection, tenant_id: str) -> TenantRow | None:
        """The tenant, or None."""
        row = (
            await conn.execute(select(t.tenants).where(t.tenants.c.tenant_id == tenant_id))
        ).first()
        if row is None:
            return None
        return TenantRow(
            tenant_id=row.tenant_id, name=row.name, plan=row.plan, created_at=row.created_at
        )

    async def insert_key(self, conn: AsyncConnection, key: ApiKeyRow) -> None:
        """Add an API key."""
        await conn.execute(
            insert(t.api_keys).values(
                key_id=key.key_id,
                tenant_id=key.tenant_id,
                agent_id=key.agent_id,
                groups=list(key.groups),
                namespace=key.namespace,
                admin=key.admin,
                secret_sha256=key.secret_sha256,
                created_at=key.created_at,
                revoked_at=key.revoked_at,
            )
        )

    async def key_and_plan(
        self, conn: AsyncConnection, key_id: str
    ) -> tuple[ApiKeyRow, str] | None:
        """The key and its tenant's plan, or None."""
        row = (
            await conn.execute(
                select(t.api_keys, t.tenants.c.plan)
                .join(t.tenants, t.tenants.c.tenant_id == t.api_keys.c.tenant_id)
                .where(t.api_keys.c.key_id == key_id)
            )
        ).first()
        return None if row is None else (_key(row), str(row.plan))

    async def revoke_key(self, conn: AsyncConnection, key_id: str, at: datetime) -> bool:
        """Mark a live key revoked; False when there is no such live key."""
        result = await conn.execute(
            update(t.api_keys)
            .where(t.api_keys.c.key_id == key_id, t.api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)

    async def list_keys(self, conn: AsyncConnection, tenant_id: str) -> list[ApiKeyRow]:
        """The tenant's keys, oldest first."""
        rows = (
            await conn.execute(
                select(t.api_keys)
                .where(t.api_keys.c.tenant_id == tenant_id)
                .order_by(t.api_keys.c.created_at, t.api_keys.c.key_id)
            )
        ).all()
        return [_key(row) for row in rows]

    async def insert_secret(
        self, conn: AsyncConnection, scope: str, owner_id: str, secret: str, created_at: datetime
    ) -> None:
        """Add the owner's secret (``ConflictError`` when it has one)."""
        try:
            await conn.execute(
                insert(t.ingestion_secrets).values(
                    scope=scope, owner_id=owner_id, secret=secret, created_at=created_at
                )
            )
        except IntegrityError as error:
            raise ConflictError(f"{scope} {owner_id} has an ingestion secret") from error

    async def rotate_secret(
        self,
        conn: AsyncConnection,
        scope: str,
        owner_id: str,
        secret: str,
        *,
        at: datetime,
        previous_valid_until: datetime,
    ) -> bool:
        """Replace the owner's secret; False when it has none."""
        result = await conn.execute(
            update(t.ingestion_secrets)
            .where(_secret_row(scope, owner_id))
            .values(
                previous_secret=t.ingestion_secrets.c.secret,  # the value before this update
                previous_valid_until=previous_valid_until,
                secret=secret,
                rotated_at=at,
            )
        )
        return bool(result.rowcount)

    async def get_secret(
        self, conn: AsyncConnection, scope: str, owner_id: str
    ) -> IngestionSecretRow | None:
        """The owner's secret, or None."""
        row = (
            await conn.execute(select(t.ingestion_secrets).where(_secret_row(scope, owner_id)))
        ).first()
        if row is None:
            return None
        return IngestionSecretRow(
            secret=str(row.secret),
            previous_secret=None if row.previous_secret is None else str(row.previous_secret),
            previous_valid_until=row.previous_valid_until,
        )

    async def delete_secret(self, conn: AsyncConnection, scope: str, owner_id: str) -> bool:
        """Delete the owner's secret; False when it had none."""
        result = await conn.execute(delete(t.ingestion_secrets).where(_secret_row(scope, owner_id)))
        return bool(result.rowcount)


if TYPE_CHECKING:
    _port: type[AccountStore] = SqlAccountStore  # mypy checks the store against the port
