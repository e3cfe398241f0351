"""The REST API in-process on both stacks, with two tenants and a cast of API keys.

Import the fixtures into a test module (``from tests.integration.api_support import api``).
ASGITransport runs no lifespan, so the fixture starts and stops the hub itself.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.conftest import STACKS, stack_settings, stop_within

from artifact_hub.api import create_app
from artifact_hub.plugin import Hub, bootstrap

__all__ = ["Api", "api", "b64"]

TENANT = "acme"
OTHER_TENANT = "globex"


def b64(data: bytes) -> str:
    """Base64 text of ``data``."""
    return base64.b64encode(data).decode()


@dataclass
class Api:
    """A client over the app, and keys by role.

    Roles: ``owner`` (acme/alice, groups team), ``peer`` (acme/bob, nothing shared with it),
    ``reader`` (acme/carol, artifacts get shared with it), ``member`` (acme/dave, group
    readers), ``admin`` (acme/ops, admin), ``stranger`` (globex/alice: same agent name, other
    tenant), ``owner_ns2`` (acme/alice in namespace ns2).
    """

    hub: Hub
    client: httpx.AsyncClient
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        """The Authorization header of a role."""
        return {"Authorization": f"Bearer {self.keys[role]}"}

    async def request(self, role: str | None, method: str, url: str, **kw: Any) -> httpx.Response:
        """A request as ``role`` (None: without a key)."""
        headers = dict(kw.pop("headers", {}) or {})
        if role is not None:
            headers.update(self.auth(role))
        return await self.client.request(method, url, headers=headers, **kw)

    async def push(self, role: str = "owner", data: bytes = b"hello", **fields: Any) -> Any:
        """Create an artifact with a JSON base64 body; returns its JSON."""
        body = {"name": "a.txt", "content_base64": b64(data), **fields}
        response = await self.request(role, "POST", "/v1/artifacts", json=body)
        assert response.status_code == 201, response.text
        return response.json()


async def _make_keys(env: Api) -> None:
    accounts = env.hub.accounts
    await accounts.create_tenant(TENANT, name="Acme", plan="enterprise")
    await accounts.create_tenant(OTHER_TENANT, plan="enterprise")
    for role, tenant, agent, kwargs in (
        ("owner", TENANT, "alice", {"groups": ("team",)}),
        ("peer", TENANT, "bob", {}),
        ("reader", TENANT, "carol", {}),
        ("member", TENANT, "dave", {"groups": ("readers",)}),
        ("admin", TENANT, "ops", {"admin": True}),
        ("stranger", OTHER_TENANT, "alice", {"groups": ("team", "readers")}),
        ("owner_ns2", TENANT, "alice", {"namespace": "ns2"}),
    ):
        key_id, key = await accounts.create_key(tenant, agent, **kwargs)
        env.keys[role] = key
        env.key_ids[role] = key_id


@pytest.fixture(params=STACKS)
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The app over a started hub, rate limits out of the way, keys made."""
    settings, cleanup = stack_settings(
        request,
        tmp_path,
        request.param,
        rate_limit_per_second=100_000,
        rate_limit_burst=100_000,
        signing_secret="api-tests-signing-secret",
        sweep_enabled=False,
    )
    hub = bootstrap(settings)
    await hub.start()
    try:
        transport = httpx.ASGITransport(app=create_app(hub))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            env = Api(hub=hub, client=client)
            await _make_keys(env)
            yield env
    finally:
        await stop_within(hub, 120)
        if cleanup:
            cleanup()
