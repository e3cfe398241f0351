"""``/v1/whoami``: who the API key speaks for."""

from __future__ import annotations

from fastapi import APIRouter

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.errors import errors
from artifact_hub.schemas.api import WhoAmI

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["account"])


@router.get("/whoami", responses=errors())
async def whoami(hub: HubDep, caller: CallerDep) -> WhoAmI:
    """The tenant, agent, groups, namespace and plan of the key."""
    tenant = await hub.accounts.get_tenant(caller.tenant_id)
    return WhoAmI(
        tenant_id=caller.tenant_id,
        tenant_name=None if tenant is None else tenant.name,
        agent_id=caller.agent_id or "",
        groups=list(caller.groups),
        namespace=caller.namespace,
        plan=caller.plan,
        key_id=caller.key_id or "",
        admin=caller.admin,
    )
