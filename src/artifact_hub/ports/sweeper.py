"""What the sweeper asks the index: artifacts due for expiry or purge, and blobs in use.

Lists are keyset-paginated by artifact id (``after``, ``limit``), so a pass reads a large
index in short transactions. The SQL implementation is
:class:`~artifact_hub.adapters.index.stores.sweeper.SqlSweepStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from artifact_hub.ports.transactions import Transaction

__all__ = ["SweepStore"]


class SweepStore(Protocol):
    """The sweeper's queries, run on a connection the sweeper opened."""

    async def due_for_expiry(
        self, conn: Transaction, now: datetime, *, after: str, limit: int
    ) -> list[tuple[str, str]]:
        """``(tenant_id, artifact_id)`` past ``expires_at`` at ``now``, not yet expired.

        Pinned, soft-deleted and purged artifacts are left out. Ordered by artifact id, those
        after ``after``, at most ``limit``.
        """
        ...

    async def due_for_purge(
        self, conn: Transaction, cutoff: datetime, *, after: str, limit: int
    ) -> list[tuple[str, str]]:
        """``(tenant_id, artifact_id)`` soft-deleted, or expired and unpinned, before ``cutoff``.

        Purged ones are left out. Ordered and bounded as :meth:`due_for_expiry`.
        """
        ...

    async def has_artifacts(self, conn: Transaction) -> bool:
        """Whether the index holds any artifact at all (a purged one's row counts)."""
        ...

    async def blobs_in_use(self, conn: Transaction, sha256s: Sequence[str]) -> set[str]:
        """Those of ``sha256s`` that some version (deleted or not) points at."""
        ...
