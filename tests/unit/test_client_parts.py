"""The SDK's push through a multipart presigned upload (S3): each part PUT to its own URL."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.test_client_requests import NOW, artifact_json

from artifact_hub.client import AsyncClient, Client

DATA = bytes(range(256)) * 100 + b"tail"  # 25,604 bytes
PART = 10_000
BUCKET = "http://s3.test/b/staging/upl_1"


class PartsHub:
    """upload-url answers with parts; the "bucket" takes part PUTs; complete joins them."""

    def __init__(self) -> None:
        self.parts: dict[int, bytes] = {}
        self.part_headers: dict[int, httpx.Headers] = {}
        self.lock = threading.Lock()
        self.declared: dict[str, Any] = {}
        self.hub_requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.host == "s3.test":
            assert "authorization" not in request.headers  # never the API key to the bucket
            number = int(request.url.params["partNumber"])
            with self.lock:
                self.parts[number] = request.content
                self.part_headers[number] = request.headers
            return httpx.Response(200, headers={"ETag": f'"{number}"'})
        self.hub_requests.append(f"{request.method} {request.url.path}")
        if request.url.path == "/v1/artifacts/upload-url":
            self.declared = json.loads(request.content)
            size = self.declared["size_bytes"]
            parts = [
                {
                    "part_number": n + 1,
                    "url": f"{BUCKET}?uploadId=u&partNumber={n + 1}&X-Amz-Signature=s",
                    "offset": offset,
                    "size": min(PART, size - offset),
                }
                for n, offset in enumerate(range(0, size, PART))
            ]
            body = {"id": "upl_1", "url": parts[0]["url"], "expires_at": NOW, "parts": parts}
            return httpx.Response(201, json=body)
        if request.url.path.endswith("/complete"):
            data = b"".join(self.parts[n] for n in sorted(self.parts))
            return httpx.Response(
                201,
                json=artifact_json(
                    "art_0000000000000001",
                    sha256=hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data),
                ),
            )
        raise AssertionError(f"unexpected {request.method} {request.url}")  # pragma: no cover

    def check(self) -> None:
        assert sorted(self.parts) == [1, 2, 3]
        assert b"".join(self.parts[n] for n in (1, 2, 3)) == DATA
        for number, headers in self.part_headers.items():
            assert int(headers["content-length"]) == len(self.parts[number])
        assert self.hub_requests == [
            "POST /v1/artifacts/upload-url",
            "POST /v1/artifacts/upl_1/complete",
        ]


@pytest.mark.parametrize("kind", ["path", "bytes", "file"])
def test_sync_push_sends_every_part_to_its_url(tmp_path: Path, kind: str) -> None:
    hub = PartsHub()
    source: Any
    if kind == "path":
        source = tmp_path / "big.bin"
        source.write_bytes(DATA)
    elif kind == "bytes":
        source = DATA
    else:
        source = io.BytesIO(b"skipped" + DATA)
        source.seek(7)  # a file object is sent from where it stands
    seen: list[tuple[int, int | None]] = []
    with Client(
        "ak_live_x_y",
        base_url="http://hub.test",
        transport=httpx.MockTransport(hub),
        presigned_threshold=1000,
    ) as client:
        artifact = client.push(
            source, filename="big.bin", progress=lambda d, t: seen.append((d, t))
        )
    hub.check()
    assert artifact.sha256 == hashlib.sha256(DATA).hexdigest()
    assert hub.declared["size_bytes"] == len(DATA)
    assert seen[-1] == (len(DATA), len(DATA))
    assert all(total == len(DATA) for _, total in seen)


async def test_async_push_sends_every_part_to_its_url(tmp_path: Path) -> None:
    hub = PartsHub()
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    async with AsyncClient(
        "ak_live_x_y",
        base_url="http://hub.test",
        transport=httpx.MockTransport(hub),
        presigned_threshold=1000,
    ) as client:
        artifact = await client.push(source)
    hub.check()
    assert artifact.size_bytes == len(DATA)
