"""Tenants: create one (with its plan) and read it.

:class:`TenantAccounts` also holds the account service's parts (its constructor).
"""

from __future__ import annotations

from datetime import UTC, datetime

from artifact_hub.core.errors import ConflictError, InvalidRequestError
from artifact_hub.ports.accounts import AccountStore, TenantRow
from artifact_hub.ports.transactions import Transactions
from artifact_hub.service.accounts.models import PLANS, Plan, Tenant


class TenantAccounts:
    """Tenants, and the account service's parts (database, store, default plan).

    Args:
        db: The index database's transactions.
        store: The tenants, API keys and ingestion secrets (read and written in ``db``'s
            transactions).
        default_plan: The plan of tenants created without one, the bootstrap tenant included
            (``settings.default_plan``; default ``unlimited``: plans are opt-in).

    Raises:
        InvalidRequestError: ``default_plan`` is not a known plan.
    """

    def __init__(
        self, db: Transactions, store: AccountStore, default_plan: str = "unlimited"
    ) -> None:
        if default_plan not in PLANS:
            raise InvalidRequestError(
                f"default_plan must be one of {', '.join(PLANS)}", plan=default_plan
            )
        self.db = db
        self.store = store
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
                await self.store.insert_tenant(conn, TenantRow(**tenant.model_dump()))
        except ConflictError as error:
            raise ConflictError(
                f"tenant {tenant_id} already exists", tenant_id=tenant_id
            ) from error
        return tenant

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant, or None."""
        async with self.db.connect() as conn:
            row = await self.store.get_tenant(conn, tenant_id)
        return None if row is None else Tenant.model_validate(row, from_attributes=True)
