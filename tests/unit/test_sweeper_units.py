"""The sweeper on its ports alone: no hub, no database, fakes behind every constructor argument."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from artifact_hub.adapters.storage.memory import MemoryBlobStore
from artifact_hub.core.errors import ArtifactHubError
from artifact_hub.core.settings import HubSettings
from artifact_hub.ports.blobs import StoredBlob
from artifact_hub.service.sweeper import Sweeper, UploadSweep

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeDb:
    dialect = "sqlite"

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[str]:
        yield "conn"

    begin = connect

    async def write(self, work: Any, *, after: Any = None) -> Any:
        return await work("conn")


class FakeSweepStore:
    def __init__(self, expiring: list[tuple[str, str]], used: set[str]) -> None:
        self.expiring = expiring
        self.used = used
        self.pages: list[tuple[str, int]] = []

    async def due_for_expiry(
        self, conn: Any, now: datetime, *, after: str, limit: int
    ) -> list[tuple[str, str]]:
        self.pages.append((after, limit))
        return [row for row in self.expiring if row[1] > after][:limit]

    async def due_for_purge(
        self, conn: Any, cutoff: datetime, *, after: str, limit: int
    ) -> list[tuple[str, str]]:
        return []

    async def has_artifacts(self, conn: Any) -> bool:
        return True

    async def blobs_in_use(self, conn: Any, sha256s: Sequence[str]) -> set[str]:
        return self.used & set(sha256s)


class FakeArtifacts:
    def __init__(self, blobs: MemoryBlobStore) -> None:
        self.blobs = blobs
        self.expired: list[str] = []

    async def expire(self, tenant_id: str, artifact_id: str, *, now: datetime) -> bool:
        self.expired.append(artifact_id)
        return True

    async def purge(self, tenant_id: str, artifact_id: str, *, now: datetime) -> list[str]:
        return []

    async def collect_blob(self, sha256: str) -> bool:
        await self.blobs.delete(sha256)
        return True


class FakeKeys:
    async def purge(self, *, now: datetime | None = None) -> int:
        return 2


class OldBlobs(MemoryBlobStore):
    """Lists its blobs as written long ago, so they are past any orphan grace."""

    async def list_blobs(self) -> AsyncIterator[StoredBlob]:
        for sha256, data in self.blobs.items():
            yield StoredBlob(sha256=sha256, size=len(data), modified=NOW - timedelta(days=30))


def no_uploads() -> UploadSweep:
    raise ArtifactHubError("no signing secret")


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_pass_runs_on_the_ports_it_was_given(tmp_path: Path) -> None:
    blobs = OldBlobs()
    kept = await blobs.put(stream(b"kept"))
    orphan = await blobs.put(stream(b"orphan"))
    store = FakeSweepStore([("t1", f"a{i:04d}") for i in range(501)], used={kept.sha256})
    artifacts = FakeArtifacts(blobs)
    sweeper = Sweeper(
        HubSettings(data_dir=tmp_path),
        db=FakeDb(),
        store=store,
        blobs=blobs,
        artifacts=artifacts,
        idempotency=FakeKeys(),
        uploads=no_uploads,  # no signing secret: the uploads' sweep is skipped, not fatal
    )

    report = await sweeper.run_once(now=NOW, orphans=True)

    assert report.expired == 501
    assert store.pages == [("", 500), ("a0499", 500)]  # keyset batches by artifact id
    assert report.idempotency_keys_dropped == 2
    assert report.uploads_removed == 0
    assert report.orphan_blobs_removed == 1
    assert report.orphan_bytes_removed == len(b"orphan")
    assert await blobs.exists(kept.sha256)
    assert not await blobs.exists(orphan.sha256)
    assert orphan.sha256 == hashlib.sha256(b"orphan").hexdigest()
