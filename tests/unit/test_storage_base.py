"""The helpers every blob store adapter shares: hash validation and the temp-file spool."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifact_hub.adapters.storage.base import check_sha256, spool_to_temp_file
from artifact_hub.core.errors import ChecksumMismatchError, FileTooLargeError
from artifact_hub.ports.blobs import CHUNK_SIZE, HashingReader

GOOD = hashlib.sha256(b"x").hexdigest()


def leftovers(directory: Path) -> list[Path]:
    return list(directory.iterdir())


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize("value", [GOOD, "0" * 64, "f" * 64])
def test_check_sha256_accepts_lowercase_hex(value: str) -> None:
    assert check_sha256(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "../../etc/passwd", GOOD.upper(), GOOD[:-1], GOOD + "0", GOOD + "\n", "g" * 64, None, 1],
)
def test_check_sha256_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError):
        check_sha256(value)  # type: ignore[arg-type]


async def test_spool_yields_the_complete_file_and_removes_it(tmp_path: Path) -> None:
    data = os.urandom(CHUNK_SIZE * 2 + 17)
    reader = HashingReader(expected_sha256=hashlib.sha256(data).hexdigest())
    parts = [data[i : i + 4096] for i in range(0, len(data), 4096)]

    async with spool_to_temp_file(stream(*parts), tmp_path, reader, durable=True) as path:
        assert path.parent == tmp_path
        assert path.read_bytes() == data
        assert reader.size == len(data)

    assert leftovers(tmp_path) == []


async def test_spool_tolerates_the_file_being_moved_away(tmp_path: Path) -> None:
    target = tmp_path / "kept"
    async with spool_to_temp_file(stream(b"abc"), tmp_path, HashingReader()) as path:
        path.rename(target)

    assert target.read_bytes() == b"abc"


async def test_spool_removes_the_file_when_the_body_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        async with spool_to_temp_file(stream(b"abc"), tmp_path, HashingReader()):
            raise RuntimeError("upload failed")

    assert leftovers(tmp_path) == []


async def test_spool_verifies_before_yielding(tmp_path: Path) -> None:
    reader = HashingReader(expected_sha256=GOOD)
    with pytest.raises(ChecksumMismatchError):
        async with spool_to_temp_file(stream(b"not x"), tmp_path, reader):
            pytest.fail("a mismatching stream must not reach the body")

    assert leftovers(tmp_path) == []


async def test_spool_stops_at_max_size_without_writing_past_it(tmp_path: Path) -> None:
    reader = HashingReader(max_size=10)
    with pytest.raises(FileTooLargeError):
        async with spool_to_temp_file(stream(b"12345", b"67890", b"x"), tmp_path, reader):
            pytest.fail("an oversized stream must not reach the body")

    assert leftovers(tmp_path) == []


async def test_spool_cleans_up_when_cancelled_mid_stream(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield os.urandom(CHUNK_SIZE + 1)  # one full batch goes to a worker thread
        started.set()
        await asyncio.Event().wait()
        yield b""

    async def spool() -> None:
        async with spool_to_temp_file(stalled(), tmp_path, HashingReader()):
            pass

    task = asyncio.create_task(spool())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert leftovers(tmp_path) == []
