"""Ingestion secrets: the per-tenant HMAC keys of bus events, and the hub's own bus secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from artifact_hub.adapters.index import tables as t
from artifact_hub.core.errors import ConflictError, InvalidRequestError
from artifact_hub.service.accounts.credentials import (
    _HUB_SCOPE,
    _TENANT_SCOPE,
    _new_ingestion_secret,
    _secret_row,
)
from artifact_hub.service.accounts.tenants import TenantAccounts


class IngestionSecrets(TenantAccounts):
    """Create, rotate, read and revoke ingestion secrets."""

    async def create_ingestion_secret(self, tenant_id: str) -> str:
        """Create the tenant's ingestion secret (what its agents sign bus events with).

        Returns:
            The secret. It can be read back (:meth:`ingestion_secret`); keep it out of logs.

        Raises:
            InvalidRequestError: Unknown tenant.
            ConflictError: The tenant has one already (rotate it instead).
        """
        if await self.get_tenant(tenant_id) is None:
            raise InvalidRequestError(f"unknown tenant {tenant_id}", tenant_id=tenant_id)
        secret = _new_ingestion_secret()
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    insert(t.ingestion_secrets).values(
                        scope=_TENANT_SCOPE,
                        owner_id=tenant_id,
                        secret=secret,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError as error:
            raise ConflictError(
                f"tenant {tenant_id} has an ingestion secret; rotate it", tenant_id=tenant_id
            ) from error
        return secret

    async def rotate_ingestion_secret(
        self, tenant_id: str, *, grace: timedelta = timedelta(hours=1)
    ) -> str:
        """Replace the tenant's ingestion secret (create it if there is none); return the new one.

        Events signed with the old secret still verify for ``grace`` (those already on the
        topics, or from agents not yet given the new one); ``timedelta(0)`` cuts a leaked
        secret off at once.

        Raises:
            InvalidRequestError: Unknown tenant, or a negative grace.
        """
        if grace < timedelta(0):
            raise InvalidRequestError("the grace period cannot be negative")
        if await self.get_tenant(tenant_id) is None:
            raise InvalidRequestError(f"unknown tenant {tenant_id}", tenant_id=tenant_id)
        secret, now = _new_ingestion_secret(), datetime.now(UTC)
        s = t.ingestion_secrets.c
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(t.ingestion_secrets)
                .where(_secret_row(_TENANT_SCOPE, tenant_id))
                .values(
                    previous_secret=s.secret,  # the row's value before this update
                    previous_valid_until=now + grace,
                    secret=secret,
                    rotated_at=now,
                )
            )
            if not result.rowcount:
                await conn.execute(
                    insert(t.ingestion_secrets).values(
                        scope=_TENANT_SCOPE, owner_id=tenant_id, secret=secret, created_at=now
                    )
                )
        return secret

    async def ingestion_secret(self, tenant_id: str) -> str | None:
        """The tenant's current ingestion secret, or None when it has none."""
        async with self.db.connect() as conn:
            value = await conn.scalar(
                select(t.ingestion_secrets.c.secret).where(_secret_row(_TENANT_SCOPE, tenant_id))
            )
        return None if value is None else str(value)

    async def verification_secrets(
        self, tenant_id: str, *, now: datetime | None = None
    ) -> list[str]:
        """The secrets a tenant's event may be signed with: current, and previous in grace."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(t.ingestion_secrets).where(_secret_row(_TENANT_SCOPE, tenant_id))
                )
            ).first()
        if row is None:
            return []
        found = [str(row.secret)]
        until = row.previous_valid_until
        if row.previous_secret and until is not None and (now or datetime.now(UTC)) < until:
            found.append(str(row.previous_secret))
        return found

    async def revoke_ingestion_secret(self, tenant_id: str) -> bool:
        """Delete the tenant's ingestion secret: its agents' events are refused from now on."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                delete(t.ingestion_secrets).where(_secret_row(_TENANT_SCOPE, tenant_id))
            )
        return bool(result.rowcount)

    async def hub_bus_secret(self, configured: str | None = None) -> str:
        """The hub's own bus secret (its relay signs every event with it); made on first use.

        Kept in the database, so every relay and consumer sharing the index agrees on it
        without configuration; ``configured`` (``settings.bus_signing_secret``) overrides it.
        """
        if configured:
            return configured
        query = select(t.ingestion_secrets.c.secret).where(_secret_row(_HUB_SCOPE, _HUB_SCOPE))
        async with self.db.connect() as conn:
            value = await conn.scalar(query)
        if value is not None:
            return str(value)
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    insert(t.ingestion_secrets).values(
                        scope=_HUB_SCOPE,
                        owner_id=_HUB_SCOPE,
                        secret=_new_ingestion_secret(),
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:  # another process made it first: use theirs
            pass
        async with self.db.connect() as conn:
            return str(await conn.scalar(query))
