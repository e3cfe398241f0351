"""Transfers against an in-memory fake hub: pagination, progress, checksums, presigned, Acenta."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.test_client_requests import NOW, artifact_json, parse_multipart

from artifact_hub.client import AcentaClient, AsyncClient, Client
from artifact_hub.core import errors

PRESIGNED_QUERY = "X-Amz-Credential=testing%2F20261122%2Fus&exp=1&sig=a+b"


class FakeHub:
    """Just enough of the REST API, in memory, to exercise the client's I/O paths."""

    def __init__(self) -> None:
        self.blobs: dict[str, list[bytes]] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.corrupt = False
        self.page_size = 2
        self.uploads: dict[str, dict[str, Any]] = {}

    def _artifact(self, artifact_id: str) -> dict[str, Any]:
        data = self.blobs[artifact_id][-1]
        return artifact_json(
            artifact_id,
            version=len(self.blobs[artifact_id]),
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            **self.meta[artifact_id],
        )

    def _store(self, data: bytes, fields: dict[str, Any]) -> httpx.Response:
        artifact_id = f"art_{len(self.blobs):016d}"
        self.blobs[artifact_id] = [data]
        self.meta[artifact_id] = fields
        return httpx.Response(201, json=self._artifact(artifact_id))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        parts = request.url.path.strip("/").split("/")
        method = request.method
        if parts == ["v1", "artifacts"] and method == "POST":
            fields, file = parse_multipart(request)
            meta = {"name": fields["name"], "content_type": fields["content_type"]}
            if "metadata" in fields:
                meta["metadata"] = json.loads(fields["metadata"])
            return self._store(file["data"], meta)
        if parts == ["v1", "artifacts"] and method == "GET":
            ids = sorted(self.blobs, reverse=True)
            offset = int(request.url.params.get("offset", 0))
            cursor = request.url.params.get("cursor")
            start = ids.index(cursor) + 1 if cursor else offset
            limit = min(int(request.url.params.get("limit", self.page_size)), self.page_size)
            chunk = ids[start : start + limit]
            more = start + limit < len(ids)
            return httpx.Response(
                200,
                json={
                    "data": [self._artifact(i) for i in chunk],
                    "next_cursor": chunk[-1] if more and chunk else None,
                },
            )
        if parts == ["v1", "shared"]:
            data = [self._artifact(i) | {"agent_id": "alice"} for i in self.blobs]
            return httpx.Response(200, json={"data": data, "next_cursor": None})
        if parts[:2] == ["v1", "uploads"] and method == "PUT":
            self.uploads[parts[2]]["data"] = request.content
            return httpx.Response(200)
        if parts == ["v1", "artifacts", "upload-url"]:
            body = json.loads(request.content)
            self.uploads["upl_1"] = {"fields": body}
            url = f"http://hub.test/v1/uploads/upl_1?{PRESIGNED_QUERY}"
            return httpx.Response(201, json={"id": "upl_1", "url": url, "expires_at": NOW})
        if parts[-1] == "complete":
            upload = self.uploads[parts[2]]
            return self._store(upload["data"], {"name": upload["fields"]["name"]})
        artifact_id = parts[2]
        if artifact_id not in self.blobs:
            body = {"error": {"code": "artifact_not_found", "message": "no", "status": 404}}
            return httpx.Response(404, json=body)
        if len(parts) == 3:
            return httpx.Response(200, json=self._artifact(artifact_id))
        if parts[3] == "content":
            version = request.url.params.get("version")
            data = self.blobs[artifact_id][int(version) - 1 if version else -1]
            digest = hashlib.sha256(data).hexdigest()
            body_bytes = data + b"!" if self.corrupt else data
            headers = {"X-Content-SHA256": digest, "ETag": f'"{digest}"'}
            return httpx.Response(200, content=body_bytes, headers=headers)
        if parts[3] == "versions" and method == "POST":
            _, file = parse_multipart(request)
            self.blobs[artifact_id].append(file["data"])
            return httpx.Response(201, json=self._artifact(artifact_id))
        if parts[3] == "versions":
            data = [
                {"artifact_id": artifact_id, "version": n + 1, "sha256": "0" * 64}
                | {"size_bytes": len(b), "created_at": NOW}
                for n, b in enumerate(self.blobs[artifact_id])
            ]
            return httpx.Response(200, json={"data": data})
        if parts[3] == "download-url":
            return httpx.Response(
                200,
                json={"url": f"http://hub.test/v1/signed/{artifact_id}/1"} | {"expires_at": NOW},
            )
        if parts[3] in ("share", "unshare"):
            body = json.loads(request.content)
            return httpx.Response(200, json={"artifact_id": artifact_id} | body)
        if parts[3] == "access":
            return httpx.Response(200, json={"artifact_id": artifact_id, "agents": ["a"]})
        raise AssertionError(f"unexpected {method} {request.url}")


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
def client(hub: FakeHub) -> Client:
    return Client(
        api_key="k",
        base_url="http://hub.test",
        config_path="/none",
        transport=httpx.MockTransport(hub),
    )


