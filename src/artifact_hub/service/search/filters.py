"""The search filters as SQL conditions: visibility, kind, tags, labels, scope, time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, exists, or_

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.projector import label_value
from artifact_hub.ports.index import ArtifactFilter
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.search import SearchRequest, parse_time_window
from artifact_hub.service.search.base import SearchBase

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


class SearchFilters(SearchBase):
    """Turns a request's filters into conditions every search mode applies."""

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
