"""The link rows as the service layer sees them, and the grants a link's maker holds.

The link service (``artifact_hub.service.links``) keeps the rules (signing, lifetimes, who may
revoke, cursors); a :class:`LinkStore` only reads and writes rows in the transaction handle
the service opened. The SQL implementation is
:class:`~artifact_hub.adapters.index.stores.links.SqlLinkStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from artifact_hub.ports.transactions import Transaction

__all__ = ["KeyGrant", "LinkOwners", "LinkRow", "LinkStore"]


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A revocable link as stored (its URL's signature is not: it is recomputed)."""

    link_id: str
    tenant_id: str
    artifact_id: str
    version: int | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LinkOwners:
    """Who may revoke a link besides a tenant admin: its maker and its artifact's owner."""

    created_by: str | None
    artifact_owner: str | None
    """None also when the artifact row is gone."""


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What one of an agent's API keys lets it read."""

    groups: tuple[str, ...]
    admin: bool
    revoked: bool


class LinkStore(Protocol):
    """Reads and writes links (and the few other rows a link's use depends on)."""

    async def insert_link(self, conn: Transaction, link: LinkRow) -> None:
        """Add a link."""
        ...

    async def get_link(self, conn: Transaction, link_id: str) -> LinkRow | None:
        """The link (revoked or expired ones too), or None."""
        ...

    async def link_owners(
        self, conn: Transaction, tenant_id: str, link_id: str
    ) -> LinkOwners | None:
        """The link's maker and its artifact's owner, or None when the tenant has no such link."""
        ...

    async def revoke_link(self, conn: Transaction, link_id: str, at: datetime) -> None:
        """Mark the link revoked at ``at`` unless it already is."""
        ...

    async def list_links(
        self,
        conn: Transaction,
        tenant_id: str,
        artifact_id: str,
        *,
        limit: int,
        active_at: datetime | None = None,
        before: tuple[datetime, str] | None = None,
    ) -> list[LinkRow]:
        """The artifact's links, newest first (by ``created_at``, then ``link_id``).

        Args:
            conn: The transaction handle.
            tenant_id: The tenant.
            artifact_id: The artifact.
            limit: At most this many.
            active_at: Only links neither revoked nor expired at this time; None: all.
            before: Only links after this ``(created_at, link_id)`` in that order (a cursor).
        """
        ...

    async def artifact_tenant(self, conn: Transaction, artifact_id: str) -> str | None:
        """The tenant an artifact belongs to, or None when there is no such artifact."""
        ...

    async def agent_grants(
        self, conn: Transaction, tenant_id: str, agent_id: str
    ) -> list[KeyGrant]:
        """The grants of every API key (revoked ones included) of an agent in the tenant."""
        ...
