"""Search over artifacts: structured, lexical, semantic and hybrid, and ``best`` by a metric.

* **structured**: the filters only (kind, tags, labels, scope, time), newest first, or ranked
  by a metric (``best``). It reads the index tables (``artifacts``, ``artifact_labels``,
  ``artifact_tags``), never the search documents.
* **lexical**: full-text over the search documents (name, kind, tags, labels, metadata values,
  text content). SQLite: FTS5 with BM25; PostgreSQL: ``tsvector`` with ``ts_rank_cd``. The
  documents with the query as an exact phrase rank first, then those with every word, then the
  rest by relevance: the score is ``tier + r / (1 + r)`` for relevance ``r``, tier 2, 1 or 0.
* **semantic**: the query's embedding against the documents' (cosine, in numpy). The tenant's
  vectors are kept in memory per process (:class:`VectorCache`, checked against
  ``search_state`` on every search) and the best candidates are walked through the caller's
  conditions; when they do not fit, the vectors of the artifacts that pass the filters are
  read instead. On PostgreSQL with the pgvector extension, pgvector computes it instead
  (:mod:`artifact_hub.adapters.index.pgvector`): exactly when the filters leave few vectors, through
  the HNSW index (approximate) when they leave many.
* **hybrid**: reciprocal rank fusion of the lexical and semantic rankings (``k = 60``).

Every query runs the caller's visibility conditions (tenant, ownership or shares, not deleted,
not expired), exactly as ``ArtifactService.list`` does: the request becomes a
:class:`~artifact_hub.ports.search.SearchScope` and the backend turns that into its own
conditions (SQL: ``IndexReader.conditions``).

Where each part lives: ranking in :mod:`.ranking`, filters (as values) in :mod:`.filters`, the
modes in :mod:`.structured`, :mod:`.lexical`, :mod:`.semantic` (in-memory vectors in
:mod:`.vectors`). Every query is the backend's (:class:`~artifact_hub.ports.search.SearchBackend`;
the SQL one, FTS5, ``tsvector`` and pgvector included, is in
``artifact_hub.adapters.index.stores.search_*``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from artifact_hub.core.errors import SearchUnavailableError
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.search import SearchHit, SearchRequest
from artifact_hub.service.search.filters import SearchFilters
from artifact_hub.service.search.lexical import LexicalSearch
from artifact_hub.service.search.ranking import reciprocal_rank_fusion
from artifact_hub.service.search.semantic import SemanticSearch
from artifact_hub.service.search.structured import StructuredSearch


class SearchService(SearchFilters, StructuredSearch, LexicalSearch, SemanticSearch):
    """The search use cases (``hub.search``).

    Args:
        db: Opens the connections the backend reads through.
        backend: Runs every query of every mode (SQL: ``SqlSearchBackend``).
        indexer: Keeps the search documents current; searches wait for its pending work.
        embedder: Embeds queries for semantic search (None: semantic search unavailable, and
            hybrid search is lexical only, as when the model is not installed).
        vector_cache_bytes: Memory for the per-tenant vector matrices kept between searches
            (0: none; every semantic search then reads the vectors that pass its filters).
        use_pgvector: Let the backend compute nearest vectors (pgvector) when it can (False:
            the exact numpy path always).
    """

    async def search(self, caller: Caller, request: SearchRequest) -> builtins.list[SearchHit]:
        """The artifacts the caller may read that match, best first.

        Raises:
            InvalidRequestError: A bad metric name.
            SearchUnavailableError: Semantic search without an embedder.
        """
        mode = request.resolved_mode
        scope = self._scope(caller, request)
        if mode == "structured":
            return await self._structured(scope, request)
        await self.indexer.flush()  # read your writes within this process
        query = (request.query or "").strip()
        if mode == "lexical":
            ranked = await self._lexical(scope, query, request.limit)
        elif mode == "semantic":
            ranked = await self._semantic(scope, query, request.limit)
        else:
            depth = max(request.limit * 4, 50)
            lexical = await self._lexical(scope, query, depth)
            try:
                semantic = await self._semantic(scope, query, depth)
            except SearchUnavailableError:  # no embedder, or its model is not installed
                ranked = lexical[: request.limit]
            else:
                fused = reciprocal_rank_fusion([[i for i, _ in lexical], [i for i, _ in semantic]])
                ranked = fused[: request.limit]
        artifacts = await self._load([artifact_id for artifact_id, _ in ranked])
        return [
            SearchHit(artifact=artifacts[artifact_id], score=score, mode=mode)
            for artifact_id, score in ranked
            if artifact_id in artifacts
        ]

    async def best(
        self,
        caller: Caller,
        *,
        metric: str,
        metric_mode: Literal["max", "min"] = "max",
        kind: str | None = None,
        tags: Sequence[str] = (),
        labels: Mapping[str, Any] | None = None,
        time_window: str | timedelta | None = None,
    ) -> Artifact | None:
        """The artifact with the highest (``max``) or lowest (``min``) value of ``metric``.

        Artifacts without a numeric value of the metric are left out; ties go to the earliest
        ``created_at``, then the smallest ``artifact_id``.
        """
        request = SearchRequest(
            kind=kind,
            tags=list(tags),
            labels=dict(labels or {}),
            metric=metric,
            metric_mode=metric_mode,
            time_window=time_window,
            limit=1,
        )
        hits = await self.search(caller, request)
        return hits[0].artifact if hits else None

    async def reindex(self, *, tenant_id: str | None = None) -> int:
        """Catch the search documents up with the index (see :class:`SearchIndexer`)."""
        return await self.indexer.reindex(tenant_id=tenant_id)
