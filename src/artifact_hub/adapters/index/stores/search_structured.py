"""Structured search in SQL: the filters only, newest first, or ranked by a metric."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, Text, and_, bindparam, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.artifact_rows import artifact_from_row
from artifact_hub.schemas.artifacts import Artifact

__all__ = ["by_metric", "newest"]


async def newest(
    conn: AsyncConnection, conditions: list[ColumnElement[bool]], limit: int
) -> list[Artifact]:
    """The ``limit`` artifacts that pass ``conditions``, newest first."""
    a = t.artifacts.c
    query = (
        select(t.artifacts)
        .where(and_(*conditions))
        .limit(limit)
        .order_by(a.created_at.desc(), a.artifact_id.desc())
    )
    return [artifact_from_row(row) for row in (await conn.execute(query)).all()]


async def by_metric(
    conn: AsyncConnection,
    conditions: list[ColumnElement[bool]],
    metric: str,
    metric_mode: Literal["max", "min"],
    limit: int,
) -> list[tuple[Artifact, float]]:
    """The ``limit`` artifacts that pass ``conditions`` with a numeric ``metric``, best first.

    Best is highest for ``max``, lowest for ``min``; ties go oldest first, then by id.
    """
    a = t.artifacts.c
    value = _metric_value(conn.dialect.name, metric).label("metric_value")
    order = value.desc() if metric_mode == "max" else value.asc()
    query = (
        select(t.artifacts, value)
        .where(and_(*conditions, value.is_not(None)))
        .order_by(order, a.created_at.asc(), a.artifact_id.asc())
        .limit(limit)
    )
    found = []
    for row in (await conn.execute(query)).all():
        data = dict(row._mapping)
        score = float(data.pop("metric_value"))
        for key in ("revision", "expired_at", "purged_at"):  # not in the read model
            data.pop(key, None)
        found.append((Artifact.model_validate(data), score))
    return found


def _metric_value(dialect: str, metric: str) -> ColumnElement[Any]:
    """The metric's numeric value, or NULL when absent or not a number (per dialect)."""
    metrics = t.artifacts.c.metrics
    if dialect == "postgresql":
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
