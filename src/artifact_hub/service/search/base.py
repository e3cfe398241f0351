"""What every search mode shares: the index, the indexer, the embedder, the vector cache."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.queries import IndexReader, artifact_from_row
from artifact_hub.adapters.index.search import SearchIndexer
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.service.embedders import Embedder
from artifact_hub.service.search.vectors import VectorCache


class SearchBase:
    """The parts every search mode uses (the :class:`SearchService` arguments).

    Args:
        db: The index database.
        indexer: Keeps the search documents current; searches wait for its pending work.
        embedder: Embeds queries for semantic search (None: semantic search unavailable, and
            hybrid search is lexical only, as when the model is not installed).
        reader: The index reader whose visibility conditions apply.
        vector_cache_bytes: Memory for the per-tenant vector matrices kept between searches
            (0: none; every semantic search then reads the vectors that pass its filters).
        use_pgvector: Search with the indexer's pgvector index when it is ready (False: the
            exact numpy path always).
    """

    def __init__(
        self,
        db: Database,
        indexer: SearchIndexer,
        embedder: Embedder | None,
        *,
        reader: IndexReader | None = None,
        vector_cache_bytes: int = 512 * 1024 * 1024,
        use_pgvector: bool = True,
    ) -> None:
        self.db = db
        self.use_pgvector = use_pgvector
        self.indexer = indexer
        self.embedder = embedder
        self.reader = reader or IndexReader()
        self.vectors = VectorCache(vector_cache_bytes)

    async def _load(self, ids: Sequence[str]) -> dict[str, Artifact]:
        if not ids:
            return {}
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(select(t.artifacts).where(t.artifacts.c.artifact_id.in_(ids)))
            ).all()
        return {row.artifact_id: artifact_from_row(row) for row in rows}
