"""The read side of the index as the service layer sees it: artifacts, versions, access.

Every query takes the tenant (or a caller, which carries it); list queries return only what
the caller's agent owns or was shared with it. The SQL implementation is
:class:`~artifact_hub.adapters.index.queries.IndexReader`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.artifacts import AccessEntry, Artifact, ArtifactVersion, Session
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import LineageGraph

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_LINEAGE_NODES",
    "ArtifactFilter",
    "IndexReads",
    "Page",
]

MAX_LIMIT = 200
"""The largest page a list returns."""

DEFAULT_LIMIT = 50
"""The page size when the caller names none."""

MAX_LINEAGE_NODES = 500
"""A lineage walk stops after this many artifacts (the graph says ``truncated``)."""


@dataclass(frozen=True)
class ArtifactFilter:
    """What to list. Every field left None (or empty) does not filter."""

    session_id: str | None = None
    agent_id: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    content_type: str | None = None
    run_id: str | None = None
    graph_id: str | None = None
    node_id: str | None = None
    tags: Sequence[str] = ()
    labels: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_after: datetime | None = None
    created_before: datetime | None = None
    pinned: bool | None = None
    include_deleted: bool = False
    include_expired: bool = False
    shared_only: bool = False
    """Only what was shared with the caller, not what it owns (``list_shared``)."""


@dataclass(frozen=True)
class Page:
    """One page of a keyset-paginated list."""

    items: list[Artifact]
    next_cursor: str | None


class IndexReads(Protocol):
    """Tenant-confined reads of artifacts, versions, grants, sessions and lineage."""

    async def get(self, conn: Transaction, tenant_id: str, artifact_id: str) -> Artifact | None:
        """The artifact (deleted or expired ones included), or None outside the tenant."""
        ...

    async def can_read(self, conn: Transaction, caller: Caller, artifact_id: str) -> bool:
        """Whether the caller may read this artifact."""
        ...

    async def list(
        self,
        conn: Transaction,
        caller: Caller,
        filters: ArtifactFilter | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        offset: int | None = None,
        now: datetime | None = None,
    ) -> Page:
        """A page of what the caller may read, newest first."""
        ...

    async def versions(self, conn: Transaction, artifact_id: str) -> builtins.list[ArtifactVersion]:
        """Every version of the artifact, oldest first (soft-deleted ones included)."""
        ...

    async def version(
        self, conn: Transaction, artifact_id: str, version: int
    ) -> ArtifactVersion | None:
        """One version, or None."""
        ...

    async def access(self, conn: Transaction, artifact_id: str) -> builtins.list[AccessEntry]:
        """The artifact's grants, sorted by principal."""
        ...

    async def session(self, conn: Transaction, tenant_id: str, session_id: str) -> Session | None:
        """The session, or None when nothing was ever written to it nor sealed."""
        ...

    async def revision(self, conn: Transaction, artifact_id: str) -> int | None:
        """The seq of the last event applied to the artifact (None when unknown)."""
        ...

    async def blob_in_use(self, conn: Transaction, sha256: str) -> bool:
        """Whether any version (deleted or not) still points at the blob."""
        ...

    async def lineage(
        self,
        conn: Transaction,
        caller: Caller,
        artifact_id: str,
        *,
        max_nodes: int = MAX_LINEAGE_NODES,
    ) -> LineageGraph:
        """The artifact's lineage both ways, within the caller's tenant."""
        ...
