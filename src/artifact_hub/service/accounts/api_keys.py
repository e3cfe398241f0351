"""API keys: create, authenticate, revoke and list them (only the secret's hash is stored)."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

from artifact_hub.core.errors import AuthenticationError, InvalidRequestError
from artifact_hub.ports.accounts import ApiKeyRow
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.accounts.credentials import (
    _DUMMY_SHA256,
    _UNAUTHORIZED,
    KEY_PREFIX,
    _new_key_id,
    _sha256,
    parse_key,
)
from artifact_hub.service.accounts.models import ApiKey
from artifact_hub.service.accounts.tenants import TenantAccounts


class ApiKeys(TenantAccounts):
    """A tenant's API keys."""

    async def create_key(
        self,
        tenant_id: str,
        agent_id: str,
        groups: tuple[str, ...] | list[str] = (),
        namespace: str = "default",
        admin: bool = False,
    ) -> tuple[str, str]:
        """Create a key for an agent of the tenant.

        Returns:
            The key id and the plaintext key; the key is shown once and never stored.

        Raises:
            InvalidRequestError: Unknown tenant, or empty agent or namespace.
        """
        if not agent_id or len(agent_id) > 200:
            raise InvalidRequestError("an agent id has 1 to 200 characters")
        if not namespace or len(namespace) > 128:
            raise InvalidRequestError("a namespace has 1 to 128 characters")
        if await self.get_tenant(tenant_id) is None:
            raise InvalidRequestError(f"unknown tenant {tenant_id}", tenant_id=tenant_id)
        key_id, secret = _new_key_id(), secrets.token_urlsafe(32)
        row = ApiKeyRow(
            key_id=key_id,
            tenant_id=tenant_id,
            agent_id=agent_id,
            groups=tuple(dict.fromkeys(groups)),
            namespace=namespace,
            admin=admin,
            secret_sha256=_sha256(secret),
            created_at=datetime.now(UTC),
        )
        async with self.db.begin() as conn:
            await self.store.insert_key(conn, row)
        return key_id, f"{KEY_PREFIX}{key_id}_{secret}"

    async def authenticate(self, token: str) -> Caller:
        """The caller an API key speaks for.

        Raises:
            AuthenticationError: Malformed, unknown or revoked key (code ``unauthorized``).
        """
        key_id, secret = parse_key(token)
        async with self.db.connect() as conn:
            found = await self.store.key_and_plan(conn, key_id)
        stored = _DUMMY_SHA256 if found is None else found[0].secret_sha256
        matches = hmac.compare_digest(_sha256(secret), stored)
        if found is None or not matches or found[0].revoked_at is not None:
            raise AuthenticationError(_UNAUTHORIZED)
        row, plan = found
        return Caller(
            tenant_id=row.tenant_id,
            agent_id=row.agent_id,
            groups=row.groups,
            namespace=row.namespace,
            admin=row.admin,
            plan=plan,
            key_id=row.key_id,
        )

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key at once; False when there is no such live key."""
        async with self.db.begin() as conn:
            return await self.store.revoke_key(conn, key_id, datetime.now(UTC))

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys (revoked ones included), oldest first."""
        async with self.db.connect() as conn:
            rows = await self.store.list_keys(conn, tenant_id)
        return [ApiKey.model_validate(row, from_attributes=True) for row in rows]
