"""What every search mode shares: the transactions, the backend, the indexer, the embedder."""

from __future__ import annotations

from collections.abc import Sequence

from artifact_hub.ports.search import Embedder, SearchBackend, SearchIndex
from artifact_hub.ports.transactions import Transactions
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.service.search.vectors import VectorCache


class SearchBase:
    """The parts every search mode uses (the :class:`SearchService` arguments).

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

    def __init__(
        self,
        db: Transactions,
        backend: SearchBackend,
        indexer: SearchIndex,
        embedder: Embedder | None,
        *,
        vector_cache_bytes: int = 512 * 1024 * 1024,
        use_pgvector: bool = True,
    ) -> None:
        self.db = db
        self.backend = backend
        self.use_pgvector = use_pgvector
        self.indexer = indexer
        self.embedder = embedder
        self.vectors = VectorCache(vector_cache_bytes, backend)

    async def _load(self, ids: Sequence[str]) -> dict[str, Artifact]:
        if not ids:
            return {}
        async with self.db.connect() as conn:
            return await self.backend.fetch(conn, ids)
