"""Semantic search: the query's embedding against the documents' vectors.

Scored in numpy here, or by the backend (pgvector) when it can.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from artifact_hub.core.errors import SearchUnavailableError
from artifact_hub.ports.search import SearchScope
from artifact_hub.service.search.base import SearchBase
from artifact_hub.service.search.ranking import top_cosine
from artifact_hub.service.search.vectors import _walk, as_matrix


class SemanticSearch(SearchBase):
    """Cosine similarity over the tenant's vectors."""

    async def _semantic(
        self, scope: SearchScope, query: str, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """The ``limit`` artifacts in scope closest to the query.

        With the tenant's vectors in memory (:class:`VectorCache`): score them all, then walk
        the best candidates in growing chunks, keeping those in scope (one ``IN`` query per
        chunk), until ``limit`` are found. The result is exact: the first ``limit`` visible
        ones in score order. When the filters are so narrow that the walk finds too few, or
        the matrix does not fit the cache, the vectors of the artifacts in scope are read and
        scored instead (also exact).

        With pgvector on PostgreSQL (:mod:`artifact_hub.adapters.index.pgvector`), those two
        fallbacks are computed by pgvector instead of reading the vectors out; with
        ``pgvector = on`` every semantic search is. Why not always: in memory is exact, and HNSW is
        not (bench/bench_search.py, 100,000 random vectors: the index scan saves about 15 ms a
        query but finds 15% of the exact top 10; real embeddings do better, filters worse).
        """
        embedder = self.embedder
        if embedder is None:
            raise SearchUnavailableError(
                "semantic search is off on this hub (search_embedder = none); "
                "use mode 'lexical' or 'structured'"
            )
        [query_vector] = await embedder.embed([query])
        vector = np.asarray(query_vector, dtype=np.float32)
        policy = self.backend.nearest_policy(embedder.name) if self.use_pgvector else None
        if policy == "always":
            return await self._nearest(scope, vector, limit)
        async with self.db.connect() as conn:
            matrix = await self.vectors.get(conn, scope.caller.tenant_id, embedder)
            if matrix is not None and len(matrix.ids):
                walked = await _walk(conn, self.backend, scope, matrix, vector, limit)
                if walked is not None:
                    return walked
        if policy is not None:
            return await self._nearest(scope, vector, limit)
        async with self.db.connect() as conn:
            rows = await self.backend.scoped_vectors(conn, scope, embedder.name, embedder.dim)
        if not rows.ids:
            return []
        return top_cosine(as_matrix(rows, embedder.dim), vector, rows.ids, limit)

    async def _nearest(
        self, scope: SearchScope, vector: np.ndarray[Any, Any], limit: int
    ) -> builtins.list[tuple[str, float]]:
        """The backend's nearest vectors (the zero vector: none)."""
        if float(np.linalg.norm(vector)) == 0.0:
            return []
        # A write transaction: the backend tunes its planner for this transaction only.
        async with self.db.begin() as conn:
            return await self.backend.nearest(conn, scope, vector.tolist(), limit)
