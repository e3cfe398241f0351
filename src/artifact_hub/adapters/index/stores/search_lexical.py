"""Lexical matches: FTS5 with BM25 on SQLite, ``tsvector`` with ``ts_rank_cd`` on PostgreSQL.

Each match tells phrase hits and every-word hits apart; the service scores the tiers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.search_documents import fts_table
from artifact_hub.ports.search import LexicalMatch, LexicalQuery

__all__ = ["lexical_fts5", "lexical_tsvector"]


async def lexical_fts5(
    conn: AsyncConnection,
    conditions: list[ColumnElement[bool]],
    query: LexicalQuery,
    limit: int,
) -> list[LexicalMatch]:
    """Full-text matches over the FTS5 table ``search_fts`` (SQLite)."""
    quoted = [f'"{word}"' for word in query.words]  # \w+ words hold no quote to escape
    any_word = " OR ".join(quoted)
    every_word = " AND ".join(quoted)
    phrase = '"' + " ".join(query.words) + '"'
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
    rows = (await conn.execute(stmt)).all()
    # bm25() is smaller for better matches (negative); flip it to "higher is better".
    return [
        LexicalMatch(
            row.artifact_id, bool(row.phrase_hit), bool(row.every_hit), -float(row.relevance)
        )
        for row in rows
    ]


async def lexical_tsvector(
    conn: AsyncConnection,
    conditions: list[ColumnElement[bool]],
    query: LexicalQuery,
    limit: int,
) -> list[LexicalMatch]:
    """Full-text matches over the documents' ``body_tsv`` (PostgreSQL)."""
    config: ColumnElement[Any] = literal_column("'english'::regconfig")
    text_query = bindparam("query", query.text, type_=Text)
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
    rows = (await conn.execute(stmt)).all()
    return [
        LexicalMatch(
            row.artifact_id, bool(row.phrase_hit), bool(row.every_hit), float(row.relevance)
        )
        for row in rows
    ]
