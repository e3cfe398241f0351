"""The BlobStore contract: one suite, run against every adapter.

``BlobStoreContract`` holds the tests; each ``Test…`` subclass supplies a ``store`` fixture
and a few hooks that look behind the port (how many blobs exist, which temporary files are
left). The S3 suite runs against the real S3 endpoint from ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import artifact_hub
from artifact_hub.adapters.storage import LocalBlobStore, MemoryBlobStore, S3BlobStore
from artifact_hub.core.errors import ChecksumMismatchError, FileTooLargeError
from artifact_hub.ports.blobs import BlobInfo, BlobNotFoundError, BlobStore

MiB = 1024 * 1024
SRC_DIR = Path(artifact_hub.__file__).resolve().parent.parent


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def stream(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


async def read_all(store: BlobStore, sha256: str, chunk_size: int = MiB) -> bytes:
    return b"".join([chunk async for chunk in store.get(sha256, chunk_size=chunk_size)])


def pattern_chunk(index: int) -> bytes:
    """The index-th MiB of a large, cheap, not-all-equal test stream."""
    return bytes([index % 251]) * MiB


def pattern_sha(mib: int) -> str:
    digest = hashlib.sha256()
    for i in range(mib):
        digest.update(pattern_chunk(i))
    return digest.hexdigest()


async def pattern_stream(mib: int) -> AsyncIterator[bytes]:
    for i in range(mib):
        yield pattern_chunk(i)


class BlobStoreContract:
    """Behaviour every ``BlobStore`` adapter must have."""

    @pytest.fixture
    def store(self) -> BlobStore:
        raise NotImplementedError

    async def blob_count(self, store: Any) -> int:
        """How many blobs the adapter holds, looked at behind the port."""
        raise NotImplementedError

    def leftover_temp_files(self, store: Any) -> list[Path]:
        """Temporary files the adapter left behind (none for adapters without any)."""
        return []

    async def assert_nothing_stored(self, store: BlobStore, *hashes: str) -> None:
        for sha256 in hashes:
            assert await store.stat(sha256) is None
            assert not await store.exists(sha256)
        assert await self.blob_count(store) == 0
        assert self.leftover_temp_files(store) == []

    @pytest.mark.parametrize(
        ("size", "piece_size", "read_size"),
        [
            (0, 1, MiB),
            (1, 1, 1),
            (1000, 7, 64),
            (3 * MiB + 5, 64 * 1024, MiB),
            (2 * MiB, 2 * MiB, 300_000),
        ],
    )
    async def test_round_trip(
        self, store: BlobStore, size: int, piece_size: int, read_size: int
    ) -> None:
        data = os.urandom(size)

        info = await store.put(stream(pieces(data, piece_size)))

        assert info == BlobInfo(sha256=sha(data), size=size, created=True)
        assert await store.stat(info.sha256) == size
        assert await store.exists(info.sha256)
        chunks = [chunk async for chunk in store.get(info.sha256, chunk_size=read_size)]
        assert b"".join(chunks) == data
        assert all(0 < len(chunk) <= read_size for chunk in chunks)

    async def test_put_accepts_the_right_expected_sha256(self, store: BlobStore) -> None:
        data = b"expected bytes"

        info = await store.put(stream([data]), expected_sha256=sha(data), max_size=len(data))

        assert info.sha256 == sha(data)
        assert await read_all(store, info.sha256) == data

    async def test_same_bytes_are_stored_once(self, store: BlobStore) -> None:
        data = os.urandom(10_000)

        first = await store.put(stream(pieces(data, 1000)))
        second = await store.put(stream(pieces(data, 333)))

        assert first.created is True
        assert second == BlobInfo(sha256=first.sha256, size=len(data), created=False)
        assert await self.blob_count(store) == 1
        assert self.leftover_temp_files(store) == []
        assert await read_all(store, first.sha256) == data

    async def test_checksum_mismatch_leaves_nothing(self, store: BlobStore) -> None:
        data = os.urandom(5000)
        announced = sha(b"other bytes")

        with pytest.raises(ChecksumMismatchError) as caught:
            await store.put(stream(pieces(data, 1000)), expected_sha256=announced)

        assert caught.value.code == "checksum_mismatch"
        await self.assert_nothing_stored(store, sha(data), announced)

    async def test_too_large_leaves_nothing(self, store: BlobStore) -> None:
        data = os.urandom(5000)

        with pytest.raises(FileTooLargeError):
            await store.put(stream(pieces(data, 1000)), max_size=len(data) - 1)

        await self.assert_nothing_stored(store, sha(data))

    async def test_failing_source_leaves_nothing(self, store: BlobStore) -> None:
        class SourceBroke(Exception):
            pass

        async def source() -> AsyncIterator[bytes]:
            yield os.urandom(MiB)
            yield os.urandom(MiB)
            raise SourceBroke

        with pytest.raises(SourceBroke):
            await store.put(source())

        await self.assert_nothing_stored(store)

    async def test_cancelled_put_leaves_nothing(self, store: BlobStore) -> None:
        started = asyncio.Event()

        async def source() -> AsyncIterator[bytes]:
            yield os.urandom(MiB)
            yield os.urandom(MiB)
            started.set()
            await asyncio.Event().wait()  # a client that stops sending
            yield b"never"

        task = asyncio.create_task(store.put(source()))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        await self.assert_nothing_stored(store)

    async def test_get_missing_blob_raises(self, store: BlobStore) -> None:
        with pytest.raises(BlobNotFoundError):
            await read_all(store, sha(b"never stored"))

    async def test_delete(self, store: BlobStore) -> None:
        info = await store.put(stream([b"to be deleted"]))

        await store.delete(info.sha256)

        assert await store.stat(info.sha256) is None
        assert not await store.exists(info.sha256)
        with pytest.raises(BlobNotFoundError):
            await read_all(store, info.sha256)
        await store.delete(info.sha256)  # absent: no error
        assert await self.blob_count(store) == 0

    async def test_a_deleted_blob_can_be_stored_again(self, store: BlobStore) -> None:
        info = await store.put(stream([b"back again"]))
        await store.delete(info.sha256)

        again = await store.put(stream([b"back again"]))

        assert again == BlobInfo(sha256=info.sha256, size=info.size, created=True)

    @pytest.mark.parametrize(
        "bad", ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 65, "a" * 63 + "/", "a" * 64 + "\n"]
    )
    async def test_refuses_what_is_not_a_sha256(self, store: BlobStore, bad: str) -> None:
        with pytest.raises(ValueError):
            await store.stat(bad)
        with pytest.raises(ValueError):
            await store.delete(bad)
        with pytest.raises(ValueError):
            store.get(bad)
        with pytest.raises(ValueError):
            await store.put(stream([b"x"]), expected_sha256=bad)
        assert await self.blob_count(store) == 0


class StreamingContract(BlobStoreContract):
    """For adapters that must not hold a blob in memory."""

    big_mib = 64
    peak_limit = 16 * MiB

    async def stream_measuring_peaks(self, store: BlobStore, mib: int) -> dict[str, Any]:
        """Put ``pattern_stream(mib)``, then read it back; measure traced memory of both.

        Returns ``sha256``, ``size``, ``put_peak``, ``read_sha256`` and ``get_peak``.
        """
        tracemalloc.start()
        try:
            info = await store.put(pattern_stream(mib))
            _, put_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            digest = hashlib.sha256()
            async for chunk in store.get(info.sha256):
                digest.update(chunk)
            _, get_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return {
            "sha256": info.sha256,
            "size": info.size,
            "put_peak": put_peak,
            "read_sha256": digest.hexdigest(),
            "get_peak": get_peak,
        }

    @pytest.mark.slow
    async def test_large_put_and_get_stream(self, store: BlobStore) -> None:
        measured = await self.stream_measuring_peaks(store, self.big_mib)

        assert measured["size"] == self.big_mib * MiB
        assert measured["sha256"] == pattern_sha(self.big_mib)
        assert measured["read_sha256"] == measured["sha256"]
        assert measured["put_peak"] < self.peak_limit, f"put held {measured['put_peak']} B"
        assert measured["get_peak"] < self.peak_limit, f"get held {measured['get_peak']} B"
        assert await store.stat(measured["sha256"]) == self.big_mib * MiB
        assert self.leftover_temp_files(store) == []


class TestMemoryBlobStore(BlobStoreContract):
    @pytest.fixture
    def store(self) -> MemoryBlobStore:
        return MemoryBlobStore()

    async def blob_count(self, store: MemoryBlobStore) -> int:
        return len(store.blobs)


class TestLocalBlobStore(StreamingContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> LocalBlobStore:
        return LocalBlobStore(tmp_path / "store")

    async def blob_count(self, store: LocalBlobStore) -> int:
        return sum(1 for path in (store.root / "blobs").rglob("*") if path.is_file())

    def leftover_temp_files(self, store: LocalBlobStore) -> list[Path]:
        return list((store.root / "tmp").iterdir())


# Measured in a child process: the S3 endpoint may be moto running in this process, whose
# own buffers would count against the limit.
_MEASURE_IN_CHILD = """
import asyncio, hashlib, json, sys, tracemalloc
from artifact_hub.adapters.storage import S3BlobStore

