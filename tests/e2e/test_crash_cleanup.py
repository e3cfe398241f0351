"""SIGKILL of ``artifact-hub serve`` at each stage of a large upload leaves nothing for good.

For each stage a real ``serve`` subprocess (SQLite index, local or S3 blob store on moto) is
killed with SIGKILL, so none of its clean-up runs; then it is restarted and one
``artifact-hub sweep`` runs, with the grace periods set to seconds. The test measures the
*orphan bytes*: everything in the data folder's blob, spool and staging places and in the
bucket (objects and the parts of unfinished multipart uploads) that no version row
references. It must be above zero after the kill (the stage did leave something) and exactly
zero after the restart and the sweep, while the artifacts that were committed keep their bytes.

Stages: a direct ``POST /v1/artifacts`` body cut mid-stream (a spool file); on S3 the same
body complete and being uploaded to the bucket in parts by boto3 (an unfinished multipart
upload under ``blobs/``); a presigned upload whose bytes were PUT but never completed (a
staged file or object); on S3 a presigned multipart upload with some of its parts uploaded.
A blob stored just before its commit (what a kill between the two leaves) cannot be hit by a
timed kill reliably, so that state is made directly: a blob written into the store with no
version, as the killed write would have left it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.serve_support import Served, serve

MiB = 1024 * 1024
GRACE = {
    "upload_url_ttl_seconds": "2",
    "upload_complete_grace_seconds": "0",
    "s3_download_url_max_seconds": "1",
    "orphan_grace_seconds": "3",
    "sweep_enabled": "false",
}
BOUNDARY = b"crashboundary"


# ----------------------------------------------------------------------------- measuring


def _referenced(data_dir: Path) -> set[str]:
    with sqlite3.connect(data_dir / "index.db") as db:
        return {row[0] for row in db.execute("SELECT DISTINCT sha256 FROM artifact_versions")}


def _local_orphan_bytes(data_dir: Path) -> int:
    """Bytes in the blob folder (blobs, tmp, staged) and spool folder no version references."""
    referenced = _referenced(data_dir)
    kept: set[tuple[int, int]] = set()
    files: list[os.stat_result] = []
    for place in (data_dir / "blobs", data_dir / "spool"):
        for path in place.rglob("*") if place.exists() else ():
            if path.is_file():
                stat = path.stat()
                if path.name in referenced and path.parent.parent.parent.name == "blobs":
                    kept.add((stat.st_dev, stat.st_ino))
                files.append(stat)
    seen: set[tuple[int, int]] = set()
    total = 0
    for stat in files:
        inode = (stat.st_dev, stat.st_ino)
        if inode in kept or inode in seen:
            continue  # a staged hard link of a referenced blob frees nothing
        seen.add(inode)
        total += stat.st_size
    return total


def _s3_orphan_bytes(data_dir: Path, client: Any, bucket: str) -> int:
    """Unreferenced objects and multipart parts in the bucket, plus the spool folder."""
    referenced = _referenced(data_dir)
    total = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].removeprefix("blobs/") not in referenced:
                total += item["Size"]
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            parts = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            total += sum(p["Size"] for p in parts.get("Parts", [])) or 1  # an empty upload too
    spool = data_dir / "spool"
    if spool.exists():
        total += sum(p.stat().st_size for p in spool.iterdir() if p.is_file())
    return total


# ----------------------------------------------------------------------------- acting


def _sweep(served: Served) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "artifact_hub.cli.main", "sweep", "--json"],
        env=served.env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _spool_bytes(folder: Path) -> int:
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.glob(".spool-*.part"))


def _form_head(name: str) -> bytes:
    return (
        b"--"
        + BOUNDARY
        + b'\r\nContent-Disposition: form-data; name="file"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )


def _post_raw(served: Served, size: int, *, send: int) -> socket.socket:
    """Start ``POST /v1/artifacts`` with a ``size``-byte file; send ``send`` bytes of it."""
    head = _form_head("big.bin")
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"
    sock = socket.create_connection(("127.0.0.1", served.port))
    sock.sendall(
        b"POST /v1/artifacts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + served.key.encode() + b"\r\n"
        b"Content-Type: multipart/form-data; boundary=" + BOUNDARY + b"\r\n"
        b"Content-Length: " + str(len(head) + size + len(tail)).encode() + b"\r\n\r\n" + head
    )
    block = os.urandom(MiB)
    sent = 0
    while sent < send:
        piece = block[: min(MiB, send - sent)]
        sock.sendall(piece)
        sent += len(piece)
    if send == size:
        sock.sendall(tail)
    return sock


def _push_small(served: Served) -> str:
    with served.client() as client:
        response = client.post(
            "/v1/artifacts", files={"file": ("keep.txt", b"committed bytes stay")}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def _request_upload(served: Served, size: int) -> dict[str, Any]:
    with served.client() as client:
        response = client.post(
            "/v1/artifacts/upload-url", json={"name": "big.bin", "size_bytes": size}
        )
        assert response.status_code == 201, response.text
        upload: dict[str, Any] = response.json()
        return upload


def _check_kept(served: Served, artifact_id: str) -> None:
    with served.client() as client:
        response = client.get(f"/v1/artifacts/{artifact_id}/content")
        assert response.status_code == 200 and response.content == b"committed bytes stay"


def _restart_and_sweep(served: Served, orphans: Callable[[], int]) -> dict[str, Any]:
    served.start()
    time.sleep(3.2)  # past orphan_grace_seconds (and the uploads' URLs)
    report = _sweep(served)
    assert orphans() == 0, f"orphan bytes left after restart + sweep: {report}"
    return report


# ----------------------------------------------------------------------------- local store


@pytest.fixture
def local_hub(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path, **GRACE) as served:
        yield served


def test_local_kill_mid_body(local_hub: Served) -> None:
    served, data = local_hub, local_hub.data_dir
    keep = _push_small(served)
    sock = _post_raw(served, 40 * MiB, send=24 * MiB)
    _wait_for(lambda: _spool_bytes(data / "blobs" / "tmp") >= 16 * MiB, "the spool file")
    served.kill()
    sock.close()
    assert _local_orphan_bytes(data) >= 16 * MiB
    report = _restart_and_sweep(served, lambda: _local_orphan_bytes(data))
    # The restart removed the spool file (its writer's lock died with it), not the sweep.
    assert report["spool_files_removed"] == 0
    _check_kept(served, keep)


def test_local_kill_after_put_before_complete(local_hub: Served) -> None:
    served, data = local_hub, local_hub.data_dir
    keep = _push_small(served)
    size = 24 * MiB
    upload = _request_upload(served, size)
    response = httpx.put(upload["url"], content=os.urandom(size), timeout=60)
    assert response.status_code < 300, response.text
    served.kill()
    assert _local_orphan_bytes(data) >= size
    report = _restart_and_sweep(served, lambda: _local_orphan_bytes(data))
    assert report["uploads_removed"] == 1
    _check_kept(served, keep)


def test_local_kill_mid_put(local_hub: Served) -> None:
    served, data = local_hub, local_hub.data_dir
    size = 48 * MiB
    upload = _request_upload(served, size)
    url = httpx.URL(upload["url"])
    sock = socket.create_connection(("127.0.0.1", served.port))
    sock.sendall(
        f"PUT {url.raw_path.decode()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
    )
    for _ in range(30):
        sock.sendall(os.urandom(MiB))
    _wait_for(lambda: _spool_bytes(data / "blobs" / "tmp") >= 24 * MiB, "the spool file")
    served.kill()
    sock.close()
    assert _local_orphan_bytes(data) >= 24 * MiB
    _restart_and_sweep(served, lambda: _local_orphan_bytes(data))


def test_local_blob_without_version(local_hub: Served) -> None:
    """What a kill between a blob's write and its commit leaves: a blob nothing references."""
    from artifact_hub.adapters.storage.local import LocalBlobStore

    served, data = local_hub, local_hub.data_dir
    keep = _push_small(served)
    served.kill()
    content = os.urandom(3 * MiB)

    async def orphan() -> None:
        async def chunks() -> Any:
            yield content

        await LocalBlobStore(data / "blobs").put(chunks())

    asyncio.run(orphan())
    assert _local_orphan_bytes(data) == len(content)
    report = _restart_and_sweep(served, lambda: _local_orphan_bytes(data))
    assert report["orphan_blobs_removed"] == 1
    assert report["orphan_bytes_removed"] == len(content)
    _check_kept(served, keep)


