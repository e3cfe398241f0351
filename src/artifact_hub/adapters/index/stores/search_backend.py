"""The SQL search backend: every statement search runs, on SQLite or PostgreSQL.

:class:`SqlSearchBackend` implements :class:`~artifact_hub.ports.search.SearchBackend`. Each
query joins ``artifacts`` and applies the scope's conditions there (:mod:`.search_scope`):
search never trusts a search document for visibility. Lexical matching is in
:mod:`.search_lexical`, pgvector in :mod:`.search_pgvector`, the structured queries in
:mod:`.search_structured`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.artifact_rows import artifact_from_row
from artifact_hub.adapters.index.pgvector import PgVector
from artifact_hub.adapters.index.queries import IndexReader
from artifact_hub.adapters.index.stores import search_structured
from artifact_hub.adapters.index.stores.search_lexical import lexical_fts5, lexical_tsvector
from artifact_hub.adapters.index.stores.search_pgvector import nearest_pgvector
from artifact_hub.adapters.index.stores.search_scope import scope_conditions
from artifact_hub.ports.search import (
    LexicalMatch,
    LexicalQuery,
    NearestPolicy,
    SearchBackend,
    SearchScope,
    VectorRows,
)
from artifact_hub.schemas.artifacts import Artifact

__all__ = ["SqlSearchBackend"]


class SqlSearchBackend:
    """Search reads over the index tables, the search documents and their vectors.

    Args:
        pgvector: The indexer's pgvector column and index (``SearchIndexer.pgvector``; None
            without an embedder). Nearest-vector queries go to it once it is ready.
        reader: The index reader whose visibility conditions apply.
    """

    def __init__(self, pgvector: PgVector | None = None, *, reader: IndexReader | None = None):
        self.pgvector = pgvector
        self.reader = reader or IndexReader()

    # ------------------------------------------------------------ lexical

    async def lexical(
        self, conn: AsyncConnection, scope: SearchScope, query: LexicalQuery, limit: int
    ) -> builtins.list[LexicalMatch]:
        """Full-text matches: FTS5 on SQLite, ``tsvector`` on PostgreSQL."""
        conditions = scope_conditions(self.reader, scope)
        if conn.dialect.name == "postgresql":
            return await lexical_tsvector(conn, conditions, query, limit)
        return await lexical_fts5(conn, conditions, query, limit)

    # ------------------------------------------------------------ vectors

    async def state_version(self, conn: AsyncConnection, tenant_id: str) -> int:
        """The tenant's ``search_state.version`` (0 before its first document)."""
        version = await conn.scalar(
            select(t.search_state.c.version).where(t.search_state.c.tenant_id == tenant_id)
        )
        return int(version or 0)

    async def count_vectors(
        self, conn: AsyncConnection, tenant_id: str, model: str, dim: int
    ) -> int:
        """How many vectors of this model the tenant has."""
        count = await conn.scalar(
            select(func.count())
            .select_from(t.search_vectors)
            .where(_tenant_model(tenant_id, model, dim))
        )
        return int(count or 0)

    async def tenant_vectors(
        self, conn: AsyncConnection, tenant_id: str, model: str, dim: int
    ) -> VectorRows:
        """Every vector of this model in the tenant, by artifact id."""
        v = t.search_vectors.c
        rows = (
            await conn.execute(
                select(v.artifact_id, v.vector)
                .where(_tenant_model(tenant_id, model, dim))
                .order_by(v.artifact_id)
            )
        ).all()
        return VectorRows([row.artifact_id for row in rows], b"".join(row.vector for row in rows))

    async def scoped_vectors(
        self, conn: AsyncConnection, scope: SearchScope, model: str, dim: int
    ) -> VectorRows:
        """The vectors of this model of the artifacts in scope."""
        v = t.search_vectors.c
        stmt = (
            select(v.artifact_id, v.vector)
            .select_from(
                t.search_vectors.join(t.artifacts, t.artifacts.c.artifact_id == v.artifact_id)
            )
            .where(and_(v.model == model, v.dim == dim, *scope_conditions(self.reader, scope)))
        )
        rows = (await conn.execute(stmt)).all()
        return VectorRows([row.artifact_id for row in rows], b"".join(row.vector for row in rows))

    async def visible(
        self, conn: AsyncConnection, scope: SearchScope, artifact_ids: Sequence[str]
    ) -> set[str]:
        """Those of ``artifact_ids`` in scope (one ``IN`` query)."""
        a = t.artifacts.c
        stmt = select(a.artifact_id).where(
            and_(a.artifact_id.in_(artifact_ids), *scope_conditions(self.reader, scope))
        )
        return set((await conn.execute(stmt)).scalars())

    # ------------------------------------------------------------ pgvector

    def nearest_policy(self, model: str) -> NearestPolicy | None:
        """When to ask :meth:`nearest` for this model's vectors.

        ``always`` with ``search_pgvector = on``, ``fallback`` with ``auto``; None until the
        index for this model is ready (or without pgvector).
        """
        pgvector = self.pgvector
        if pgvector is None or not (pgvector.ready and pgvector.model == model):
            return None
        return "always" if pgvector.mode == "on" else "fallback"

    async def nearest(
        self, conn: AsyncConnection, scope: SearchScope, query: Sequence[float], limit: int
    ) -> builtins.list[tuple[str, float]]:
        """The nearest vectors by pgvector (see :func:`.search_pgvector.nearest_pgvector`)."""
        if self.pgvector is None:
            return []
        vector = np.asarray(query, dtype=np.float32)
        conditions = scope_conditions(self.reader, scope)
        return await nearest_pgvector(conn, self.pgvector, conditions, vector, limit)

    # ------------------------------------------------------------ structured, fetch

    async def newest(
        self, conn: AsyncConnection, scope: SearchScope, limit: int
    ) -> builtins.list[Artifact]:
        """The artifacts in scope, newest first."""
        return await search_structured.newest(conn, scope_conditions(self.reader, scope), limit)

    async def by_metric(
        self,
        conn: AsyncConnection,
        scope: SearchScope,
        metric: str,
        metric_mode: Literal["max", "min"],
        limit: int,
    ) -> builtins.list[tuple[Artifact, float]]:
        """The artifacts in scope ranked by a metric."""
        conditions = scope_conditions(self.reader, scope)
        return await search_structured.by_metric(conn, conditions, metric, metric_mode, limit)

    async def fetch(
        self, conn: AsyncConnection, artifact_ids: Sequence[str]
    ) -> dict[str, Artifact]:
        """The artifacts by id."""
        if not artifact_ids:
            return {}
        rows = (
            await conn.execute(
                select(t.artifacts).where(t.artifacts.c.artifact_id.in_(artifact_ids))
            )
        ).all()
        return {row.artifact_id: artifact_from_row(row) for row in rows}


def _tenant_model(tenant_id: str, model: str, dim: int) -> ColumnElement[bool]:
    v = t.search_vectors.c
    return and_(v.tenant_id == tenant_id, v.model == model, v.dim == dim)


if TYPE_CHECKING:
    _port: type[SearchBackend] = SqlSearchBackend
