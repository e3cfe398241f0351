"""Structured search: the filters only, newest first, or ranked by a metric (``best``)."""

from __future__ import annotations

import builtins
import re
from typing import Any

from sqlalchemy import ColumnElement, Float, Text, and_, bindparam, case, cast, func, select

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.queries import artifact_from_row
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.search import SearchHit, SearchRequest
from artifact_hub.service.search.base import SearchBase

_METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:/\- ]{1,128}$")


def artifact_from_row_data(data: dict[str, Any]) -> Artifact:
    """The read model from an ``artifacts`` row as a dict (extra columns removed)."""
    for key in ("revision", "expired_at", "purged_at"):
        data.pop(key, None)
    return Artifact.model_validate(data)


class StructuredSearch(SearchBase):
    """Searches the index tables, never the search documents."""

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
