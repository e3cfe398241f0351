"""Tenants and API keys: who may call the hub, and as whom.

A key reads ``ak_live_<key_id>_<secret>``. Only the SHA-256 of the secret is stored: the key id
finds the row and the secret's hash must match (compared in constant time). The secret has 256
bits of entropy, so a plain hash cannot be brute-forced the way a password hash could.

Ingestion secrets are different: a tenant's agents sign the events they publish straight to
the topics with theirs (HMAC, ``bus/signing.py``), and the consumers must compute that HMAC
themselves, so the secret is stored retrievable (see ``tables.ingestion_secrets``). It is
returned when created or rotated, read back by the consumers, and never logged.

Where the parts live: records in :mod:`.models`, key formats in :mod:`.credentials`, tenants
in :mod:`.tenants`, keys in :mod:`.api_keys`, ingestion secrets in :mod:`.ingestion_secrets`.
"""

from __future__ import annotations

from artifact_hub.core.errors import ConflictError
from artifact_hub.service.accounts.api_keys import ApiKeys
from artifact_hub.service.accounts.ingestion_secrets import IngestionSecrets


class AccountService(ApiKeys, IngestionSecrets):
    """Tenants and API keys in the index database.

    Args:
        db: The index database's transactions.
        store: The tenants, API keys and ingestion secrets (read and written in ``db``'s
            transactions).
        default_plan: The plan of tenants created without one, the bootstrap tenant included
            (``settings.default_plan``; default ``unlimited``: plans are opt-in).

    Raises:
        InvalidRequestError: ``default_plan`` is not a known plan.
    """

    async def ensure_bootstrap(self, tenant_id: str = "default") -> str | None:
        """On a hub without any tenant, create ``tenant_id`` and a key for agent ``agent``.

        Returns:
            The plaintext key when it was just created, else None (the hub has tenants).
        """
        async with self.db.connect() as conn:
            count = await self.store.count_tenants(conn)
        if count:
            return None
        try:
            await self.create_tenant(tenant_id, name=tenant_id)
        except ConflictError:  # another replica got there first
            return None
        _, key = await self.create_key(tenant_id, "agent")
        return key
