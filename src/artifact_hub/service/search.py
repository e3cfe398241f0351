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
  (:mod:`artifact_hub.index.pgvector`): exactly when the filters leave few vectors, through
  the HNSW index (approximate) when they leave many.
* **hybrid**: reciprocal rank fusion of the lexical and semantic rankings (``k = 60``).

Every query runs the caller's visibility conditions (tenant, ownership or shares, not deleted,
not expired) from :meth:`IndexReader.conditions`, exactly as ``ArtifactService.list`` does.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import math
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Float,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    event,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from artifact_hub.errors import InvalidRequestError, SearchUnavailableError
from artifact_hub.index import tables as t
from artifact_hub.index.database import Database
from artifact_hub.index.pgvector import PgVector
from artifact_hub.index.projector import label_value
from artifact_hub.index.queries import ArtifactFilter, IndexReader, artifact_from_row
from artifact_hub.index.search import SearchIndexer, fts_table
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.search import SearchHit, SearchRequest, parse_time_window
from artifact_hub.service.embedders import Embedder

__all__ = ["SCOPE_KEYS", "SearchService", "reciprocal_rank_fusion"]

SCOPE_KEYS: Mapping[str, str] = {
    key: key
    for key in (
        "session_id",
        "run_id",
        "graph_id",
        "node_id",
        "org_id",
        "user_id",
        "client_id",
        "app_id",
        "agent_id",
    )
}
"""Label keys that also match the artifact's scope field of the same name."""