def _async(hub: FakeHub, cls: type[AsyncClient] = AsyncClient, **kw: Any) -> AsyncClient:
    return cls(
        api_key="k",
        base_url="http://hub.test",
        config_path="/none",
        transport=httpx.MockTransport(hub),
        **kw,
    )


def test_list_follows_cursors_transparently(client: Client, hub: FakeHub) -> None:
    ids = [client.push(f"{n}".encode(), filename=f"{n}.txt").id for n in range(5)]
    listed = [a.id for a in client.list(session_id="*")]
    assert listed == sorted(ids, reverse=True)
    pages = [r for r in hub.requests if r.method == "GET"]
    assert len(pages) == 3
    assert [a.id for a in client.list(session_id="*", limit=3)] == listed[:3]
    page = client.list_page(session_id="*")
    assert len(page.data) == 2 and page.next_cursor == listed[1]


async def test_async_list_follows_cursors(hub: FakeHub) -> None:
    async with _async(hub) as client:
        for n in range(3):
            await client.push(b"x" * n, filename=f"{n}.bin")
        assert len([a async for a in client.list(session_id="*")]) == 3


def test_push_file_reports_progress_and_streams(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"z" * (2 * 1024 * 1024 + 5))
    seen: list[tuple[int, int | None]] = []
    artifact = client.push(path, progress=lambda done, total: seen.append((done, total)))
    assert artifact.size_bytes == path.stat().st_size
    total = path.stat().st_size
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 4


def test_pull_to_folder_and_file_verifies_and_reports(client: Client, tmp_path: Path) -> None:
    artifact = client.push(b"hello world", filename="greeting.txt")
    seen: list[tuple[int, int | None]] = []
    written = client.pull(
        artifact.id,
        output=str(tmp_path / "downloads") + "/",
        progress=lambda d, t: seen.append((d, t)),
    )
    assert written == tmp_path / "downloads" / "greeting.txt"
    assert written.read_bytes() == b"hello world"
    assert seen[-1] == (11, 11)
    other = client.pull(artifact.id, output=tmp_path / "x" / "renamed.txt")
    assert other.read_bytes() == b"hello world"
    assert client.pull_bytes(artifact.id) == b"hello world"
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == ["greeting.txt"]


def test_checksum_mismatch_removes_partial_file(
    client: Client, hub: FakeHub, tmp_path: Path
) -> None:
    artifact = client.push(b"payload", filename="p.bin")
    hub.corrupt = True
    with pytest.raises(errors.ChecksumMismatchError) as info:
        client.pull(artifact.id, output=tmp_path)
    assert info.value.artifact_id == artifact.id
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(errors.ChecksumMismatchError):
        client.pull_bytes(artifact.id)


async def test_async_pull_checksum_mismatch(hub: FakeHub, tmp_path: Path) -> None:
    async with _async(hub) as client:
        artifact = await client.push(b"payload", filename="p.bin")
        path = await client.pull(artifact.id, output=tmp_path)
        assert path.read_bytes() == b"payload"
        hub.corrupt = True
        with pytest.raises(errors.ChecksumMismatchError):
            await client.pull(artifact.id, output=tmp_path / "again.bin")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["p.bin"]


def test_pull_dict_and_versions(client: Client) -> None:
    artifact = client.push_dict({"score": 0.95}, filename="r.json")
    assert client.pull_dict(artifact.id) == {"score": 0.95}
    client.push_version(artifact.id, b'{"score": 1}')
    assert client.pull_dict(artifact.id, version=1) == {"score": 0.95}
    assert [v.version for v in client.versions(artifact.id)] == [1, 2]


