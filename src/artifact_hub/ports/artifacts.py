"""What the artifact use cases and the write rules need from the index besides its reads.

Locks that serialize writes, the storage a tenant uses, which lineage inputs a caller may
name, and where an artifact stands in its life. Each method takes the caller's open
:data:`~artifact_hub.ports.transactions.Transaction`, so its reads and locks belong to the
use case's unit of work. The SQL implementation is
:class:`~artifact_hub.adapters.index.stores.artifacts.SqlArtifactStore`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.identity import Caller

__all__ = ["ArtifactStore", "Lifespan"]


@dataclass(frozen=True, slots=True)
class Lifespan:
    """Where an artifact stands in its life (what the sweeper's expire and purge decide on).

    Attributes:
        expires_at: When its TTL passes (None: never).
        expired_at: When ``artifact.expired`` was recorded (None: not yet).
        deleted_at: When it was soft-deleted (None: live).
        purged_at: When it was hard-deleted (None: not purged).
        pinned: Pinned artifacts do not expire.
    """

    expires_at: datetime | None
    expired_at: datetime | None
    deleted_at: datetime | None
    purged_at: datetime | None
    pinned: bool


class ArtifactStore(Protocol):
    """Locks and the index questions the write path asks inside its transaction."""

    async def lock_blob(self, conn: Transaction, sha256: str) -> None:
        """Serialize, until ``conn`` ends, the writes that reuse or collect this blob."""
        ...

    async def lock_tenant(self, conn: Transaction, tenant_id: str) -> None:
        """Serialize, until ``conn`` ends, the tenant's writes (to enforce its quota)."""
        ...

    async def lifespan(
        self, conn: Transaction, tenant_id: str, artifact_id: str
    ) -> Lifespan | None:
        """The artifact's expiry, deletion and pin state (None: not in the tenant)."""
        ...

    async def storage_used(self, conn: Transaction, tenant_id: str, now: datetime) -> int:
        """Bytes of the tenant's live versions at ``now`` (what its storage quota counts).

        Soft-deleted and expired artifacts do not count, nor do soft-deleted versions;
        identical content in two versions counts twice.
        """
        ...

    async def readable_versions(
        self, conn: Transaction, caller: Caller, artifact_ids: Collection[str]
    ) -> dict[str, set[int]]:
        """The version numbers of each of ``artifact_ids`` the caller may read.

        Artifacts the caller may not read (or that do not exist) are left out.
        """
        ...

    async def foreign_artifact(
        self, conn: Transaction, tenant_id: str, artifact_ids: Collection[str]
    ) -> str | None:
        """The first of ``artifact_ids`` that is another tenant's artifact, or None."""
        ...
