"""Lexical search on SQLite: FTS5 ``MATCH`` with BM25, in phrase / every word / any word tiers."""

from __future__ import annotations

import builtins

from sqlalchemy import ColumnElement, and_, bindparam, column, func, literal_column, select, text

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.search import fts_table
from artifact_hub.service.search.base import SearchBase
from artifact_hub.service.search.ranking import _WORD, _tiered


class Fts5Search(SearchBase):
    """Full-text search over the FTS5 table."""

    async def _lexical_sqlite(
        self, conditions: list[ColumnElement[bool]], query: str, limit: int
    ) -> builtins.list[tuple[str, float]]:
        words = [word.lower() for word in _WORD.findall(query)]
        if not words:
            return []
        quoted = [f'"{word}"' for word in words]  # \w+ words hold no quote to escape
        any_word = " OR ".join(quoted)
        every_word = " AND ".join(quoted)
        phrase = '"' + " ".join(words) + '"'
        f = fts_table.c
        match = literal_column("search_fts").op("MATCH")
        # The tiers as subqueries: one FTS5 MATCH per statement level.
        phrase_hit = f.rowid.in_(
            text("SELECT rowid FROM search_fts WHERE search_fts MATCH :phrase")
            .bindparams(phrase=phrase)
            .columns(column("rowid"))
        )
        every_hit = f.rowid.in_(
            text("SELECT rowid FROM search_fts WHERE search_fts MATCH :every")
            .bindparams(every=every_word)
            .columns(column("rowid"))
        )
        relevance = func.bm25(literal_column("search_fts"))
        stmt = (
            select(
                f.artifact_id,
                relevance.label("relevance"),
                phrase_hit.label("phrase_hit"),
                every_hit.label("every_hit"),
            )
            .select_from(fts_table.join(t.artifacts, t.artifacts.c.artifact_id == f.artifact_id))
            .where(and_(match(bindparam("any", any_word)), *conditions))
            .order_by(phrase_hit.desc(), every_hit.desc(), relevance.asc())
            .limit(limit)
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        # bm25() is smaller for better matches (negative); flip it to "higher is better".
        return [
            (row.artifact_id, _tiered(bool(row.phrase_hit), bool(row.every_hit), -row.relevance))
            for row in rows
        ]
