"""``/v1/sessions``: seal a session, read its state.

Sessions belong to the tenant: the agents of one run share them, so any key of the tenant may
read or seal one; other tenants never see it (their session ids are their own).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.routes.common import json_response
from artifact_hub.schemas.artifacts import Session

__all__ = ["router"]

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


@router.post("/{session_id}/seal", response_model=Session)
async def seal_session(session_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """Seal the session: later writes to it fail with ``session_sealed``. Idempotent."""
    return json_response(await hub.service.seal_session(caller, session_id))


@router.get("/{session_id}", response_model=Session)
async def get_session(session_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """The session (404 ``session_not_found`` before anything was written to it)."""
    return json_response(await hub.service.session(caller, session_id))
