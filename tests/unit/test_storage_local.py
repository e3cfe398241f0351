"""LocalBlobStore details the contract suite does not see: layout, paths, repair."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifact_hub.adapters.storage import LocalBlobStore


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def test_creates_its_folders(tmp_path: Path) -> None:
    LocalBlobStore(tmp_path / "a" / "b")

    assert (tmp_path / "a" / "b" / "blobs").is_dir()
    assert (tmp_path / "a" / "b" / "tmp").is_dir()


async def test_blobs_are_sharded_by_hash(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    info = await store.put(stream(b"hello ", b"world"))

    sha = hashlib.sha256(b"hello world").hexdigest()
    expected = tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    assert store.path_for(info.sha256) == expected
    assert files_under(tmp_path) == [expected]
    assert expected.read_bytes() == b"hello world"


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "/etc/passwd", "..", "ab/../../cd" + "0" * 53, "0" * 63 + "/"]
)
async def test_refuses_path_traversal(tmp_path: Path, bad: str) -> None:
    store = LocalBlobStore(tmp_path / "store")

    with pytest.raises(ValueError):
        store.path_for(bad)
    with pytest.raises(ValueError):
        store.get(bad)
    with pytest.raises(ValueError):
        await store.stat(bad)
    with pytest.raises(ValueError):
        await store.delete(bad)
    assert files_under(tmp_path) == []


async def test_a_damaged_blob_is_repaired_by_the_next_put(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    info = await store.put(stream(b"precious bytes"))
    store.path_for(info.sha256).write_bytes(b"trunc")

    again = await store.put(stream(b"precious bytes"))

    assert again.created is False
    assert store.path_for(info.sha256).read_bytes() == b"precious bytes"
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_concurrent_puts_of_the_same_bytes_store_one_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    data = b"same" * 100_000

    infos = await asyncio.gather(*(store.put(stream(data)) for _ in range(5)))

    assert {info.sha256 for info in infos} == {hashlib.sha256(data).hexdigest()}
    assert any(info.created for info in infos)
    assert files_under(tmp_path) == [store.path_for(infos[0].sha256)]


async def test_a_reader_that_stops_early_releases_the_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    info = await store.put(stream(b"x" * 10_000))

    chunks = store.get(info.sha256, chunk_size=100)
    first = await anext(chunks)
    await chunks.aclose()  # type: ignore[attr-defined]

    assert first == b"x" * 100
    await store.delete(info.sha256)
    assert await store.stat(info.sha256) is None


# ------------------------------------------------------------------------ staged uploads


async def test_stage_then_adopt_links_the_same_inode(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    data = b"staged bytes " * 100_000
    digest = hashlib.sha256(data).hexdigest()
    staged = await store.stage("upl_a", stream(data[:7], data[7:]), max_size=len(data))
    assert (staged.size, staged.sha256) == (len(data), digest)
    assert await store.staged("upl_a") == staged
    staged_file = tmp_path / "staged" / "upl_a" / digest
    inode = staged_file.stat().st_ino
    assert files_under(tmp_path / "tmp") == []

    info = await store.adopt("upl_a", expected_sha256=digest, expected_size=len(data))
    assert (info.sha256, info.size, info.created) == (digest, len(data), True)
    assert store.path_for(digest).stat().st_ino == inode
    assert await store.staged("upl_a") is not None  # kept until discarded
    await store.discard_staged("upl_a")
    assert await store.staged("upl_a") is None
    assert files_under(tmp_path / "staged") == files_under(tmp_path / "tmp") == []
    assert store.path_for(digest).read_bytes() == data

    # The same bytes again: the blob there is kept.
    await store.stage("upl_b", stream(data))
    assert (await store.adopt("upl_b")).created is False


async def test_adopt_checks_size_and_hash(tmp_path: Path) -> None:
    from artifact_hub.core.errors import ChecksumMismatchError
    from artifact_hub.ports.blobs import BlobNotFoundError

    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobNotFoundError):
        await store.adopt("upl_none")
    await store.stage("upl_c", stream(b"abc"))
    with pytest.raises(ChecksumMismatchError):
        await store.adopt("upl_c", expected_sha256="0" * 64)
    with pytest.raises(ChecksumMismatchError):
        await store.adopt("upl_c", expected_size=4)
    assert files_under(tmp_path / "blobs") == []
    with pytest.raises(ValueError, match="staging name"):
        await store.stage("../x", stream(b"abc"))


async def test_a_failed_stage_leaves_nothing_and_keeps_the_earlier_bytes(tmp_path: Path) -> None:
    from artifact_hub.core.errors import FileTooLargeError

    store = LocalBlobStore(tmp_path)
    first = await store.stage("upl_d", stream(b"first"))

    async def broken() -> AsyncIterator[bytes]:
        yield b"sec"
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await store.stage("upl_d", broken())
    with pytest.raises(FileTooLargeError):
        await store.stage("upl_d", stream(b"x" * 10), max_size=5)
    assert await store.staged("upl_d") == first
    assert files_under(tmp_path / "tmp") == []
    second = await store.stage("upl_d", stream(b"second"))
    assert await store.staged("upl_d") == second
    assert len(files_under(tmp_path / "staged")) == 1