async def main(cfg):
    store = S3BlobStore(cfg["bucket"], spool_dir=cfg["spool_dir"], **cfg["settings"])
    async def source():
        for i in range(cfg["mib"]):
            yield bytes([i % 251]) * (1024 * 1024)
    tracemalloc.start()
    info = await store.put(source())
    _, put_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    digest = hashlib.sha256()
    async for chunk in store.get(info.sha256):
        digest.update(chunk)
    _, get_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await store.close()
    print(json.dumps({"sha256": info.sha256, "size": info.size, "put_peak": put_peak,
                      "read_sha256": digest.hexdigest(), "get_peak": get_peak}))

asyncio.run(main(json.loads(sys.argv[1])))
"""


class TestS3BlobStore(StreamingContract):
    multipart_threshold = 5 * MiB

    @pytest.fixture
    async def store(
        self, s3_bucket: str, s3_settings: dict[str, Any], tmp_path: Path
    ) -> AsyncIterator[S3BlobStore]:
        self.s3_settings = s3_settings  # for the child process of the memory test
        store = S3BlobStore(
            s3_bucket,
            multipart_threshold=self.multipart_threshold,
            spool_dir=tmp_path / "spool",
            **s3_settings,
        )
        yield store
        await store.close()

    async def blob_count(self, store: S3BlobStore) -> int:
        def count() -> int:
            listing = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
            uploads = store.client.list_multipart_uploads(Bucket=store.bucket)
            assert not uploads.get("Uploads"), "a multipart upload was left open"
            return int(listing.get("KeyCount", 0))

        return await asyncio.to_thread(count)

    def leftover_temp_files(self, store: S3BlobStore) -> list[Path]:
        return list(store.spool_dir.iterdir())

    async def stream_measuring_peaks(self, store: BlobStore, mib: int) -> dict[str, Any]:
        assert isinstance(store, S3BlobStore)
        config = {
            "bucket": store.bucket,
            "spool_dir": str(store.spool_dir),
            "mib": mib,
            "settings": self.s3_settings,
        }
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC_DIR), *sys.path])}
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _MEASURE_IN_CHILD,
            json.dumps(config),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await child.communicate()
        assert child.returncode == 0, err.decode()
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result

    async def test_large_blob_goes_through_multipart(self, store: S3BlobStore) -> None:
        data = os.urandom(12 * MiB)

        info = await store.put(stream(pieces(data, MiB)))

        head = await asyncio.to_thread(
            store.client.head_object, Bucket=store.bucket, Key=store.key_for(info.sha256)
        )
        # A multipart object's ETag is "<md5 of the part md5s>-<number of parts>".
        assert head["ETag"].strip('"').endswith("-3")
        assert head["ContentLength"] == len(data)
        assert head["Metadata"] == {"sha256": info.sha256}
        assert await read_all(store, info.sha256) == data

    async def test_small_blob_is_one_put(self, store: S3BlobStore) -> None:
        data = os.urandom(MiB)

        info = await store.put(stream([data]))

        head = await asyncio.to_thread(
            store.client.head_object, Bucket=store.bucket, Key=store.key_for(info.sha256)
        )
        assert "-" not in head["ETag"]
        assert head["Metadata"] == {"sha256": info.sha256}

    async def test_presigned_get_url_reads_the_blob(self, store: S3BlobStore) -> None:
        data = os.urandom(12 * MiB)
        info = await store.put(stream(pieces(data, MiB)))

        url = await store.presigned_get_url(info.sha256, expires_in=timedelta(minutes=5))

        assert url is not None
        async with httpx.AsyncClient() as http:
            response = await http.get(url)
        assert response.status_code == 200
        assert response.content == data

    async def test_presigned_put_url_uploads_to_staging(self, store: S3BlobStore) -> None:
        data = b"uploaded straight to the bucket"

        url = await store.presigned_put_url(
            "upl_0123456789abcdef", expires_in=timedelta(minutes=5), size=len(data)
        )

        assert url is not None
        async with httpx.AsyncClient() as http:
            response = await http.put(url, content=data)
        assert response.status_code == 200, response.text
        staged = await asyncio.to_thread(
            store.client.get_object,
            Bucket=store.bucket,
            Key=store.staging_key("upl_0123456789abcdef"),
        )
        assert staged["Body"].read() == data
        assert await self.blob_count(store) == 0  # staged objects are not blobs

    async def test_ensure_bucket_creates_a_missing_bucket(
        self, s3_bucket: str, s3_settings: dict[str, Any], tmp_path: Path
    ) -> None:
        store = S3BlobStore(f"{s3_bucket}-new", spool_dir=tmp_path, **s3_settings)
        try:
            await store.ensure_bucket()
            await store.ensure_bucket()  # already there: no error
            info = await store.put(stream([b"in a new bucket"]))
            assert await store.stat(info.sha256) == len(b"in a new bucket")
            await store.delete(info.sha256)
        finally:
            await asyncio.to_thread(store.client.delete_bucket, Bucket=store.bucket)
            await store.close()
