"""Lexical search: the backend's full-text matches, scored in tiers.

Tiers: phrase, every word, any word (the backend: FTS5 with BM25 on SQLite, ``tsvector`` with
``ts_rank_cd`` on PostgreSQL).
"""

from __future__ import annotations

import builtins

from artifact_hub.ports.search import LexicalQuery, SearchScope
from artifact_hub.service.search.base import SearchBase
from artifact_hub.service.search.ranking import _WORD, _tiered


class LexicalSearch(SearchBase):
    """Full-text search over the search documents."""

    async def _lexical(
        self, scope: SearchScope, query: str, limit: int
    ) -> builtins.list[tuple[str, float]]:
        words = tuple(word.lower() for word in _WORD.findall(query))
        if not words:
            return []
        async with self.db.connect() as conn:
            matches = await self.backend.lexical(conn, scope, LexicalQuery(query, words), limit)
        return [
            (match.artifact_id, _tiered(match.phrase, match.every, match.relevance))
            for match in matches
        ]
