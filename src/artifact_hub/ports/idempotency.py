"""The idempotency-key rows as the service layer sees them.

The idempotency service (``artifact_hub.service.idempotency``) decides what a key means (new,
a replay, a conflict, past its lifetime); :class:`IdempotencyKeys` only reads and writes the
rows, in the transaction handle the service opened. The SQL implementation is
:class:`~artifact_hub.adapters.index.stores.idempotency.SqlIdempotencyKeys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from artifact_hub.ports.transactions import Transaction

__all__ = ["IdempotencyKeys", "KeyRecord"]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An idempotency key's row: the request it was claimed for, and its response once kept."""

    request_sha256: str
    status: int | None
    """None while the first request with the key still runs."""
    body: str | None
    """The response once kept; while ``status`` is None, the applied marker (or None)."""
    created_at: datetime


class IdempotencyKeys(Protocol):
    """Reads and writes idempotency keys (per tenant)."""

    async def claim_new(
        self, conn: Transaction, tenant_id: str, key: str, request_sha256: str, at: datetime
    ) -> bool:
        """Insert the key unless the tenant has it; True when this call inserted it."""
        ...

    async def get(self, conn: Transaction, tenant_id: str, key: str) -> KeyRecord | None:
        """The key's row, or None."""
        ...

    async def reclaim(
        self, conn: Transaction, tenant_id: str, key: str, request_sha256: str, at: datetime
    ) -> None:
        """Replace the key's row by a fresh claim.

        Raises:
            ConflictError: Another request inserted the key meanwhile (roll back).
        """
        ...

    async def take_over(
        self, conn: Transaction, tenant_id: str, key: str, claimed_at: datetime, at: datetime
    ) -> bool:
        """Claim again, at ``at``, a key still in progress and not applied since ``claimed_at``.

        True when this call took it (the claim of ``claimed_at`` is void from now on).
        """
        ...

    async def mark_applied(
        self, conn: Transaction, tenant_id: str, key: str, claimed_at: datetime, marker: str
    ) -> bool:
        """Record, in the write's transaction, that the claim of ``claimed_at`` was applied.

        False when that claim is no longer the key's (a retry took it over).
        """
        ...

    async def complete(
        self,
        conn: Transaction,
        tenant_id: str,
        key: str,
        status: int,
        body: str,
        claimed_at: datetime | None = None,
    ) -> None:
        """Keep the response on the key's row (only on the claim of ``claimed_at`` if given)."""
        ...

    async def delete(
        self, conn: Transaction, tenant_id: str, key: str, claimed_at: datetime | None = None
    ) -> None:
        """Forget the key (only the claim of ``claimed_at`` if given)."""
        ...

    async def purge(self, conn: Transaction, created_before: datetime) -> int:
        """Drop keys created at or before ``created_before``; returns how many."""
        ...
