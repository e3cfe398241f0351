"""Idempotency keys across replicas: a claim left by a dead replica, taken over by the retry.

On SQLite and PostgreSQL: a key in progress answers 409 with ``retry_after_seconds``; once
``stale_after`` old and never applied, a retry takes it over and the first attempt can no
longer commit (its write fence fails in the write's own transaction); a claim whose write
committed is never taken over, and through the API its retry gets the artifact rebuilt
instead of a second push. The distributed scenarios (tests/distributed/test_api_faults.py)
kill real replicas; these pin each step down.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from artifact_hub.api import create_app
from artifact_hub.core.errors import ConflictError, IdempotencyInProgressError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.ports.transactions import WRITE_FENCE
from artifact_hub.service.idempotency import Applied

SHA = "a" * 64


@pytest.fixture(params=["sqlite", "postgres"])
async def hub(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Hub]:
    database_url = None
    name = None
    if request.param == "postgres":
        server: Any = request.getfixturevalue("postgres_server")
        name = server.create_database()
        database_url = server.url(name)
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        database_url=database_url,
        default_ttl_seconds=None,
        sweep_enabled=False,
        idempotency_stale_seconds=10,
    )
    instance = bootstrap(settings)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()
        if name is not None:
            server.drop_database(name)


async def _fenced_write(hub: Hub, key: str, claimed_at: datetime) -> None:
    """A write of the request that claimed ``key`` at ``claimed_at`` (as the middleware runs)."""
    token = WRITE_FENCE.set(hub.idempotency.fence("t1", key, claimed_at))
    try:
        await hub.db.write(lambda conn: conn.execute(text("SELECT 1")))
    finally:
        WRITE_FENCE.reset(token)


async def test_in_progress_says_when_to_retry(hub: Hub) -> None:
    now = datetime.now(UTC)
    assert await hub.idempotency.begin("t1", "k", SHA, now=now) is None
    with pytest.raises(IdempotencyInProgressError) as info:
        await hub.idempotency.begin("t1", "k", SHA, now=now + timedelta(seconds=3))
    assert info.value.retry_after_seconds == pytest.approx(7, abs=0.2)
    assert info.value.to_dict()["error"]["retry_after_seconds"] == info.value.retry_after_seconds


async def test_a_stale_claim_is_taken_over_and_its_first_attempt_cannot_commit(hub: Hub) -> None:
    first = datetime.now(UTC) - timedelta(seconds=30)
    assert await hub.idempotency.begin("t1", "k", SHA, now=first) is None
    retry = datetime.now(UTC)
    assert await hub.idempotency.begin("t1", "k", SHA, now=retry) is None  # taken over
    with pytest.raises(ConflictError, match="took the request over"):
        await _fenced_write(hub, "k", first)  # the first attempt, late: refused
    await _fenced_write(hub, "k", retry)  # the retry's write commits
    # The first attempt's clean-up must not free the retry's claim.
    await hub.idempotency.release("t1", "k", first)
    later = retry + timedelta(minutes=5)
    assert await hub.idempotency.begin("t1", "k", SHA, now=later) == Applied(None)


async def test_an_applied_claim_is_never_taken_over(hub: Hub) -> None:
    first = datetime.now(UTC) - timedelta(minutes=5)
    assert await hub.idempotency.begin("t1", "k", SHA, now=first) is None
    await _fenced_write(hub, "k", first)  # committed; the replica died before answering
    assert await hub.idempotency.begin("t1", "k", SHA, now=datetime.now(UTC)) == Applied(None)
    # Its own late writes (work it left behind after completing the key) still commit.
    await hub.idempotency.complete("t1", "k", 201, "{}", first)
    await _fenced_write(hub, "k", first)


async def test_a_push_applied_without_an_answer_is_answered_not_pushed_again(hub: Hub) -> None:
    await hub.accounts.create_tenant("t1")
    _, token = await hub.accounts.create_key("t1", "agent")
    auth = {"Authorization": f"Bearer {token}"}
    # A fixed multipart boundary: a retry sends the very same bytes, as the SDK does.
    headers = {
        **auth,
        "Idempotency-Key": "push-1",
        "Content-Type": "multipart/form-data; boundary=B0undary",
    }
    body = (
        b'--B0undary\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--B0undary--\r\n"
    )
    transport = httpx.ASGITransport(app=create_app(hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        first = await client.post("/v1/artifacts", headers=headers, content=body)
        assert first.status_code == 201, first.text
        artifact_id = first.json()["artifact_id"]
        # What a replica that died between its commit and its answer leaves behind.
        async with hub.db.begin() as conn:
            await conn.execute(
                text("UPDATE idempotency_keys SET status = NULL, body = :m WHERE key = 'push-1'"),
                {"m": json.dumps({"applied": True, "artifact_id": artifact_id})},
            )
        retried = await client.post("/v1/artifacts", headers=headers, content=body)
        again = await client.post("/v1/artifacts", headers=headers, content=body)
        listed = await client.get("/v1/artifacts", headers=auth)
    assert retried.status_code == 201, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json()["artifact_id"] == artifact_id
    assert again.json() == retried.json()  # kept for the next retry
    assert [a["artifact_id"] for a in listed.json()["data"]] == [artifact_id]