# ----------------------------------------------------------------------------- S3 store


@pytest.fixture
def s3_hub(tmp_path: Path, s3_server: Any, s3_bucket: str) -> Iterator[tuple[Served, Any, str]]:
    settings = s3_server.settings()
    with serve(
        tmp_path,
        blob_store="s3",
        s3_bucket=s3_bucket,
        s3_endpoint_url=settings["endpoint_url"],
        s3_access_key_id=settings["aws_access_key_id"],
        s3_secret_access_key=settings["aws_secret_access_key"],
        s3_region=settings["region_name"],
        **GRACE,
    ) as served:
        yield served, s3_server.client(), s3_bucket


def test_s3_kill_mid_body(s3_hub: tuple[Served, Any, str]) -> None:
    served, client, bucket = s3_hub
    data = served.data_dir
    keep = _push_small(served)
    sock = _post_raw(served, 40 * MiB, send=24 * MiB)
    # In the data folder now, not /tmp (where a restart never looked).
    _wait_for(lambda: _spool_bytes(data / "spool") >= 16 * MiB, "the spool file")
    served.kill()
    sock.close()
    assert _s3_orphan_bytes(data, client, bucket) >= 16 * MiB
    _restart_and_sweep(served, lambda: _s3_orphan_bytes(data, client, bucket))
    _check_kept(served, keep)


