"""The service layer's use cases on both real stacks (SQLite + folder, PostgreSQL + S3)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from sqlalchemy import func, select

from artifact_hub.adapters.index import ArtifactFilter
from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.storage.local import LocalBlobStore
from artifact_hub.core.errors import (
    ArtifactDeletedError,
    ArtifactExpiredError,
    ArtifactNotFoundError,
    ChecksumMismatchError,
    ConflictError,
    FileTooLargeError,
    InvalidRequestError,
    PermissionDeniedError,
    SessionSealedError,
    VersionNotFoundError,
)
from artifact_hub.plugin import Hub
from artifact_hub.schemas import Caller

ALICE = Caller(tenant_id="t1", agent_id="alice", groups=("ml",))
BOB = Caller(tenant_id="t1", agent_id="bob", groups=("data",))
CAROL = Caller(tenant_id="t1", agent_id="carol", groups=("ml",))
EVE = Caller(tenant_id="t2", agent_id="alice")


async def stream(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def count(hub: Hub, table: t.Table) -> int:
    async with hub.db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_push_from_bytes_path_file_and_stream(hub: Hub, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "report.bin"
    path.write_bytes(data)
    pushed = [
        await hub.service.push(ALICE, data, name="a.bin", session_id="s1", metadata={"model": "m"}),
        await hub.service.push(ALICE, path),
        await hub.service.push(ALICE, io.BytesIO(data), name="c.bin"),
        await hub.service.push(ALICE, stream(data), name="d.bin", content_type="application/x-bin"),
    ]
    digest = hashlib.sha256(data).hexdigest()
    assert {a.sha256 for a in pushed} == {digest}
    assert all(a.size_bytes == len(data) for a in pushed)
    assert pushed[1].name == "report.bin"
    assert pushed[0].metadata == {"model": "m"} and pushed[0].session_id == "s1"
    assert len({a.id for a in pushed}) == 4
    assert await hub.blobs.stat(digest) == len(data)  # stored once
    for artifact in pushed:
        assert await hub.service.pull_bytes(ALICE, artifact.id) == data
    out = await hub.service.pull_to(ALICE, pushed[0].id, tmp_path / "out")
    (tmp_path / "out2").mkdir()
    named = await hub.service.pull_to(ALICE, pushed[0].id, tmp_path / "out2")
    assert out.read_bytes() == data and named.name == "a.bin"


async def test_versions_are_kept_and_pulled_by_number(hub: Hub) -> None:
    artifact = await hub.service.push(ALICE, b"v1", name="model.pt", metadata={"v": "1"})
    second = await hub.service.add_version(ALICE, artifact.id, b"v2", metadata={"v": "2"})
    third = await hub.service.add_version(ALICE, artifact.id, b"v3")
    assert (second.version, third.version) == (2, 3)
    assert third.metadata == {"v": "2"}
    assert [await hub.service.pull_bytes(ALICE, artifact.id, v) for v in (1, 2, 3)] == [
        b"v1",
        b"v2",
        b"v3",
    ]
    assert await hub.service.pull_bytes(ALICE, artifact.id) == b"v3"
    await hub.service.delete_version(ALICE, artifact.id, 1)
    assert [v.version for v in await hub.service.versions(ALICE, artifact.id)] == [2, 3]
    with pytest.raises(ArtifactDeletedError):
        await hub.service.pull_bytes(ALICE, artifact.id, 1)
    with pytest.raises(VersionNotFoundError):
        await hub.service.pull_bytes(ALICE, artifact.id, 7)
    with pytest.raises(ConflictError):
        await hub.service.delete_version(ALICE, artifact.id, 3)


async def test_concurrent_versions_all_land_in_sequence(hub: Hub) -> None:
    artifact = await hub.service.push(ALICE, b"base", name="race")
    await asyncio.gather(
        *(hub.service.add_version(ALICE, artifact.id, bytes([n])) for n in range(8))
    )
    versions = await hub.service.versions(ALICE, artifact.id)
    assert [v.version for v in versions] == list(range(1, 10))
    contents = [await hub.service.pull_bytes(ALICE, artifact.id, v.version) for v in versions[1:]]
    assert sorted(contents) == [bytes([n]) for n in range(8)]


async def test_sealed_session_refuses_writes(hub: Hub) -> None:
    artifact = await hub.service.push(ALICE, b"x", session_id="run_q4")
    session = await hub.service.seal_session(ALICE, "run_q4")
    assert session.sealed
    assert (await hub.service.seal_session(ALICE, "run_q4")).sealed_at == session.sealed_at
    with pytest.raises(SessionSealedError) as error:
        await hub.service.push(ALICE, b"y", session_id="run_q4")
    assert error.value.code == "session_sealed"
    with pytest.raises(SessionSealedError):
        await hub.service.add_version(ALICE, artifact.id, b"z")
    with pytest.raises(SessionSealedError):  # a delete is a write too (issue 12)
        await hub.service.delete(ALICE, artifact.id)
    # Sealing is per tenant: another tenant's session of the same name is open.
    await hub.service.push(EVE, b"y", session_id="run_q4")


async def test_delete_is_soft_and_answers_410(hub: Hub) -> None:
    artifact = await hub.service.push(ALICE, b"x")
    deleted = await hub.service.delete(ALICE, artifact.id)
    assert deleted.deleted_at is not None
    with pytest.raises(ArtifactDeletedError) as error:
        await hub.service.get(ALICE, artifact.id)
    assert error.value.code == "artifact_already_deleted" and error.value.status == 410
    with pytest.raises(ArtifactDeletedError):
        await hub.service.delete(ALICE, artifact.id)
    assert (await hub.service.list(ALICE)).items == []
    assert len((await hub.service.list(ALICE, ArtifactFilter(include_deleted=True))).items) == 1


async def test_sharing_controls_who_reads(hub: Hub) -> None:
    artifact = await hub.service.push(ALICE, b"secret", name="s.txt")
    for outsider in (BOB, CAROL, EVE):
        with pytest.raises(ArtifactNotFoundError):
            await hub.service.get(outsider, artifact.id)
        with pytest.raises(ArtifactNotFoundError):
            await hub.service.pull_bytes(outsider, artifact.id)
    access = await hub.service.share(ALICE, artifact.id, agents=["bob"], groups=["ml"])
    assert (access.agents, access.groups) == (["bob"], ["ml"])
    assert await hub.service.pull_bytes(BOB, artifact.id) == b"secret"
    assert await hub.service.pull_bytes(CAROL, artifact.id) == b"secret"
    with pytest.raises(ArtifactNotFoundError):
        await hub.service.get(EVE, artifact.id)  # grants never cross tenants
    with pytest.raises(PermissionDeniedError):
        await hub.service.delete(BOB, artifact.id)  # shared means read-only
    shared = await hub.service.list(BOB, ArtifactFilter(shared_only=True))
    assert [a.id for a in shared.items] == [artifact.id]
    await hub.service.unshare(ALICE, artifact.id, agents=["bob"])
    with pytest.raises(ArtifactNotFoundError):
        await hub.service.get(BOB, artifact.id)
    assert await hub.service.pull_bytes(CAROL, artifact.id) == b"secret"
    with pytest.raises(InvalidRequestError):
        await hub.service.share(ALICE, artifact.id)


async def test_pin_update_and_ttl(hub: Hub) -> None:
    artifact = await hub.service.push(ALICE, b"x", ttl=timedelta(hours=1), labels={"a": 1})
    assert artifact.expires_at is not None
    assert (await hub.service.pin(ALICE, artifact.id)).pinned
    assert not (await hub.service.pin(ALICE, artifact.id, False)).pinned
    updated = await hub.service.update(
        ALICE, artifact.id, labels={"b": 2}, tags=["t"], metrics={"acc": 0.9}
    )
    assert (updated.labels, updated.tags, updated.metrics) == ({"b": 2}, ["t"], {"acc": 0.9})
    assert [
        a.id for a in (await hub.service.list(ALICE, ArtifactFilter(labels={"b": 2}))).items
    ] == [artifact.id]
    never = await hub.service.extend_ttl(ALICE, artifact.id, "never")
    assert never.expires_at is None


async def test_expired_artifacts_read_as_410_until_extended(hub: Hub) -> None:
    artifact = await hub.service.push(ALICE, b"x", ttl=0.2)
    await asyncio.sleep(0.4)
    with pytest.raises(ArtifactExpiredError) as error:
        await hub.service.get(ALICE, artifact.id)
    assert error.value.code == "artifact_expired"
    assert (await hub.service.list(ALICE)).items == []
    extended = await hub.service.extend_ttl(ALICE, artifact.id, 3600)
    assert await hub.service.pull_bytes(ALICE, extended.id) == b"x"


async def test_corrupted_blob_fails_pull_with_checksum_mismatch(hub: Hub, tmp_path: Path) -> None:
    artifact = await hub.service.push(ALICE, b"original bytes", name="c.txt")
    digest = artifact.sha256
    assert digest is not None
    if isinstance(hub.blobs, LocalBlobStore):
        path = hub.blobs.path_for(digest)
        path.chmod(0o644)
        path.write_bytes(b"Original bytes")  # one byte changed, same length
    else:
        s = hub.settings
        boto3.client(
            "s3",
            endpoint_url=s.s3_endpoint_url,
            region_name=s.s3_region,
            aws_access_key_id=s.s3_access_key_id,
            aws_secret_access_key=s.s3_secret_access_key,
        ).put_object(Bucket=s.s3_bucket, Key=hub.blobs.key_for(digest), Body=b"Original bytes")  # type: ignore[attr-defined]
    with pytest.raises(ChecksumMismatchError) as error:
        await hub.service.pull_bytes(ALICE, artifact.id)
    assert error.value.code == "checksum_mismatch"
    target = tmp_path / "never.txt"
    with pytest.raises(ChecksumMismatchError):
        await hub.service.pull_to(ALICE, artifact.id, target)
    assert not target.exists() and list(tmp_path.glob(".artifact-hub-*")) == []


async def test_interrupted_push_leaves_nothing_visible(hub: Hub) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(2_000_000)
        raise ConnectionResetError("client went away half-way")

    before = {
        name: await count(hub, table) for name, table in (("a", t.artifacts), ("o", t.outbox))
    }
    with pytest.raises(ConnectionResetError):
        await hub.service.push(ALICE, broken(), name="half.bin")
    with pytest.raises(FileTooLargeError):
        await hub.service.push(ALICE, os.urandom(5000), max_size=4096)
    with pytest.raises(ChecksumMismatchError):
        await hub.service.push(ALICE, b"abc", expected_sha256="0" * 64)
    after = {name: await count(hub, table) for name, table in (("a", t.artifacts), ("o", t.outbox))}
    assert after == before
    assert (await hub.service.list(ALICE)).items == []
    if isinstance(hub.blobs, LocalBlobStore):
        assert list((hub.blobs.root / "blobs").rglob("*")) == []
        assert list((hub.blobs.root / "tmp").iterdir()) == []


async def test_every_change_is_one_event_in_the_outbox(hub: Hub) -> None:
    artifact = await hub.service.push(ALICE, b"1", session_id="s")
    await hub.service.add_version(ALICE, artifact.id, b"2")
    await hub.service.share(ALICE, artifact.id, agents=["bob"])
    await hub.service.unshare(ALICE, artifact.id, agents=["bob"])
    await hub.service.pin(ALICE, artifact.id)
    await hub.service.extend_ttl(ALICE, artifact.id, 60)
    await hub.service.delete_version(ALICE, artifact.id, 1)
    await hub.service.delete(ALICE, artifact.id)  # before the seal: it refuses deletes too
    await hub.service.seal_session(ALICE, "s")
    async with hub.db.connect() as conn:
        types = (
            (await conn.execute(select(t.outbox.c.event_type).order_by(t.outbox.c.id)))
            .scalars()
            .all()
        )
    assert types == [
        "artifact.created",
        "artifact.versioned",
        "artifact.shared",
        "artifact.shared",
        "artifact.updated",
        "artifact.updated",
        "artifact.deleted",
        "artifact.deleted",
        "session.sealed",
    ]
    await hub.relay.drain()
    assert hub.consumer is None or hub.consumer.stats.duplicate == 9  # in-process: already applied
