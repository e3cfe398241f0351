"""``GET /v1/search``: structured, lexical, semantic and hybrid search (``hub.search``).

Query parameters mirror :class:`~artifact_hub.schemas.search.SearchRequest`: ``q`` (or
``query``), ``mode``, ``kind``, ``tag`` (repeatable, all must match), labels as ``label.<k>=v``
(repeatable; the value is read as JSON when it parses, else as a string) and/or ``labels`` (a
JSON object), ``metric`` and ``metric_mode``, ``time_window`` (``24h``, ``7d``, ``P7D``),
``created_after``, ``created_before`` and ``limit`` (1..1000).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.errors import errors
from artifact_hub.api.routes.artifacts import _pairs, _utc
from artifact_hub.api.routes.common import json_response
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.search import SearchMode, SearchRequest, SearchResults

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["search"])


@router.get("/search", response_model=SearchResults, responses=errors(400, 501))
async def search(
    hub: HubDep,
    caller: CallerDep,
    request: Request,
    q: Annotated[str | None, Query(description="Free text (alias: query).")] = None,
    query: str | None = None,
    mode: SearchMode | None = None,
    kind: str | None = None,
    tag: Annotated[list[str] | None, Query(description="Repeatable; all must match.")] = None,
    labels: Annotated[str | None, Query(description="A JSON object of labels to match.")] = None,
    metric: str | None = None,
    metric_mode: Literal["max", "min"] = "max",
    time_window: Annotated[str | None, Query(description="24h, 7d, 30m, P7D...")] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> Response:
    """The artifacts the caller may read that match, best first, with their scores."""
    wanted: dict[str, Any] = _pairs(request, "label.")
    if labels is not None:
        try:
            whole = json.loads(labels)
        except ValueError as error:
            raise InvalidRequestError("labels must be a JSON object") from error
        if not isinstance(whole, dict):
            raise InvalidRequestError("labels must be a JSON object")
        wanted.update(whole)
    try:
        body = SearchRequest(
            query=q if q is not None else query,
            mode=mode,
            kind=kind,
            tags=list(tag or ()),
            labels=wanted,
            metric=metric,
            metric_mode=metric_mode,
            time_window=time_window,
            created_after=_utc(created_after),
            created_before=_utc(created_before),
            limit=limit,
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "query"
        raise InvalidRequestError(f"{where}: {first.get('msg', 'invalid search')}") from None
    hits = await hub.search.search(caller, body)
    return json_response(SearchResults(data=hits))
