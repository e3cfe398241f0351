"""Semantic search: the query's embedding against the documents' vectors, in numpy or pgvector."""

from __future__ import annotations

import builtins

import numpy as np
from sqlalchemy import ColumnElement, and_, select

from artifact_hub.adapters.index import tables as t
from artifact_hub.core.errors import SearchUnavailableError
from artifact_hub.service.search.ranking import top_cosine
from artifact_hub.service.search.semantic_pgvector import PgvectorSearch
from artifact_hub.service.search.vectors import _walk


class SemanticSearch(PgvectorSearch):
    """Cosine similarity over the tenant's vectors."""

    async def _semantic(
        self, tenant_id: str, conditions: list[ColumnElement[bool]], query: str, limit: int
    ) -> builtins.list[tuple[str, float]]:
        """The ``limit`` visible artifacts closest to the query.

        With the tenant's vectors in memory (:class:`VectorCache`): score them all, then walk
        the best candidates in growing chunks, keeping those that pass the caller's conditions
        (one ``IN`` query per chunk), until ``limit`` are found. The result is exact: the first
        ``limit`` visible ones in score order. When the filters are so narrow that the walk
        finds too few, or the matrix does not fit the cache, the vectors of the artifacts that
        pass the filters are read and scored instead (also exact).

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
        pgvector = self.indexer.pgvector if self.use_pgvector else None
        if pgvector is not None and not (pgvector.ready and pgvector.model == embedder.name):
            pgvector = None
        if pgvector is not None and pgvector.mode == "on":
            return await self._semantic_pgvector(pgvector, conditions, vector, limit)
        async with self.db.connect() as conn:
            matrix = await self.vectors.get(conn, tenant_id, embedder)
            if matrix is not None and len(matrix.ids):
                walked = await _walk(conn, matrix, vector, conditions, limit)
                if walked is not None:
                    return walked
        if pgvector is not None:
            return await self._semantic_pgvector(pgvector, conditions, vector, limit)
        async with self.db.connect() as conn:
            v = t.search_vectors.c
            stmt = (
                select(v.artifact_id, v.vector)
                .select_from(
                    t.search_vectors.join(t.artifacts, t.artifacts.c.artifact_id == v.artifact_id)
                )
                .where(and_(v.model == embedder.name, v.dim == embedder.dim, *conditions))
            )
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return []
        ids = [row.artifact_id for row in rows]
        stacked = np.frombuffer(b"".join(row.vector for row in rows), dtype="<f4").reshape(
            len(rows), embedder.dim
        )
        return top_cosine(stacked, vector, ids, limit)
