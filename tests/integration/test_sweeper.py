"""The sweeper on both stacks, with time passed in (``run_once(now=...)``)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from artifact_hub.adapters.index import tables as t
from artifact_hub.core.errors import ArtifactExpiredError, ArtifactNotFoundError
from artifact_hub.plugin import Hub
from artifact_hub.schemas import Caller

ME = Caller(tenant_id="t1", agent_id="a")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _events(hub: Hub, artifact_id: str) -> list[str]:
    async with hub.db.connect() as conn:
        rows = (
            await conn.execute(
                select(t.outbox.c.event_type, t.outbox.c.payload)
                .where(t.outbox.c.key == artifact_id)
                .order_by(t.outbox.c.id)
            )
        ).all()
    return [row.event_type + (" purged" if '"purged":true' in row.payload else "") for row in rows]


async def test_expired_artifacts_get_one_event(hub: Hub) -> None:
    now = datetime.now(UTC)
    short = await hub.service.push(ME, b"short", ttl=60)
    pinned = await hub.service.push(ME, b"pinned", ttl=60, pinned=True)
    forever = await hub.service.push(ME, b"forever", ttl="never")
    later = await hub.service.push(ME, b"later", ttl=3600)
    deleted = await hub.service.push(ME, b"deleted", ttl=60)
    await hub.service.delete(ME, deleted.id)

    assert (await hub.sweeper.run_once(now=now)).expired == 0
    report = await hub.sweeper.run_once(now=now + timedelta(minutes=2))
    assert report.expired == 1
    assert (await hub.sweeper.run_once(now=now + timedelta(minutes=3))).expired == 0
    assert await _events(hub, short.id) == ["artifact.created", "artifact.expired"]
    for other in (pinned, forever, later, deleted):
        assert "artifact.expired" not in await _events(hub, other.id)
    # Pinned artifacts do not expire, on reads either (the TTL has not passed for real yet,
    # so only the sweeper's record makes `short` unreadable here).
    listed = {a.id for a in (await hub.service.list(ME)).items}
    assert short.id not in listed
    assert {pinned.id, forever.id, later.id} <= listed


async def test_pinned_artifacts_outlive_their_ttl_on_reads(hub: Hub) -> None:
    artifact = await hub.service.push(ME, b"x", ttl=0.05, pinned=True)
    await asyncio.sleep(0.1)
    assert (await hub.service.get(ME, artifact.id)).pinned
    assert artifact.id in {a.id for a in (await hub.service.list(ME)).items}
    # Unpinned, the passed TTL applies again (pin answers with the now expired artifact).
    with pytest.raises(ArtifactExpiredError):
        await hub.service.pin(ME, artifact.id, False)
    with pytest.raises(ArtifactExpiredError):
        await hub.service.get(ME, artifact.id)


async def test_deleted_artifacts_are_purged_after_retention_and_blobs_collected(hub: Hub) -> None:
    now = datetime.now(UTC)
    doomed = await hub.service.push(ME, b"doomed v1")
    await hub.service.add_version(ME, doomed.id, b"shared bytes")
    keeper = await hub.service.push(ME, b"shared bytes")
    await hub.service.delete(ME, doomed.id)

    early = await hub.sweeper.run_once(now=now + timedelta(days=29))
    assert early.purged == 0
    assert await hub.blobs.exists(_sha(b"doomed v1"))

    report = await hub.sweeper.run_once(now=now + timedelta(days=31))
    assert (report.purged, report.blobs_removed) == (1, 1)
    assert not await hub.blobs.exists(_sha(b"doomed v1"))
    assert await hub.blobs.exists(_sha(b"shared bytes"))  # the keeper still points at it
    assert await hub.service.pull_bytes(ME, keeper.id) == b"shared bytes"
    assert await _events(hub, doomed.id) == [
        "artifact.created",
        "artifact.versioned",
        "artifact.deleted",
        "artifact.deleted purged",
    ]
    with pytest.raises(ArtifactNotFoundError):
        await hub.service.get(ME, doomed.id, include_deleted=True)
    again = await hub.sweeper.run_once(now=now + timedelta(days=32))
    assert again.purged == 0

    await hub.service.delete(ME, keeper.id)
    final = await hub.sweeper.run_once(now=now + timedelta(days=62))
    assert (final.purged, final.blobs_removed) == (1, 1)
    assert not await hub.blobs.exists(_sha(b"shared bytes"))


async def test_expired_artifacts_are_purged_after_retention(hub: Hub) -> None:
    now = datetime.now(UTC)
    artifact = await hub.service.push(ME, b"ephemeral", ttl=60)
    await hub.sweeper.run_once(now=now + timedelta(minutes=2))
    assert (await hub.sweeper.run_once(now=now + timedelta(days=29))).purged == 0
    report = await hub.sweeper.run_once(now=now + timedelta(days=31))
    assert (report.purged, report.blobs_removed) == (1, 1)
    assert await _events(hub, artifact.id) == [
        "artifact.created",
        "artifact.expired",
        "artifact.deleted purged",
    ]


async def test_old_idempotency_keys_are_dropped(hub: Hub) -> None:
    now = datetime.now(UTC)
    await hub.idempotency.begin("t1", "old", "a" * 64, now=now - timedelta(hours=25))
    await hub.idempotency.begin("t1", "new", "b" * 64, now=now - timedelta(hours=1))
    report = await hub.sweeper.run_once(now=now)
    assert report.idempotency_keys_dropped == 1
    async with hub.db.connect() as conn:
        keys = (await conn.execute(select(t.idempotency_keys.c.key))).scalars().all()
    assert keys == ["new"]


async def test_the_background_loop_sweeps(hub: Hub) -> None:
    await hub.sweeper.stop()  # the hub's own loop waits the default 60 s
    hub.settings.sweep_interval_seconds = 0.05
    artifact = await hub.service.push(ME, b"x", ttl=0.3)
    hub.sweeper.start()
    try:
        for _ in range(100):
            if "artifact.expired" in await _events(hub, artifact.id):
                break
            await asyncio.sleep(0.05)
    finally:
        await hub.sweeper.stop()
    assert "artifact.expired" in await _events(hub, artifact.id)
