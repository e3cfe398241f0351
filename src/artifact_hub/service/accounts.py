"""Tenants and API keys: who may call the hub, and as whom.

A key reads ``ak_live_<key_id>_<secret>``. Only the SHA-256 of the secret is stored: the key id
finds the row and the secret's hash must match (compared in constant time). The secret has 256
bits of entropy, so a plain hash cannot be brute-forced the way a password hash could.

Ingestion secrets are different: a tenant's agents sign the events they publish straight to
the topics with theirs (HMAC, ``bus/signing.py``), and the consumers must compute that HMAC
themselves, so the secret is stored retrievable (see ``tables.ingestion_secrets``). It is
returned when created or rotated, read back by the consumers, and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from artifact_hub.errors import AuthenticationError, ConflictError, InvalidRequestError
from artifact_hub.index import tables as t
from artifact_hub.index.database import Database
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.plans import PLANS as PLAN_TABLE

__all__ = [
    "INGESTION_SECRET_PREFIX",
    "KEY_PREFIX",
    "PLANS",
    "AccountService",
    "ApiKey",
    "Plan",
    "Tenant",
    "parse_key",
]

KEY_PREFIX = "ak_live_"
INGESTION_SECRET_PREFIX = "ahis_"
"""Ingestion secrets read ``ahis_<43 url-safe characters>`` (256 bits), easy to spot in a leak."""
PLANS = tuple(PLAN_TABLE)
Plan = Literal["free", "starter", "pro", "team", "enterprise", "unlimited"]

_KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_KEY_ID_LENGTH = 16
_UNAUTHORIZED = "the API key is missing, unknown or revoked"
# Hashed when the key id is unknown, so both failures take about the same time.
_DUMMY_SHA256 = hashlib.sha256(b"artifact-hub").hexdigest()
_TENANT_SCOPE = "tenant"
_HUB_SCOPE = "hub"


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


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_key_id() -> str:
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LENGTH))


def _new_ingestion_secret() -> str:
    return INGESTION_SECRET_PREFIX + secrets.token_urlsafe(32)


def _secret_row(scope: str, owner_id: str) -> ColumnElement[bool]:
    s = t.ingestion_secrets.c
    return and_(s.scope == scope, s.owner_id == owner_id)


def parse_key(token: str) -> tuple[str, str]:
    """Split ``ak_live_<key_id>_<secret>`` into key id and secret.

    Raises:
        AuthenticationError: The token does not have that shape.
    """
    if not token.startswith(KEY_PREFIX):
        raise AuthenticationError(_UNAUTHORIZED)
    key_id, sep, secret = token[len(KEY_PREFIX) :].partition("_")
    if not sep or len(key_id) != _KEY_ID_LENGTH or not secret or len(secret) > 256:
        raise AuthenticationError(_UNAUTHORIZED)
    return key_id, secret


class AccountService:
    """Tenants and API keys in the index database.

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

    # ------------------------------------------------------------------ tenants

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

    # ------------------------------------------------------------------ keys

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
        async with self.db.begin() as conn:
            await conn.execute(
                insert(t.api_keys).values(
                    key_id=key_id,
                    tenant_id=tenant_id,
                    agent_id=agent_id,
                    groups=list(dict.fromkeys(groups)),
                    namespace=namespace,
                    admin=admin,
                    secret_sha256=_sha256(secret),
                    created_at=datetime.now(UTC),
                )
            )
        return key_id, f"{KEY_PREFIX}{key_id}_{secret}"

    async def authenticate(self, token: str) -> Caller:
        """The caller an API key speaks for.

        Raises:
            AuthenticationError: Malformed, unknown or revoked key (code ``unauthorized``).
        """
        key_id, secret = parse_key(token)
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(t.api_keys, t.tenants.c.plan)
                    .join(t.tenants, t.tenants.c.tenant_id == t.api_keys.c.tenant_id)
                    .where(t.api_keys.c.key_id == key_id)
                )
            ).first()
        stored = _DUMMY_SHA256 if row is None else str(row.secret_sha256)
        matches = hmac.compare_digest(_sha256(secret), stored)
        if row is None or not matches or row.revoked_at is not None:
            raise AuthenticationError(_UNAUTHORIZED)
        return Caller(
            tenant_id=row.tenant_id,
            agent_id=row.agent_id,
            groups=tuple(row.groups or ()),
            namespace=row.namespace,
            admin=bool(row.admin),
            plan=row.plan,
            key_id=row.key_id,
        )

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key at once; False when there is no such live key."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(t.api_keys)
                .where(t.api_keys.c.key_id == key_id, t.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return bool(result.rowcount)

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys (revoked ones included), oldest first."""
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.api_keys)
                    .where(t.api_keys.c.tenant_id == tenant_id)
                    .order_by(t.api_keys.c.created_at, t.api_keys.c.key_id)
                )
            ).all()
        return [
            ApiKey.model_validate({**row._mapping, "groups": tuple(row.groups or ())})
            for row in rows
        ]

    # ------------------------------------------------------------------ ingestion secrets

    async def create_ingestion_secret(self, tenant_id: str) -> str:
        """Create the tenant's ingestion secret (what its agents sign bus events with).

        Returns:
            The secret. It can be read back (:meth:`ingestion_secret`); keep it out of logs.

        Raises:
            InvalidRequestError: Unknown tenant.
            ConflictError: The tenant has one already (rotate it instead).
        """
        if await self.get_tenant(tenant_id) is None:
            raise InvalidRequestError(f"unknown tenant {tenant_id}", tenant_id=tenant_id)
        secret = _new_ingestion_secret()
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    insert(t.ingestion_secrets).values(
                        scope=_TENANT_SCOPE,
                        owner_id=tenant_id,
                        secret=secret,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError as error:
            raise ConflictError(
                f"tenant {tenant_id} has an ingestion secret; rotate it", tenant_id=tenant_id
            ) from error
        return secret

    async def rotate_ingestion_secret(
        self, tenant_id: str, *, grace: timedelta = timedelta(hours=1)
    ) -> str:
        """Replace the tenant's ingestion secret (create it if there is none); return the new one.

        Events signed with the old secret still verify for ``grace`` (those already on the
        topics, or from agents not yet given the new one); ``timedelta(0)`` cuts a leaked
        secret off at once.

        Raises:
            InvalidRequestError: Unknown tenant, or a negative grace.
        """
        if grace < timedelta(0):
            raise InvalidRequestError("the grace period cannot be negative")
        if await self.get_tenant(tenant_id) is None:
            raise InvalidRequestError(f"unknown tenant {tenant_id}", tenant_id=tenant_id)
        secret, now = _new_ingestion_secret(), datetime.now(UTC)
        s = t.ingestion_secrets.c
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(t.ingestion_secrets)
                .where(_secret_row(_TENANT_SCOPE, tenant_id))
                .values(
                    previous_secret=s.secret,  # the row's value before this update
                    previous_valid_until=now + grace,
                    secret=secret,
                    rotated_at=now,
                )
            )
            if not result.rowcount:
                await conn.execute(
                    insert(t.ingestion_secrets).values(
                        scope=_TENANT_SCOPE, owner_id=tenant_id, secret=secret, created_at=now
                    )
                )
        return secret

    async def ingestion_secret(self, tenant_id: str) -> str | None:
        """The tenant's current ingestion secret, or None when it has none."""
        async with self.db.connect() as conn:
            value = await conn.scalar(
                select(t.ingestion_secrets.c.secret).where(_secret_row(_TENANT_SCOPE, tenant_id))
            )
        return None if value is None else str(value)

    async def verification_secrets(
        self, tenant_id: str, *, now: datetime | None = None
    ) -> list[str]:
        """The secrets a tenant's event may be signed with: current, and previous in grace."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(t.ingestion_secrets).where(_secret_row(_TENANT_SCOPE, tenant_id))
                )
            ).first()
        if row is None:
            return []
        found = [str(row.secret)]
        until = row.previous_valid_until
        if row.previous_secret and until is not None and (now or datetime.now(UTC)) < until:
            found.append(str(row.previous_secret))
        return found

    async def revoke_ingestion_secret(self, tenant_id: str) -> bool:
        """Delete the tenant's ingestion secret: its agents' events are refused from now on."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                delete(t.ingestion_secrets).where(_secret_row(_TENANT_SCOPE, tenant_id))
            )
        return bool(result.rowcount)

    async def hub_bus_secret(self, configured: str | None = None) -> str:
        """The hub's own bus secret (its relay signs every event with it); made on first use.

        Kept in the database, so every relay and consumer sharing the index agrees on it
        without configuration; ``configured`` (``settings.bus_signing_secret``) overrides it.
        """
        if configured:
            return configured
        query = select(t.ingestion_secrets.c.secret).where(_secret_row(_HUB_SCOPE, _HUB_SCOPE))
        async with self.db.connect() as conn:
            value = await conn.scalar(query)
        if value is not None:
            return str(value)
        try:
            async with self.db.begin() as conn:
                await conn.execute(
                    insert(t.ingestion_secrets).values(
                        scope=_HUB_SCOPE,
                        owner_id=_HUB_SCOPE,
                        secret=_new_ingestion_secret(),
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:  # another process made it first: use theirs
            pass
        async with self.db.connect() as conn:
            return str(await conn.scalar(query))

    async def ensure_bootstrap(self, tenant_id: str = "default") -> str | None:
        """On a hub without any tenant, create ``tenant_id`` and a key for agent ``agent``.

        Returns:
            The plaintext key when it was just created, else None (the hub has tenants).
        """
        async with self.db.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(t.tenants))
        if count:
            return None
        try:
            await self.create_tenant(tenant_id, name=tenant_id)
        except ConflictError:  # another replica got there first
            return None
        _, key = await self.create_key(tenant_id, "agent")
        return key
