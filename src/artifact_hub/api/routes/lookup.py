"""``/v1/lookup``: find an artifact by name, ``name:latest`` or ``name:vN``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.routes.common import json_response
from artifact_hub.schemas.lookup import ArtifactRef
from artifact_hub.service.lookup import resolve_ref

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["artifacts"])


@router.get(
    "/lookup",
    response_model=ArtifactRef,
    responses={
        400: {"description": "`invalid_request`: a reference without a name."},
        401: {"description": "`unauthorized`: no valid API key."},
        404: {"description": "`artifact_not_found` or `version_not_found`."},
        429: {"description": "`rate_limited`."},
    },
)
async def lookup(
    hub: HubDep,
    caller: CallerDep,
    ref: Annotated[
        str,
        Query(
            min_length=1,
            max_length=1100,
            description="NAME, NAME:latest or NAME:vN (N >= 1).",
        ),
    ],
    session_id: Annotated[str | None, Query(description="Look in this session only.")] = None,
    namespace: Annotated[str | None, Query(description="Default: the key's namespace.")] = None,
) -> Response:
    """Resolve a name reference among what the caller may read (the newest such artifact).

    404 ``artifact_not_found`` when no artifact has the name, ``version_not_found`` when it
    has no such version.
    """
    found = await resolve_ref(hub.service, caller, ref, session_id=session_id, namespace=namespace)
    return json_response(found)
