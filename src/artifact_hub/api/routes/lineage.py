"""``/v1/artifacts/{id}/lineage``: where an artifact came from and what was made from it."""

from __future__ import annotations

from fastapi import APIRouter, Response

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.errors import errors
from artifact_hub.api.routes.common import json_response
from artifact_hub.schemas.lineage import LineageGraph

__all__ = ["router"]

router = APIRouter(prefix="/v1/artifacts", tags=["lineage"])


@router.get("/{artifact_id}/lineage", response_model=LineageGraph, responses=errors(404, 410))
async def get_lineage(artifact_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """The artifact's lineage graph, both ways (workflow runs record it when steps save).

    Artifacts of the tenant the caller may not read appear as ``hidden`` nodes with their id
    only; other tenants' artifacts never appear.
    """
    return json_response(await hub.service.lineage(caller, artifact_id))