RRF_K = 60
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:/\- ]{1,128}$")
_WORD = re.compile(r"\w+", re.UNICODE)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K
) -> list[tuple[str, float]]:
    """Fuse rankings (best first) into one: each id scores ``sum(1 / (k + rank))``.

    Ties keep the order of first appearance (the first ranking's order first).
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    order = {item: index for index, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


class SearchService:
    """The search use cases (``hub.search``).

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

    async def search(self, caller: Caller, request: SearchRequest) -> builtins.list[SearchHit]:
        """The artifacts the caller may read that match, best first.

        Raises:
            InvalidRequestError: A bad metric name.
            SearchUnavailableError: Semantic search without an embedder.
        """
        mode = request.resolved_mode
        conditions = self._conditions(caller, request)
        tenant = caller.tenant_id
        if mode == "structured":
            return await self._structured(conditions, request)
        await self.indexer.flush()  # read your writes within this process
        query = (request.query or "").strip()
        if mode == "lexical":
            ranked = await self._lexical(conditions, query, request.limit)
        elif mode == "semantic":
            ranked = await self._semantic(tenant, conditions, query, request.limit)
        else:
            depth = max(request.limit * 4, 50)
            lexical = await self._lexical(conditions, query, depth)
            try:
                semantic = await self._semantic(tenant, conditions, query, depth)
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

    # ------------------------------------------------------------ filters

    def _conditions(self, caller: Caller, request: SearchRequest) -> list[ColumnElement[bool]]:
        now = datetime.now(UTC)
        created_after = request.created_after
        window = parse_time_window(request.time_window)
        if window is not None:
            since = now - window
            created_after = since if created_after is None else max(created_after, since)
        plain = {k: v for k, v in request.labels.items() if k not in SCOPE_KEYS}
        conditions = self.reader.conditions(
            caller,
            ArtifactFilter(
                kind=request.kind,
                tags=tuple(request.tags),
                labels=plain,
                created_after=created_after,
                created_before=request.created_before,
            ),
            now=now,
        )
        a = t.artifacts.c
        lbl = t.artifact_labels.c
        for key, value in request.labels.items():
            if key not in SCOPE_KEYS:
                continue
            # A scope id matches the artifact's own field, or a label of that name (the facade
            # and agents may record scope either way).
            as_label = exists().where(
                and_(
                    lbl.artifact_id == a.artifact_id,
                    lbl.source == "label",
                    lbl.key == key,
                    lbl.value == label_value(value),
                )
            )
            if isinstance(value, str):
                conditions.append(or_(getattr(a, SCOPE_KEYS[key]) == value, as_label))
            else:
                conditions.append(as_label)
        return conditions

    # ------------------------------------------------------------ structured

    async def _structured(
        self, conditions: list[ColumnElement[bool]], request: SearchRequest
    ) -> builtins.list[SearchHit]:
        a = t.artifacts.c
        query = select(t.artifacts).where(and_(*conditions)).limit(request.limit)
        if request.metric is None:
            async with self.db.connect() as conn:
                rows = (
                    await conn.execute(query.order_by(a.created_at.desc(), a.artifact_id.desc()))
                ).all()
            return [
                SearchHit(artifact=artifact_from_row(row), score=None, mode="structured")
                for row in rows
            ]
        if not _METRIC_NAME.match(request.metric):
            raise InvalidRequestError(
                "metric names are 1-128 letters, digits, spaces and _ . : / -",
                metric=request.metric,
            )
        value = self._metric_value(request.metric).label("metric_value")
        order = value.desc() if request.metric_mode == "max" else value.asc()
        query = (
            select(t.artifacts, value)
            .where(and_(*conditions, value.is_not(None)))
            .order_by(order, a.created_at.asc(), a.artifact_id.asc())
            .limit(request.limit)
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).all()
        hits = []
        for row in rows:
            data = dict(row._mapping)
            score = float(data.pop("metric_value"))
            hits.append(
                SearchHit(artifact=artifact_from_row_data(data), score=score, mode="structured")
            )
        return hits

    def _metric_value(self, metric: str) -> ColumnElement[Any]:
        """The metric's numeric value, or NULL when absent or not a number (per dialect)."""
        metrics = t.artifacts.c.metrics
        if self.db.dialect == "postgresql":
            member = metrics.op("->")(bindparam("metric_key", metric, type_=Text))
            number = cast(metrics.op("->>")(bindparam("metric_key2", metric, type_=Text)), Float)
            return case((func.json_typeof(member) == "number", number), else_=None)
        path = '$."' + metric + '"'
        return case(
            (
                func.json_type(metrics, path).in_(["integer", "real"]),
                cast(func.json_extract(metrics, path), Float),
            ),
            else_=None,
        )

    # ------------------------------------------------------------ lexical

    async def _lexical(
        self, conditions: list[ColumnElement[bool]], query: str, limit: int
    ) -> builtins.list[tuple[str, float]]:
        if self.db.dialect == "postgresql":
            return await self._lexical_postgres(conditions, query, limit)
        return await self._lexical_sqlite(conditions, query, limit)

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

    # ------------------------------------------------------------ semantic

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

        With pgvector on PostgreSQL (:mod:`artifact_hub.index.pgvector`), those two fallbacks
        are computed by pgvector instead of reading the vectors out; with ``pgvector = on``
        every semantic search is. Why not always: in memory is exact, and HNSW is not
        (bench/bench_search.py, 100,000 random vectors: the index scan saves about 15 ms a
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

    async def _semantic_pgvector(
        self,
        pgvector: PgVector,
        conditions: list[ColumnElement[bool]],
        query: np.ndarray[Any, Any],
        limit: int,
    ) -> builtins.list[tuple[str, float]]:
        """The ``limit`` visible artifacts closest to the query, computed by pgvector.

        HNSW loses recall when filters (tenant, access, kind, labels, ...) leave a small
        part of the graph: the scan walks toward the query's neighbourhood, which may hold
        none of the rows that pass (measured in bench/bench_search.py). So the planner's
        estimate of the rows that pass decides (a count would cost as much as the search):

        * at most ``exact_limit``, or less than ``hnsw_min_share`` of the model's vectors:
          every one's distance is computed (exact; no index);
        * more: the HNSW index is read in distance order, iteratively (pgvector 0.8) so
          rejected candidates do not shorten the result, with ``hnsw.ef_search`` scaled
          by the share of the model's vectors that pass. Approximate: a result may miss
          a neighbour the exact scan would find. When it returns fewer rows than asked
          (the scan gave up, or fewer pass than estimated), the exact scan answers.
        """
        if float(np.linalg.norm(query)) == 0.0:
            return []
        v = t.search_vectors.c
        fetch = limit + _TIE_MARGIN
        joined = t.search_vectors.join(t.artifacts, t.artifacts.c.artifact_id == v.artifact_id)
        where = and_(*pgvector.model_condition(), *conditions)
        async with self.db.begin() as conn:  # SET LOCAL lasts for this transaction
            estimate = await _estimated_rows(
                conn, select(v.artifact_id).select_from(joined).where(where)
            )
            rows: Sequence[Any] = ()
            share = 0.0
            if estimate > pgvector.exact_limit:
                # Both from the planner, so that they agree (pg_class.reltuples is -1 until
                # the table's first ANALYZE).
                total = await _estimated_rows(
                    conn, select(v.artifact_id).where(and_(*pgvector.model_condition()))
                )
                share = min(1.0, estimate / max(total, estimate))
            if share and share >= pgvector.hnsw_min_share:
                ef_search = min(max(math.ceil(pgvector.ef_search / share), fetch * 2), 1000)
                if pgvector.iterative_scans:
                    await conn.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
                await conn.execute(text(f"SET LOCAL hnsw.ef_search = {ef_search}"))
                rows = (
                    await conn.execute(pgvector_statement(pgvector, conditions, query, fetch))
                ).all()
            if len(rows) < fetch:  # exact: few pass, or the index scan came back short
                rows = (
                    await conn.execute(
                        pgvector_statement(pgvector, conditions, query, fetch, indexed=False)
                    )
                ).all()
        # Equal distances (equal texts) in id order, as the numpy paths give them.
        ranked = sorted(rows, key=lambda row: (round(float(row.distance), 6), row.artifact_id))
        return [(row.artifact_id, 1.0 - float(row.distance)) for row in ranked[:limit]]

    # ------------------------------------------------------------ helpers

    async def _load(self, ids: Sequence[str]) -> dict[str, Artifact]:
        if not ids:
            return {}
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(select(t.artifacts).where(t.artifacts.c.artifact_id.in_(ids)))
            ).all()
        return {row.artifact_id: artifact_from_row(row) for row in rows}


