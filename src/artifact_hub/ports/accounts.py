"""The account rows as the service layer sees them: tenants, API keys, ingestion secrets.

The account service (``artifact_hub.service.accounts``) keeps the rules (key formats and
hashing, validation, rotation grace); an :class:`AccountStore` only reads and writes the rows,
in the transaction handle the service opened. The SQL implementation is
:class:`~artifact_hub.adapters.index.stores.accounts.SqlAccountStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from artifact_hub.ports.transactions import Transaction

__all__ = ["AccountStore", "ApiKeyRow", "IngestionSecretRow", "TenantRow"]


@dataclass(frozen=True, slots=True)
class TenantRow:
    """A tenant as stored."""

    tenant_id: str
    name: str
    plan: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """An API key as stored: the SHA-256 of its secret, never the secret."""

    key_id: str
    tenant_id: str
    agent_id: str
    groups: tuple[str, ...]
    namespace: str
    admin: bool
    secret_sha256: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IngestionSecretRow:
    """An ingestion secret (one per scope and owner), and the previous one while in grace."""

    secret: str
    previous_secret: str | None = None
    previous_valid_until: datetime | None = None


class AccountStore(Protocol):
    """Reads and writes tenants, API keys and ingestion secrets in the caller's transaction.

    Ingestion secrets are keyed by ``scope`` (``tenant`` or ``hub``) and ``owner_id`` (the
    tenant id, or ``hub``): the service decides which.
    """

    async def count_tenants(self, conn: Transaction) -> int:
        """How many tenants the hub has."""
        ...

    async def insert_tenant(self, conn: Transaction, tenant: TenantRow) -> None:
        """Add a tenant.

        Raises:
            ConflictError: The tenant exists (the transaction must be rolled back).
        """
        ...

    async def get_tenant(self, conn: Transaction, tenant_id: str) -> TenantRow | None:
        """The tenant, or None."""
        ...

    async def insert_key(self, conn: Transaction, key: ApiKeyRow) -> None:
        """Add an API key."""
        ...

    async def key_and_plan(self, conn: Transaction, key_id: str) -> tuple[ApiKeyRow, str] | None:
        """The key (revoked or not) and its tenant's plan, or None when there is no such key."""
        ...

    async def revoke_key(self, conn: Transaction, key_id: str, at: datetime) -> bool:
        """Mark a live key revoked at ``at``; False when there is no such live key."""
        ...

    async def list_keys(self, conn: Transaction, tenant_id: str) -> list[ApiKeyRow]:
        """The tenant's keys (revoked ones included), oldest first."""
        ...

    async def insert_secret(
        self, conn: Transaction, scope: str, owner_id: str, secret: str, created_at: datetime
    ) -> None:
        """Add the owner's secret.

        Raises:
            ConflictError: The owner has one already (the transaction must be rolled back).
        """
        ...

    async def rotate_secret(
        self,
        conn: Transaction,
        scope: str,
        owner_id: str,
        secret: str,
        *,
        at: datetime,
        previous_valid_until: datetime,
    ) -> bool:
        """Replace the owner's secret, keeping the old one as previous until the given time.

        Returns:
            False when the owner has no secret (nothing was written).
        """
        ...

    async def get_secret(
        self, conn: Transaction, scope: str, owner_id: str
    ) -> IngestionSecretRow | None:
        """The owner's secret, or None."""
        ...

    async def delete_secret(self, conn: Transaction, scope: str, owner_id: str) -> bool:
        """Delete the owner's secret; False when it had none."""
        ...
