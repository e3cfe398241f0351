"""The account records: plans, tenants and API keys as the service returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from artifact_hub.service.plans import PLANS as PLAN_TABLE

PLANS = tuple(PLAN_TABLE)

Plan = Literal["free", "starter", "pro", "team", "enterprise", "unlimited"]


class Tenant(BaseModel):
    """A tenant: everything it stores is invisible to every other tenant."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    name: str
    plan: str
    created_at: datetime


class ApiKey(BaseModel):
    """An API key as listed (never with its secret)."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    tenant_id: str
    agent_id: str
    groups: tuple[str, ...] = ()
    namespace: str = "default"
    admin: bool = False
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked."""
        return self.revoked_at is not None