def test_large_push_uses_presigned_flow(hub: FakeHub, tmp_path: Path) -> None:
    client = Client(
        api_key="k",
        base_url="http://hub.test",
        config_path="/none",
        transport=httpx.MockTransport(hub),
        presigned_threshold=10,
    )
    path = tmp_path / "large.bin"
    path.write_bytes(b"L" * 100)
    artifact = client.push(path, session_id="s", metadata={"a": 1})
    assert artifact.size_bytes == 100
    steps = [(r.method, r.url.path) for r in hub.requests]
    assert steps == [
        ("POST", "/v1/artifacts/upload-url"),
        ("PUT", "/v1/uploads/upl_1"),
        ("POST", "/v1/artifacts/upl_1/complete"),
    ]
    put = hub.requests[1]
    assert "authorization" not in put.headers  # never leak the key to a presigned URL
    assert put.url.query.decode() == PRESIGNED_QUERY  # the signed query, byte for byte
    assert put.headers["content-length"] == "100" and put.content == b"L" * 100
    fields = json.loads(hub.requests[0].content)
    assert fields["size_bytes"] == 100 and fields["metadata"] == {"a": 1}
    assert fields["name"] == "large.bin"


async def test_acenta_namespace_end_to_end(hub: FakeHub, tmp_path: Path) -> None:
    client = _async(hub, AcentaClient)
    art = await client.artifact.create(
        name="report.pdf", content_type="application/pdf", data=b"%PDF", metadata={"q": "Q4"}
    )
    assert (await client.artifact.get(artifact_id=art.id)).name == "report.pdf"
    assert await client.artifact.download(artifact_id=art.id) == b"%PDF"
    out = tmp_path / "out.pdf"
    await client.artifact.download_file(artifact_id=art.id, path=str(out))
    assert out.read_bytes() == b"%PDF"
    snippet = await client.artifact.create_snippet(name="config.json", content={"t": 0.7})
    assert json.loads(await client.artifact.download(snippet.id)) == {"t": 0.7}
    new = await client.artifact.update(artifact_id=art.id, data=b"%PDF2", metadata={"v": "2"})
    assert new.version == 2
    assert await client.artifact.download(artifact_id=art.id, version=1) == b"%PDF"
    assert [v.version for v in await client.artifact.list_versions(artifact_id=art.id)] == [1, 2]
    url = await client.artifact.get_signed_url(artifact_id=art.id, expires_in=60)
    assert url.startswith("http://hub.test/v1/signed/")
    access = await client.artifact.share(artifact_id=art.id, with_agents=["a"], with_groups=["g"])
    assert (access.agents, access.groups) == (["a"], ["g"])
    assert json.loads(hub.requests[-1].content) == {"agents": ["a"], "groups": ["g"]}
    await client.artifact.unshare(artifact_id=art.id, agents=["a"])
    assert json.loads(hub.requests[-1].content) == {"agents": ["a"], "groups": []}
    assert (await client.artifact.get_access(artifact_id=art.id)).agents == ["a"]
    listed = await client.artifact.list(metadata_filter={"q": "Q4"}, content_type="application/pdf")
    params = hub.requests[-1].url.params
    assert json.loads(params["metadata"]) == {"q": "Q4"}
    assert params["content_type"] == "application/pdf" and "session_id" not in params
    assert len(listed) == 2
    page = await client.artifact.list(limit=1, offset=1)
    assert len(page) == 1 and hub.requests[-1].url.params["offset"] == "1"
    shared = await client.artifact.list_shared()
    assert {a.owner for a in shared} == {"alice"}
    path = tmp_path / "big.zip"
    path.write_bytes(b"zip")
    uploaded = await client.artifact.upload_file(path=str(path), name="backup.zip")
    assert uploaded.name == "backup.zip"
    upload = await client.artifact.get_upload_url(
        name="large-file.bin", content_type="application/octet-stream", size_bytes=3
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(hub)) as http:
        await http.put(upload.url, content=b"big")
    confirmed = await client.artifact.confirm_upload(upload.id)
    assert await client.artifact.download(confirmed.id) == b"big"
    await client.aclose()