def test_s3_kill_mid_multipart_put_of_a_blob(s3_hub: tuple[Served, Any, str]) -> None:
    """The body arrived whole; boto3 is uploading the spooled file to ``blobs/`` in parts."""
    served, client, bucket = s3_hub
    data = served.data_dir
    size = 160 * MiB
    sock = _post_raw(served, size, send=size)

    def uploading() -> bool:
        return bool(client.list_multipart_uploads(Bucket=bucket, Prefix="blobs/").get("Uploads"))

    _wait_for(uploading, "boto3's multipart upload of the blob", timeout=120)
    served.kill()
    sock.close()
    assert _s3_orphan_bytes(data, client, bucket) > 0
    report = _restart_and_sweep(served, lambda: _s3_orphan_bytes(data, client, bucket))
    assert report["staging_removed"] >= 1


def test_s3_kill_after_put_before_complete(s3_hub: tuple[Served, Any, str]) -> None:
    served, client, bucket = s3_hub
    data = served.data_dir
    keep = _push_small(served)
    size = 16 * MiB
    upload = _request_upload(served, size)
    response = httpx.put(
        upload["url"], content=os.urandom(size), headers=upload["headers"], timeout=60
    )
    assert response.status_code < 300, response.text
    served.kill()
    assert _s3_orphan_bytes(data, client, bucket) >= size
    _restart_and_sweep(served, lambda: _s3_orphan_bytes(data, client, bucket))
    _check_kept(served, keep)


def test_s3_kill_mid_presigned_parts(s3_hub: tuple[Served, Any, str]) -> None:
    served, client, bucket = s3_hub
    data = served.data_dir
    size = 70 * MiB  # over the 64 MiB multipart threshold: two parts
    upload = _request_upload(served, size)
    assert upload["parts"] and len(upload["parts"]) == 2
    first = upload["parts"][0]
    response = httpx.put(first["url"], content=os.urandom(first["size"]), timeout=60)
    assert response.status_code < 300, response.text
    served.kill()
    assert _s3_orphan_bytes(data, client, bucket) >= first["size"]
    report = _restart_and_sweep(served, lambda: _s3_orphan_bytes(data, client, bucket))
    assert report["uploads_removed"] == 1
