"""Rate limiting (memory and shared Redis) and Idempotency-Key, through real ASGI apps."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from artifact_hub.api import create_app
from artifact_hub.api.deps import CallerDep
from artifact_hub.api.errors import install_error_handlers
from artifact_hub.api.middleware import (
    IdempotencyMiddleware,
    RateLimiter,
    RateLimitMiddleware,
    install_middleware,
)
from artifact_hub.core.errors import ServerError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not _redis_available(), reason="no Redis on 127.0.0.1:6379")


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    instance = bootstrap(
        HubSettings(data_dir=tmp_path / "hub", default_ttl_seconds=None, sweep_enabled=False)
    )
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def _key(hub: Hub, tenant: str, agent: str = "agent") -> str:
    if await hub.accounts.get_tenant(tenant) is None:
        await hub.accounts.create_tenant(tenant, plan="enterprise")
    _, token = await hub.accounts.create_key(tenant, agent)
    return token


def _app(hub: Hub, limiter: RateLimiter, *, body_limit: int | None = None) -> FastAPI:
    app = FastAPI()
    app.state.hub = hub
    install_error_handlers(app)
    if body_limit is None:
        install_middleware(
            app, limiter=limiter, authenticate=hub.accounts.authenticate, store=hub.idempotency
        )
    else:
        app.add_middleware(IdempotencyMiddleware, store=hub.idempotency, body_limit=body_limit)
        app.add_middleware(
            RateLimitMiddleware, limiter=limiter, authenticate=hub.accounts.authenticate
        )
    calls: list[bytes] = []
    app.state.calls = calls
    gate, entered = asyncio.Event(), asyncio.Event()
    app.state.gate, app.state.entered = gate, entered

    @app.get("/ping")
    async def ping() -> dict[str, Any]:
        return {"ok": True}

    @app.post("/things", status_code=201)
    async def things(request: Request, caller: CallerDep) -> dict[str, Any]:
        calls.append(await request.body())
        return {"n": len(calls), "tenant": caller.tenant_id}

    @app.post("/slow", status_code=201)
    async def slow(caller: CallerDep) -> dict[str, Any]:
        calls.append(b"slow")
        entered.set()
        await gate.wait()
        return {"n": len(calls)}

    @app.post("/flaky")
    async def flaky(caller: CallerDep) -> dict[str, Any]:
        calls.append(b"flaky")
        if len(calls) == 1:
            raise ServerError("try again")
        return {"n": len(calls)}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://hub")


def _limiter(per_second: int = 100, burst: int = 200, **kw: Any) -> RateLimiter:
    return RateLimiter(per_second=per_second, burst=burst, **kw)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_rate_headers(response: httpx.Response) -> None:
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert name in response.headers, (name, response.status_code, response.headers)
    assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())


# ---------------------------------------------------------------------------- rate limiting


async def test_headers_on_every_response(hub: Hub) -> None:
    token = await _key(hub, "t1")
    async with _client(_app(hub, _limiter(per_second=7))) as client:
        ok = await client.get("/ping")
        unauthorized = await client.post("/things")
        bad_key = await client.post("/things", headers=_auth("ak_live_nope_nope"))
        created = await client.post("/things", headers=_auth(token))
        crashed = await client.get("/crash")
        missing = await client.get("/nowhere")
    assert ok.status_code == 200
    assert unauthorized.status_code == 401
    assert bad_key.status_code == 401
    assert created.status_code == 201
    assert crashed.status_code == 500
    assert crashed.json()["error"]["code"] == "server_error"
    assert missing.status_code == 404
    for response in (ok, unauthorized, bad_key, created, crashed, missing):
        _assert_rate_headers(response)
        assert response.headers["X-RateLimit-Limit"] == "7"


async def test_health_of_the_real_app_has_the_headers(hub: Hub) -> None:
    async with _client(create_app(hub)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    _assert_rate_headers(response)


async def test_burst_over_the_limit_gets_429(hub: Hub) -> None:
    token = await _key(hub, "t1")
    async with _client(_app(hub, _limiter(per_second=2, burst=3))) as client:
        answers = [await client.post("/things", headers=_auth(token)) for _ in range(5)]
    assert [r.status_code for r in answers] == [201, 201, 201, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0", "0"]
    limited = answers[3]
    _assert_rate_headers(limited)
    body = limited.json()["error"]
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    assert 0 < body["retry_after_seconds"] <= 1
    assert limited.headers["Retry-After"] == "1"


async def test_sustained_window_limits_the_average(hub: Hub) -> None:
    token = await _key(hub, "t1")
    # 1/s sustained (10 per 10 s), bursts of 5 per second.
    async with _client(_app(hub, _limiter(per_second=1, burst=5))) as client:
        first = [(await client.get("/ping", headers=_auth(token))).status_code for _ in range(6)]
        await asyncio.sleep(1.05)
        second = [await client.get("/ping", headers=_auth(token)) for _ in range(6)]
    assert first == [200] * 5 + [429]
    assert [r.status_code for r in second] == [200] * 5 + [429]
    # Now the 10 s window binds: the wait is most of it, not a fraction of a second.
    assert second[-1].json()["error"]["retry_after_seconds"] > 5


async def test_tenants_and_anonymous_callers_have_their_own_budgets(hub: Hub) -> None:
    one, two = await _key(hub, "t1"), await _key(hub, "t2")
    other_agent = await _key(hub, "t1", "other-agent")
    async with _client(_app(hub, _limiter(per_second=1, burst=2))) as client:
        assert (await client.get("/ping", headers=_auth(one))).status_code == 200
        # Another key of the same tenant shares the tenant's budget.
        assert (await client.get("/ping", headers=_auth(other_agent))).status_code == 200
        assert (await client.get("/ping", headers=_auth(one))).status_code == 429
        assert (await client.get("/ping", headers=_auth(two))).status_code == 200
        assert (await client.get("/ping")).status_code == 200


async def test_memory_counters_are_per_process(hub: Hub) -> None:
    token = await _key(hub, "t1")
    apps = [_app(hub, _limiter(per_second=1, burst=2)) for _ in range(2)]
    async with _client(apps[0]) as a, _client(apps[1]) as b:
        codes = [(await c.get("/ping", headers=_auth(token))).status_code for c in (a, b, a, b)]
    assert codes == [200, 200, 200, 200]


@needs_redis
async def test_replicas_share_the_budget_through_redis(hub: Hub) -> None:
    token = await _key(hub, "t1")
    prefix = f"artifact-hub-test:{uuid.uuid4().hex}"
    apps = [
        _app(hub, _limiter(per_second=1, burst=4, redis_url=REDIS_URL, key_prefix=prefix))
        for _ in range(2)
    ]
    async with _client(apps[0]) as a, _client(apps[1]) as b:
        answers = [await c.get("/ping", headers=_auth(token)) for c in (a, b, a, b, a, b)]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers[:4]] == ["3", "2", "1", "0"]


@needs_redis
async def test_the_real_app_uses_redis_when_configured(tmp_path: Path) -> None:
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        sweep_enabled=False,
        redis_url=REDIS_URL,
        rate_limit_key_prefix=f"artifact-hub-test:{uuid.uuid4().hex}",
        rate_limit_per_second=1,
        rate_limit_burst=2,
    )
    hubs = [bootstrap(settings), bootstrap(settings)]
    for each in hubs:
        await each.start()
    try:
        async with _client(create_app(hubs[0])) as a, _client(create_app(hubs[1])) as b:
            codes = [(await c.get("/health")).status_code for c in (a, b, a)]
    finally:
        for each in hubs:
            await each.stop()
    assert codes == [200, 200, 429]


async def test_an_unreachable_redis_does_not_take_the_api_down(hub: Hub) -> None:
    limiter = _limiter(redis_url="redis://127.0.0.1:1/0", key_prefix="unreachable")
    async with _client(_app(hub, limiter)) as client:
        response = await client.get("/ping")
    assert response.status_code == 200
    _assert_rate_headers(response)


# ---------------------------------------------------------------------------- idempotency


async def test_a_retry_gets_the_first_response_and_creates_nothing(hub: Hub) -> None:
    token = await _key(hub, "t1")
    app = _app(hub, _limiter())
    headers = {**_auth(token), "Idempotency-Key": "abc-1"}
    async with _client(app) as client:
        first = await client.post("/things", headers=headers, content=b'{"x": 1}')
        again = await client.post("/things", headers=headers, content=b'{"x": 1}')
        fresh = await client.post(
            "/things", headers={**_auth(token), "Idempotency-Key": "abc-2"}, content=b'{"x": 1}'
        )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() == {"n": 1, "tenant": "t1"}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    _assert_rate_headers(again)
    assert fresh.json()["n"] == 2
    assert len(app.state.calls) == 2


async def test_the_same_key_with_another_request_is_a_conflict(hub: Hub) -> None:
    token = await _key(hub, "t1")
    app = _app(hub, _limiter())
    headers = {**_auth(token), "Idempotency-Key": "k"}
    async with _client(app) as client:
        assert (await client.post("/things", headers=headers, content=b"a")).status_code == 201
        other_body = await client.post("/things", headers=headers, content=b"b")
        other_path = await client.post("/things?x=1", headers=headers, content=b"a")
    for response in (other_body, other_path):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict"
    assert len(app.state.calls) == 1


async def test_keys_belong_to_a_tenant(hub: Hub) -> None:
    one, two = await _key(hub, "t1"), await _key(hub, "t2")
    app = _app(hub, _limiter())
    async with _client(app) as client:
        a = await client.post("/things", headers={**_auth(one), "Idempotency-Key": "same"})
        b = await client.post("/things", headers={**_auth(two), "Idempotency-Key": "same"})
    assert a.json() == {"n": 1, "tenant": "t1"}
    assert b.json() == {"n": 2, "tenant": "t2"}


async def test_a_server_error_releases_the_key(hub: Hub) -> None:
    token = await _key(hub, "t1")
    app = _app(hub, _limiter())
    headers = {**_auth(token), "Idempotency-Key": "flaky"}
    async with _client(app) as client:
        failed = await client.post("/flaky", headers=headers)
        retried = await client.post("/flaky", headers=headers)
        replayed = await client.post("/flaky", headers=headers)
    assert failed.status_code == 500
    assert retried.status_code == 200
    assert replayed.json() == retried.json() == {"n": 2}
    assert len(app.state.calls) == 2


async def test_a_concurrent_duplicate_gets_409_while_the_first_runs(hub: Hub) -> None:
    token = await _key(hub, "t1")
    app = _app(hub, _limiter())
    headers = {**_auth(token), "Idempotency-Key": "slow"}
    async with _client(app) as client:
        first = asyncio.create_task(client.post("/slow", headers=headers))
        await asyncio.wait_for(app.state.entered.wait(), 5)
        duplicate = await client.post("/slow", headers=headers)
        app.state.gate.set()
        done = await first
        after = await client.post("/slow", headers=headers)
    assert duplicate.status_code == 409
    assert "in progress" in duplicate.json()["error"]["message"]
    assert done.status_code == after.status_code == 201
    assert after.json() == done.json()
    assert len(app.state.calls) == 1


async def test_bodies_over_the_limit_run_without_idempotency(hub: Hub) -> None:
    token = await _key(hub, "t1")
    app = _app(hub, _limiter(), body_limit=16)
    headers = {**_auth(token), "Idempotency-Key": "big"}
    body = b"x" * 100
    async with _client(app) as client:
        first = await client.post("/things", headers=headers, content=body)
        second = await client.post("/things", headers=headers, content=body)
    assert (first.json()["n"], second.json()["n"]) == (1, 2)
    assert app.state.calls == [body, body]


async def test_keys_expire_after_a_day(hub: Hub) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    assert await hub.idempotency.begin("t1", "old", "a" * 64, now=now - timedelta(hours=25)) is None
    await hub.idempotency.complete("t1", "old", 201, "{}")
    assert await hub.idempotency.begin("t1", "new", "b" * 64, now=now) is None
    # Past its lifetime, a key is free again even before the sweeper drops it.
    assert await hub.idempotency.begin("t1", "old", "c" * 64, now=now) is None
    await hub.idempotency.release("t1", "old")
    assert await hub.idempotency.begin("t1", "old2", "d" * 64, now=now - timedelta(days=2)) is None
    assert await hub.idempotency.purge(now=now) == 1
