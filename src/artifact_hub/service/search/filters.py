"""The search filters as values: the caller, kind, tags, labels, scope ids and time range."""

from __future__ import annotations

from datetime import UTC, datetime

from artifact_hub.ports.index import ArtifactFilter
from artifact_hub.ports.search import SCOPE_KEYS, SearchScope
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.search import SearchRequest, parse_time_window
from artifact_hub.service.search.base import SearchBase

__all__ = ["SCOPE_KEYS", "SearchFilters"]


class SearchFilters(SearchBase):
    """Turns a request's filters into the scope every search mode applies."""

    def _scope(self, caller: Caller, request: SearchRequest) -> SearchScope:
        now = datetime.now(UTC)
        created_after = request.created_after
        window = parse_time_window(request.time_window)
        if window is not None:
            since = now - window
            created_after = since if created_after is None else max(created_after, since)
        plain = {k: v for k, v in request.labels.items() if k not in SCOPE_KEYS}
        return SearchScope(
            caller=caller,
            filter=ArtifactFilter(
                kind=request.kind,
                tags=tuple(request.tags),
                labels=plain,
                created_after=created_after,
                created_before=request.created_before,
            ),
            now=now,
            scope_labels={k: v for k, v in request.labels.items() if k in SCOPE_KEYS},
        )
