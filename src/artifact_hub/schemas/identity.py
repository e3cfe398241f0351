"""Who is calling: the tenant, the agent and its groups, resolved from an API key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Caller"]


class Caller(BaseModel):
    """The identity every service call runs as.

    Attributes:
        tenant_id: Every read and write is confined to this tenant.
        agent_id: The agent; it owns what it creates and sees what is shared with it.
        groups: Groups the agent belongs to; artifacts shared with a group are visible to it.
        namespace: The team namespace inside the tenant new artifacts go to.
        admin: Sees every artifact of the tenant (operators, the embedded hub's own steps).
        plan: The tenant's plan, for size and storage limits.
        key_id: The API key the call came with (None inside the hub).
    """

    model_config = ConfigDict(frozen=True)

    tenant_id: str = Field(min_length=1, max_length=128)
    agent_id: str | None = None
    groups: tuple[str, ...] = ()
    namespace: str = "default"
    admin: bool = False
    plan: str = "enterprise"
    key_id: str | None = None
