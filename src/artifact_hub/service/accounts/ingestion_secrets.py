"""Ingestion secrets: the per-tenant HMAC keys of bus events, and the hub's own bus secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from artifact_hub.core.errors import ConflictError, InvalidRequestError
from artifact_hub.service.accounts.credentials import (
    _HUB_SCOPE,
    _TENANT_SCOPE,
    _new_ingestion_secret,
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
                await self.store.insert_secret(
                    conn, _TENANT_SCOPE, tenant_id, secret, datetime.now(UTC)
                )
        except ConflictError as error:
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
        async with self.db.begin() as conn:
            rotated = await self.store.rotate_secret(
                conn, _TENANT_SCOPE, tenant_id, secret, at=now, previous_valid_until=now + grace
            )
            if not rotated:
                await self.store.insert_secret(conn, _TENANT_SCOPE, tenant_id, secret, now)
        return secret

    async def ingestion_secret(self, tenant_id: str) -> str | None:
        """The tenant's current ingestion secret, or None when it has none."""
        async with self.db.connect() as conn:
            row = await self.store.get_secret(conn, _TENANT_SCOPE, tenant_id)
        return None if row is None else row.secret

    async def verification_secrets(
        self, tenant_id: str, *, now: datetime | None = None
    ) -> list[str]:
        """The secrets a tenant's event may be signed with: current, and previous in grace."""
        async with self.db.connect() as conn:
            row = await self.store.get_secret(conn, _TENANT_SCOPE, tenant_id)
        if row is None:
            return []
        found = [row.secret]
        until = row.previous_valid_until
        if row.previous_secret and until is not None and (now or datetime.now(UTC)) < until:
            found.append(row.previous_secret)
        return found

    async def revoke_ingestion_secret(self, tenant_id: str) -> bool:
        """Delete the tenant's ingestion secret: its agents' events are refused from now on."""
        async with self.db.begin() as conn:
            return await self.store.delete_secret(conn, _TENANT_SCOPE, tenant_id)

    async def hub_bus_secret(self, configured: str | None = None) -> str:
        """The hub's own bus secret (its relay signs every event with it); made on first use.

        Kept in the database, so every relay and consumer sharing the index agrees on it
        without configuration; ``configured`` (``settings.bus_signing_secret``) overrides it.
        """
        if configured:
            return configured
        async with self.db.connect() as conn:
            row = await self.store.get_secret(conn, _HUB_SCOPE, _HUB_SCOPE)
        if row is not None:
            return row.secret
        try:
            async with self.db.begin() as conn:
                await self.store.insert_secret(
                    conn, _HUB_SCOPE, _HUB_SCOPE, _new_ingestion_secret(), datetime.now(UTC)
                )
        except ConflictError:  # another process made it first: use theirs
            pass
        async with self.db.connect() as conn:
            row = await self.store.get_secret(conn, _HUB_SCOPE, _HUB_SCOPE)
        return str(None if row is None else row.secret)
