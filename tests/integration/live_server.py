"""A hub served by a real uvicorn server in a background thread, for HTTP-level tests.

The in-process ``api`` fixture (ASGITransport) has no sockets, so it cannot show what a
client sees on a keep-alive connection, and schemathesis calls a URL. This runs
``create_app(hub)`` under uvicorn on a free port, in its own thread and event loop (the hub
starts in the app's lifespan there), with the same tenants and keys as ``api_support``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from tests.integration.conftest import stack_settings

from artifact_hub.api import create_app
from artifact_hub.plugin import Hub, bootstrap

__all__ = ["LiveHub", "live_hub"]

T = TypeVar("T")

TENANT = "acme"
OTHER_TENANT = "globex"


@dataclass
class LiveHub:
    """A served hub: its base URL, its API keys by role, and a way to run on its loop."""

    hub: Hub
    url: str
    loop: asyncio.AbstractEventLoop
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str = "owner") -> dict[str, str]:
        """The Authorization header of a role."""
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coro`` on the server's event loop (where the hub's connections live)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


async def _make_keys(live: LiveHub) -> None:
    accounts = live.hub.accounts
    await accounts.create_tenant(TENANT, name="Acme", plan="enterprise")
    await accounts.create_tenant(OTHER_TENANT, plan="enterprise")
    for role, tenant, agent, kwargs in (
        ("owner", TENANT, "alice", {"groups": ("team",)}),
        ("peer", TENANT, "bob", {}),
        ("stranger", OTHER_TENANT, "alice", {}),
    ):
        _, key = await accounts.create_key(tenant, agent, **kwargs)
        live.keys[role] = key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def live_hub(request: pytest.FixtureRequest, tmp_path: Path, stack: str) -> Iterator[LiveHub]:
    """Serve a hub of ``stack`` on 127.0.0.1 until the block ends."""
    settings, cleanup = stack_settings(
        request,
        tmp_path,
        stack,
        rate_limit_per_second=1_000_000,
        rate_limit_burst=1_000_000,
        signing_secret="live-tests-signing-secret",
        sweep_enabled=False,
    )
    hub = bootstrap(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning")
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(server.serve()), name="live-hub", daemon=True
    )
    thread.start()
    try:
        for _ in range(600):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not server.started:
            raise RuntimeError("the live hub did not start")
        live = LiveHub(hub=hub, url=f"http://127.0.0.1:{port}", loop=loop)
        live.run(_make_keys(live))
        yield live
    finally:
        server.should_exit = True
        thread.join(120)
        loop.close()
        if cleanup:
            cleanup()
