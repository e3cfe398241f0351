"""Structured search: the filters only, newest first, or ranked by a metric (``best``)."""

from __future__ import annotations

import builtins
import re
from typing import Any

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.ports.search import SearchScope
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
        self, scope: SearchScope, request: SearchRequest
    ) -> builtins.list[SearchHit]:
        if request.metric is None:
            async with self.db.connect() as conn:
                artifacts = await self.backend.newest(conn, scope, request.limit)
            return [
                SearchHit(artifact=artifact, score=None, mode="structured")
                for artifact in artifacts
            ]
        # The name goes into a JSON path on SQLite: only plain names reach the backend.
        if not _METRIC_NAME.match(request.metric):
            raise InvalidRequestError(
                "metric names are 1-128 letters, digits, spaces and _ . : / -",
                metric=request.metric,
            )
        async with self.db.connect() as conn:
            ranked = await self.backend.by_metric(
                conn, scope, request.metric, request.metric_mode, request.limit
            )
        return [
            SearchHit(artifact=artifact, score=score, mode="structured")
            for artifact, score in ranked
        ]
