"""Nearest vectors computed by pgvector: exact or HNSW, chosen by the planner's estimate.

The column, the index and their set-up are :class:`~artifact_hub.adapters.index.pgvector.PgVector`;
this module holds the search queries over them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, event, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.pgvector import PgVector

__all__ = ["nearest_pgvector", "pgvector_statement"]


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


async def nearest_pgvector(
    conn: AsyncConnection,
    pgvector: PgVector,
    conditions: list[ColumnElement[bool]],
    query: np.ndarray[Any, Any],
    limit: int,
) -> list[tuple[str, float]]:
    """The ``limit`` visible artifacts closest to the query, computed by pgvector.

    ``conn`` is a transaction: the ``SET LOCAL`` settings last for it only.

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
    estimate = await _estimated_rows(conn, select(v.artifact_id).select_from(joined).where(where))
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
        rows = (await conn.execute(pgvector_statement(pgvector, conditions, query, fetch))).all()
    if len(rows) < fetch:  # exact: few pass, or the index scan came back short
        rows = (
            await conn.execute(
                pgvector_statement(pgvector, conditions, query, fetch, indexed=False)
            )
        ).all()
    # Equal distances (equal texts) in id order, as the numpy paths give them.
    ranked = sorted(rows, key=lambda row: (round(float(row.distance), 6), row.artifact_id))
    return [(row.artifact_id, 1.0 - float(row.distance)) for row in ranked[:limit]]
