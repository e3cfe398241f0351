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

    async def complete(
        self, conn: Transaction, tenant_id: str, key: str, status: int, body: str
    ) -> None:
        """Keep the response on the key's row."""
        ...

    async def delete(self, conn: Transaction, tenant_id: str, key: str) -> None:
        """Forget the key."""
        ...

    async def purge(self, conn: Transaction, created_before: datetime) -> int:
        """Drop keys created at or before ``created_before``; returns how many."""
        ...