async def _estimated_rows(conn: AsyncConnection, stmt: Select[Any]) -> float:
    """The planner's estimate of the rows ``stmt`` returns (planning only, no execution).

    SQLAlchemy has no EXPLAIN construct: the statement is compiled and bound as usual and
    :func:`_explain_hook` puts ``EXPLAIN`` in front of it on its way to the driver.
    """
    engine = conn.sync_engine
    if not event.contains(engine, "before_cursor_execute", _explain_hook):
        event.listen(engine, "before_cursor_execute", _explain_hook, retval=True)
    result = await conn.execute(stmt.execution_options(artifact_hub_explain=True))
    plan = result.scalar()
    document = json.loads(plan) if isinstance(plan, str) else plan
    return float(document[0]["Plan"]["Plan Rows"])


def _explain_hook(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
) -> tuple[str, Any]:
    if context is not None and context.execution_options.get("artifact_hub_explain"):
        statement = "EXPLAIN (FORMAT JSON) " + statement
    return statement, parameters


_TIE_MARGIN = 16
"""Rows the pgvector query reads past ``limit``, so ties at the cut are ordered by id."""


def pgvector_statement(
    pgvector: PgVector,
    conditions: Sequence[ColumnElement[bool]],
    query: np.ndarray[Any, Any],
    limit: int,
    *,
    indexed: bool = True,
) -> Select[Any]:
    """The ``limit`` visible vectors of the model nearest the query by cosine distance.

    ``indexed``: read the HNSW index in distance order (approximate); otherwise compute
    every filtered row's distance (exact). Ordered by the distance alone: a second key (the
    id, for ties) makes the planner sort every row instead of reading the index in order.
    Ties are put in id order by the caller, which asks for a few more rows than it returns.
    """
    v = t.search_vectors.c
    distance = pgvector.distance(query, indexed=indexed).label("distance")
    return (
        select(v.artifact_id, distance)
        .select_from(t.search_vectors.join(t.artifacts, t.artifacts.c.artifact_id == v.artifact_id))
        .where(and_(*pgvector.model_condition(), *conditions))
        .order_by(distance)
        .limit(limit)
    )


def top_cosine(
    matrix: np.ndarray[Any, Any], query: np.ndarray[Any, Any], ids: Sequence[str], limit: int
) -> list[tuple[str, float]]:
    """The ``limit`` rows of ``matrix`` (unit vectors) closest to ``query``, best first.

    Equal scores are ordered by id, so the answer does not depend on the rows' order.
    """
    norm = float(np.linalg.norm(query))
    if norm == 0.0 or not len(ids):
        return []
    scores = matrix @ (query / norm)
    count = min(limit, len(ids))
    if count < len(ids):
        kth = np.partition(-scores, count - 1)[count - 1]
        candidates = np.nonzero(-scores <= kth)[0]  # every tie at the cut included
    else:
        candidates = np.arange(len(ids))
    best = sorted(candidates.tolist(), key=lambda index: (-scores[index], ids[index]))[:count]
    return [(ids[index], float(scores[index])) for index in best]


