"""Lexical search on PostgreSQL: ``tsvector`` / ``tsquery`` with ``ts_rank_cd``, in tiers."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, bindparam, cast, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR

from artifact_hub.adapters.index import tables as t
from artifact_hub.service.search.base import SearchBase
from artifact_hub.service.search.ranking import _WORD, _tiered


class TsvectorSearch(SearchBase):
    """Full-text search over the documents' ``body_tsv``."""

    async def _lexical_postgres(
        self, conditions: list[ColumnElement[bool]], query: str, limit: int
    ) -> builtins.list[tuple[str, float]]:
        if not _WORD.search(query):
            return []
        config: ColumnElement[Any] = literal_column("'english'::regconfig")
        text_query = bindparam("query", query, type_=Text)
        every = func.plainto_tsquery(config, text_query)
        # Any word: plainto's "a & b" turned into "a | b" (its lexemes are already quoted).
        any_word = cast(func.replace(cast(every, Text), "&", "|"), TSQUERY)
        phrase = func.phraseto_tsquery(config, text_query)
        web = func.websearch_to_tsquery(config, text_query)
        vector = literal_column("search_documents.body_tsv", TSVECTOR)
        phrase_hit = vector.bool_op("@@")(phrase)
        every_hit = or_(vector.bool_op("@@")(every), vector.bool_op("@@")(web))
        relevance = func.ts_rank_cd(vector, any_word)
        d = t.search_documents.c
        stmt = (
            select(
                d.artifact_id,
                relevance.label("relevance"),
                phrase_hit.label("phrase_hit"),
                every_hit.label("every_hit"),
            )
            .select_from(
                t.search_documents.join(t.artifacts, t.artifacts.c.artifact_id == d.artifact_id)
            )
            .where(and_(vector.bool_op("@@")(any_word), *conditions))
            .order_by(phrase_hit.desc(), every_hit.desc(), relevance.desc(), d.artifact_id)
            .limit(limit)
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            (row.artifact_id, _tiered(bool(row.phrase_hit), bool(row.every_hit), row.relevance))
            for row in rows
        ]
