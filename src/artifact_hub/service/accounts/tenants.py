"""Tenants: create one (with its plan) and read it.

:class:`TenantAccounts` also holds the account service's parts (its constructor).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.core.errors import ConflictError, InvalidRequestError
from artifact_hub.service.accounts.models import PLANS, Plan, Tenant


class TenantAccounts:
    """Tenants, and the account service's parts (the index database, the default plan).

    Args:
        db: The index database (the ``tenants`` and ``api_keys`` tables).
        default_plan: The plan of tenants created without one, the bootstrap tenant included
            (``settings.default_plan``; default ``unlimited``: plans are opt-in).

    Raises:
        InvalidRequestError: ``default_plan`` is not a known plan.
    """

    def __init__(self, db: Database, default_plan: str = "unlimited") -> None:
        if default_plan not in PLANS:
            raise InvalidRequestError(
                f"default_plan must be one of {', '.join(PLANS)}", plan=default_plan
            )
        self.db = db
        self.default_plan = default_plan

    async def create_tenant(
        self, tenant_id: str, name: str | None = None, plan: Plan | None = None
    ) -> Tenant:
        """Create a tenant, on ``plan`` (default: the hub's ``default_plan``).

        Raises:
            InvalidRequestError: Empty id or unknown plan.
            ConflictError: The tenant exists.
        """
        if not tenant_id or len(tenant_id) > 128:
            raise InvalidRequestError("a tenant id has 1 to 128 characters")
        plan = plan or self.default_plan  # type: ignore[assignment]
        if plan not in PLANS:
            raise InvalidRequestError(f"plan must be one of {', '.join(PLANS)}", plan=plan)
        tenant = Tenant(
            tenant_id=tenant_id, name=name or tenant_id, plan=plan, created_at=datetime.now(UTC)
        )
        try:
            async with self.db.begin() as conn:
                await conn.execute(insert(t.tenants).values(**tenant.model_dump()))
        except IntegrityError as error:
            raise ConflictError(
                f"tenant {tenant_id} already exists", tenant_id=tenant_id
            ) from error
        return tenant

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant, or None."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(t.tenants).where(t.tenants.c.tenant_id == tenant_id))
            ).first()
        return None if row is None else Tenant.model_validate(dict(row._mapping))
