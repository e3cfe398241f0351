"""The orphan sweep on both stacks: blobs no version references, after the grace period.

Time is passed in (``run_once(now=...)``); the grace is the default (a day), so "now + 2 days"
is past it and "now" is not.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from artifact_hub.adapters.storage.base import remove_stale_spool, spool_to_temp_file
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub
from artifact_hub.ports.blobs import HashingReader
from artifact_hub.schemas import Caller

ME = Caller(tenant_id="t1", agent_id="a")


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_unreferenced_blobs_go_after_the_grace_only(hub: Hub) -> None:
    kept = await hub.service.push(ME, b"referenced bytes", ttl="never")
    orphan = await hub.blobs.put(_chunks(b"bytes of a write killed before its commit"))
    assert orphan.created
    now = datetime.now(UTC)

    early = await hub.sweeper.run_once(now=now, orphans=True)
    assert early.orphan_blobs_removed == 0
    assert await hub.blobs.exists(orphan.sha256)

    late = await hub.sweeper.run_once(now=now + timedelta(days=2), orphans=True)
    assert late.orphan_blobs_removed == 1
    assert late.orphan_bytes_removed >= orphan.size
    assert not await hub.blobs.exists(orphan.sha256)
    assert await hub.blobs.exists(kept.sha256)
    assert await hub.service.pull_bytes(ME, kept.artifact_id) == b"referenced bytes"


async def test_the_background_scan_waits_for_its_interval(hub: Hub) -> None:
    await hub.service.push(ME, b"an index with something in it", ttl="never")
    orphan = await hub.blobs.put(_chunks(b"another orphan"))
    later = datetime.now(UTC) + timedelta(days=2)
    first = await hub.sweeper.run_once(now=later)  # never scanned: due
    assert first.orphan_blobs_removed == 1
    again = await hub.blobs.put(_chunks(b"another orphan"))
    assert again.sha256 == orphan.sha256
    second = await hub.sweeper.run_once(now=later)  # scanned a moment ago: not due
    assert second.orphan_blobs_removed == 0
    assert await hub.blobs.exists(orphan.sha256)


async def test_an_empty_index_collects_no_blob(hub: Hub) -> None:
    """An index with no artifact (being rebuilt, or pointed at another hub's store)."""
    stored = await hub.blobs.put(_chunks(b"someone else's blob"))
    report = await hub.sweeper.run_once(now=datetime.now(UTC) + timedelta(days=2), orphans=True)
    assert report.orphan_blobs_removed == 0
    assert await hub.blobs.exists(stored.sha256)


async def test_a_refused_name_leaves_no_blob(hub: Hub) -> None:
    content = os.urandom(4096)
    with pytest.raises(Exception):  # noqa: B017 - which error is the API's concern
        await hub.service.push(ME, content, name="n" * 1025)
    assert not await hub.blobs.exists(hashlib.sha256(content).hexdigest())


async def test_a_live_writers_spool_file_is_kept(tmp_path: Path) -> None:
    async with spool_to_temp_file(_chunks(b"x" * 1000), tmp_path, HashingReader()) as spooled:
        assert spooled.exists()
        # Another process's cleaner (the lock is per open file, so this one counts too).
        assert remove_stale_spool(tmp_path).count == 0
        assert spooled.exists()
    assert not spooled.exists()
    dead = tmp_path / ".spool-dead.part"
    dead.write_bytes(b"y" * 10)  # nobody holds its lock: its writer is gone
    swept = remove_stale_spool(tmp_path)
    assert (swept.count, swept.bytes) == (1, 10)
    assert not dead.exists()


def test_the_orphan_grace_must_outlive_upload_urls() -> None:
    with pytest.raises(ValueError, match="orphan_grace_seconds"):
        HubSettings(
            upload_url_ttl_seconds=3600,
            upload_complete_grace_seconds=3600,
            orphan_grace_seconds=7200,
        )
    with pytest.raises(ValueError, match="orphan_grace_seconds"):
        HubSettings(
            s3_download_url_max_seconds=900,
            orphan_grace_seconds=600,
            upload_url_ttl_seconds=60,
            upload_complete_grace_seconds=0,
        )
    assert HubSettings(orphan_grace_seconds=7201).orphan_grace_seconds == 7201
