"""A hub's shutdown always ends, even when one of its parts never stops."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from artifact_hub.adapters.storage.memory import MemoryBlobStore
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import bootstrap


class StuckBlobStore(MemoryBlobStore):
    """A store whose close never returns, and shrugs off the first cancellation too."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = asyncio.Event()

    async def close(self) -> None:
        self.closing.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(3600)  # stuck in its own clean-up


async def test_a_step_that_never_stops_is_abandoned_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blobs = StuckBlobStore()
    hub = bootstrap(HubSettings(data_dir=tmp_path / "hub", sweep_enabled=False), blobs=blobs)
    await hub.start()
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="artifact_hub.plugin.hub"):
        await asyncio.wait_for(hub.stop(step_timeout=0.5), 30)
    assert blobs.closing.is_set()
    assert time.monotonic() - started < 10
    assert "blob store did not stop within" in caplog.text
    assert "in close" in caplog.text  # with the stack of where it was stuck
    # The steps after it ran: the database is disposed (a new connection would be a new pool).
    assert hub.db.engine.pool.checkedout() == 0