def _tiered(phrase: bool, every: bool, relevance: float) -> float:
    tier = 2.0 if phrase else 1.0 if every else 0.0
    relevance = max(float(relevance), 0.0)
    return tier + relevance / (1.0 + relevance)


def artifact_from_row_data(data: dict[str, Any]) -> Artifact:
    """The read model from an ``artifacts`` row as a dict (extra columns removed)."""
    for key in ("revision", "expired_at", "purged_at"):
        data.pop(key, None)
    return Artifact.model_validate(data)


_WALK_CHUNKS = (256, 1024, 4096, 8192)
"""Candidates checked per round of the walk; past them the filtered scan is cheaper."""


async def _walk(
    conn: Any,
    matrix: _Matrix,
    query: np.ndarray[Any, Any],
    conditions: list[ColumnElement[bool]],
    limit: int,
) -> builtins.list[tuple[str, float]] | None:
    """The first ``limit`` candidates by score that pass ``conditions`` (None: too few)."""
    norm = float(np.linalg.norm(query))
    if norm == 0.0:
        return []
    assert matrix.matrix is not None  # VectorCache.get returns only loaded matrices
    scores = matrix.matrix @ (query / norm)
    order = np.argsort(-scores, kind="stable")  # ~10 ms for 100,000 vectors
    total = len(order)
    examined = 0
    found: builtins.list[tuple[str, float]] = []
    a = t.artifacts.c
    for size in _WALK_CHUNKS:
        chunk = order[examined : examined + size]
        ids = [matrix.ids[index] for index in chunk]
        visible = set(
            (
                await conn.execute(
                    select(a.artifact_id).where(and_(a.artifact_id.in_(ids), *conditions))
                )
            ).scalars()
        )
        for index, artifact_id in zip(chunk, ids, strict=True):
            if artifact_id in visible:
                found.append((artifact_id, float(scores[index])))
                if len(found) == limit:
                    return found
        examined += len(chunk)
        if examined >= total:
            return found  # every candidate checked: fewer than ``limit`` pass
    return None


class _Matrix:
    """One tenant's vectors of one model, and the search state version they were read at."""

    def __init__(
        self, token: int, ids: builtins.list[str], matrix: np.ndarray[Any, Any] | None
    ) -> None:
        self.token = token
        self.ids = ids
        self.matrix = matrix  # None: too large for the cache (remembered until it changes)
        self.nbytes = 0 if matrix is None else int(matrix.nbytes) + 80 * len(ids)


class VectorCache:
    """Per-process matrices of each tenant's vectors, least recently used first out.

    Each search reads the tenant's ``search_state.version`` (one primary-key read), which the
    indexer bumps in every transaction that changes the tenant's documents or vectors; a
    matrix read at another version is read again. So a search never uses stale vectors,
    whichever process changed them.

    Args:
        max_bytes: Memory for all matrices; a tenant larger than that is never cached.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], _Matrix] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, conn: Any, tenant_id: str, embedder: Embedder) -> _Matrix | None:
        """The tenant's matrix, current, or None when it does not fit."""
        if self.max_bytes <= 0:
            return None
        version = await conn.scalar(
            select(t.search_state.c.version).where(t.search_state.c.tenant_id == tenant_id)
        )
        token = int(version or 0)
        key = (tenant_id, embedder.name)
        async with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.token == token:
                self._entries.move_to_end(key)
                return entry if entry.matrix is not None else None
            v = t.search_vectors.c
            where = and_(v.tenant_id == tenant_id, v.model == embedder.name, v.dim == embedder.dim)
            count = int(
                await conn.scalar(select(func.count()).select_from(t.search_vectors).where(where))
                or 0
            )
            if count * embedder.dim * 4 > self.max_bytes:
                self._entries[key] = _Matrix(token, [], None)
                return None
            # By id: the walk's stable sort then orders equal scores by id, as top_cosine does.
            rows = (
                await conn.execute(
                    select(v.artifact_id, v.vector).where(where).order_by(v.artifact_id)
                )
            ).all()
            matrix = np.frombuffer(b"".join(row.vector for row in rows), dtype="<f4").reshape(
                len(rows), embedder.dim
            )
            self._entries[key] = _Matrix(token, [row.artifact_id for row in rows], matrix)
            self._entries.move_to_end(key)
            while sum(e.nbytes for e in self._entries.values()) > self.max_bytes:
                self._entries.popitem(last=False)
            entry = self._entries.get(key)
            return entry if entry is not None and entry.matrix is not None else None
