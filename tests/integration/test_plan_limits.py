"""Plan limits in the service: file size, storage quota, TTL, metadata; on both stacks."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from artifact_hub.core.errors import (
    FileTooLargeError,
    InvalidRequestError,
    QuotaExceededError,
    TTLExceedsPlanLimitError,
)
from artifact_hub.plugin import Hub
from artifact_hub.schemas import Caller
from artifact_hub.service.plans import PLANS, Plan, PlanLimits

FREE = Caller(tenant_id="t-free", agent_id="a", plan="free")
PRO = Caller(tenant_id="t-pro", agent_id="a", plan="pro")


def _tiny(hub: Hub) -> None:
    """Plans small enough to test: free 10 bytes per file, 25 bytes in all."""
    hub.service.limits = PlanLimits(
        {
            **PLANS,
            "free": Plan("free", 10, 25, max_ttl=timedelta(days=30), allow_never=False),
        }
    )


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 4):
        yield data[start : start + 4]


async def test_file_size_is_the_plans_or_the_paths_limit(hub: Hub) -> None:
    _tiny(hub)
    with pytest.raises(FileTooLargeError):
        await hub.service.push(FREE, b"x" * 11)
    with pytest.raises(FileTooLargeError):  # size unknown up front: stopped while streaming
        await hub.service.push(FREE, _stream(b"x" * 11))
    with pytest.raises(FileTooLargeError):  # the upload path's limit is lower
        await hub.service.push(FREE, b"x" * 6, max_size=5)
    with pytest.raises(FileTooLargeError):  # a seekable file object is measured up front
        await hub.service.push(FREE, io.BytesIO(b"z" * 11))
    artifact = await hub.service.push(FREE, io.BytesIO(b"x" * 10))
    with pytest.raises(FileTooLargeError):
        await hub.service.add_version(FREE, artifact.id, b"y" * 11)
    assert (await hub.service.push(PRO, b"x" * 11)).size_bytes == 11


async def test_storage_quota_counts_live_versions(hub: Hub) -> None:
    _tiny(hub)
    first = await hub.service.push(FREE, b"a" * 10)
    await hub.service.add_version(FREE, first.id, b"b" * 10)
    with pytest.raises(QuotaExceededError) as known:
        await hub.service.push(FREE, b"c" * 6)
    assert known.value.code == "quota_exceeded" and known.value.status == 403
    # Unknown size: checked after the stream; the new bytes are not kept.
    with pytest.raises(QuotaExceededError):
        await hub.service.push(FREE, _stream(b"d" * 6))
    assert not await hub.blobs.exists(_sha(b"d" * 6))
    assert not await hub.blobs.exists(_sha(b"c" * 6))
    assert (await hub.service.push(FREE, b"e" * 5)).size_bytes == 5
    # Deleting frees the quota; other tenants are not affected.
    await hub.service.delete(FREE, first.id)
    assert (await hub.service.push(FREE, _stream(b"f" * 10))).size_bytes == 10
    other = FREE.model_copy(update={"tenant_id": "t-free-2"})
    assert (await hub.service.push(other, b"g" * 10)).size_bytes == 10


async def test_a_failed_quota_check_keeps_a_blob_others_use(hub: Hub) -> None:
    _tiny(hub)
    await hub.service.push(PRO, b"shared!" * 3)
    await hub.service.push(FREE, b"x" * 10)
    await hub.service.push(FREE, b"y" * 10)
    with pytest.raises(QuotaExceededError):
        await hub.service.push(FREE, _stream(b"shared!"))
    assert await hub.blobs.exists(_sha(b"shared!" * 3))


async def test_ttl_within_the_plan(hub: Hub) -> None:
    with pytest.raises(TTLExceedsPlanLimitError) as never:
        await hub.service.push(FREE, b"x", ttl="never")
    assert never.value.code == "ttl_exceeds_plan_limit" and never.value.status == 400
    with pytest.raises(TTLExceedsPlanLimitError):
        await hub.service.push(FREE, b"x", ttl=timedelta(days=31))
    # The hub's default (here: never) is shortened to the plan's 30 days.
    default = await hub.service.push(FREE, b"x")
    assert default.expires_at is not None
    assert default.expires_at - datetime.now(UTC) <= timedelta(days=30)
    assert default.expires_at - datetime.now(UTC) > timedelta(days=29)
    short = await hub.service.push(FREE, b"x", ttl=3600)
    with pytest.raises(TTLExceedsPlanLimitError):
        await hub.service.extend_ttl(FREE, short.id, "never")
    assert (await hub.service.extend_ttl(FREE, short.id, 7200)).expires_at is not None
    forever = await hub.service.push(PRO, b"x", ttl="never")
    assert forever.expires_at is None
    assert (await hub.service.push(PRO, b"x", ttl=timedelta(days=400))).expires_at is not None


async def test_metadata_limits(hub: Hub) -> None:
    with pytest.raises(InvalidRequestError, match="must match"):
        await hub.service.push(PRO, b"x", metadata={"1bad": 1})
    with pytest.raises(InvalidRequestError, match="8192"):
        await hub.service.push(PRO, b"x", metadata={"big": "x" * 8200})
    with pytest.raises(InvalidRequestError, match="JSON object"):
        await hub.service.push(PRO, b"x", metadata=["a"])  # type: ignore[arg-type]
    artifact = await hub.service.push(PRO, b"x", metadata={"ok": "x" * 8000})
    with pytest.raises(InvalidRequestError):
        await hub.service.update(PRO, artifact.id, metadata={"bad key": 1})
    with pytest.raises(InvalidRequestError):
        await hub.service.add_version(PRO, artifact.id, b"y", metadata={"big": "x" * 9000})


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
