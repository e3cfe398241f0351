"""Request building: every endpoint of docs/rest-api.md, headers, bodies, parsing."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from artifact_hub.client import AsyncClient, Client
from artifact_hub.schemas.api import Link, SignedUrl, Upload, WhoAmI
from artifact_hub.schemas.artifacts import Access, Artifact, ArtifactVersion, Session

NOW = "2026-01-02T03:04:05+00:00"


def artifact_json(artifact_id: str = "art_0123456789abcdef", **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "artifact_id": artifact_id,
        "tenant_id": "t1",
        "name": "report.pdf",
        "version": 1,
        "agent_id": "bot",
        "session_id": "run_q4",
        "content_type": "application/pdf",
        "sha256": "0" * 64,
        "size_bytes": 3,
        "created_at": NOW,
    }
    data.update(over)
    return data


def parse_multipart(request: httpx.Request) -> tuple[dict[str, str], dict[str, Any]]:
    """Form fields and the file part ({filename, content_type, data}) of a request."""
    raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw + request.read())
    fields: dict[str, str] = {}
    file: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name == "file":
            file = {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "data": payload,
            }
        else:
            fields[str(name)] = payload.decode()
    return fields, file


class Recorder:
    """A MockTransport handler that records requests and answers from a function."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def make_client(
    answer: Callable[[httpx.Request], httpx.Response], **kw: Any
) -> tuple[Client, Recorder]:
    recorder = Recorder(answer)
    kw.setdefault("api_key", "ak_live_test")
    kw.setdefault("base_url", "http://hub.test")
    kw.setdefault("config_path", "/nonexistent.toml")
    client = Client(transport=httpx.MockTransport(recorder), **kw)
    return client, recorder


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEY", "URL", "API_URL", "SESSION_ID", "AGENT_ID"):
        monkeypatch.delenv(f"ARTIFACT_HUB_{name}", raising=False)


def ok_artifact(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201 if request.method == "POST" else 200, json=artifact_json())


def test_push_file_streams_multipart_with_fields(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-data")
    client, rec = make_client(ok_artifact, agent_id="earnings_bot")
    artifact = client.push(
        path,
        session_id="run_q4",
        metadata={"model": "claude-sonnet-4-6"},
        labels={"stage": "final"},
        tags=["q4", "pdf"],
        ttl="2d",
    )
    assert isinstance(artifact, Artifact) and artifact.id == "art_0123456789abcdef"
    request = rec.last
    assert (request.method, request.url.path) == ("POST", "/v1/artifacts")
    assert request.headers["authorization"] == "Bearer ak_live_test"
    assert request.headers["idempotency-key"]
    assert int(request.headers["content-length"]) == len(request.content)
    fields, file = parse_multipart(request)
    assert file == {
        "filename": "report.pdf",
        "content_type": "application/pdf",
        "data": b"%PDF-data",
    }
    assert fields["session_id"] == "run_q4"
    assert fields["agent_id"] == "earnings_bot"
    assert json.loads(fields["metadata"]) == {"model": "claude-sonnet-4-6"}
    assert json.loads(fields["labels"]) == {"stage": "final"}
    assert json.loads(fields["tags"]) == ["q4", "pdf"]
    assert fields["ttl_seconds"] == str(2 * 86400)
    assert fields["name"] == "report.pdf"
    assert fields["content_type"] == "application/pdf"


def test_push_bytes_and_never_ttl_and_env_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_HUB_SESSION_ID", "ses_env")
    client, rec = make_client(ok_artifact)
    client.push(b"abc", filename="x.txt", ttl="never", content_type="text/x-custom")
    fields, file = parse_multipart(rec.last)
    assert fields["session_id"] == "ses_env"
    assert fields["never_expires"] == "true"
    assert file["data"] == b"abc" and file["content_type"] == "text/x-custom"
    assert "agent_id" not in fields


def test_push_dict_sends_json() -> None:
    client, rec = make_client(ok_artifact)
    client.push_dict({"results": [1, 2, 3], "score": 0.95}, filename="results.json", session_id="s")
    fields, file = parse_multipart(rec.last)
    assert json.loads(file["data"]) == {"results": [1, 2, 3], "score": 0.95}
    assert file["filename"] == "results.json"
    assert fields["content_type"] == "application/json"


def test_push_version_goes_to_versions() -> None:
    client, rec = make_client(ok_artifact)
    client.push_version("art_1", b"v2", metadata={"version": "2.0"})
    assert rec.last.url.path == "/v1/artifacts/art_1/versions"
    fields, file = parse_multipart(rec.last)
    assert json.loads(fields["metadata"]) == {"version": "2.0"}
    assert "name" not in fields and file["data"] == b"v2"


def test_list_page_query_parameters() -> None:
    client, rec = make_client(lambda r: httpx.Response(200, json={"data": [], "next_cursor": None}))
    page = client.list_page(
        session_id="run_q4",
        metadata={"model": "m", "n": 1},
        labels={"stage": "x"},
        tags=["a", "b"],
        pinned=True,
        created_after=datetime(2026, 1, 1, tzinfo=UTC),
        limit=10,
        cursor="c1",
        content_type="application/pdf",
    )
    assert page.data == [] and page.next_cursor is None
    params = rec.last.url.params
    assert params["session_id"] == "run_q4"
    assert json.loads(params["metadata"]) == {"model": "m", "n": 1}
    assert params["label.stage"] == "x"
    assert params.get_list("tag") == ["a", "b"]
    assert params["pinned"] == "true"
    assert params["created_after"] == "2026-01-01T00:00:00+00:00"
    assert (params["limit"], params["cursor"]) == ("10", "c1")
    assert params["content_type"] == "application/pdf"


def test_list_defaults_to_configured_session_unless_star() -> None:
    client, rec = make_client(
        lambda r: httpx.Response(200, json={"data": [], "next_cursor": None}), session_id="ses_d"
    )
    list(client.list())
    assert rec.last.url.params["session_id"] == "ses_d"
    list(client.list(session_id="*"))
    assert "session_id" not in rec.last.url.params
    list(client.list_shared())
    assert rec.last.url.path == "/v1/shared" and "session_id" not in rec.last.url.params


def test_iterating_asks_for_pages_of_200_unless_told() -> None:
    client, rec = make_client(
        lambda r: httpx.Response(200, json={"data": [], "next_cursor": None}), session_id="s"
    )
    list(client.list())
    assert rec.last.url.params["limit"] == "200"
    list(client.list(page_size=20))
    assert rec.last.url.params["limit"] == "20"
    list(client.list(limit=30))
    assert rec.last.url.params["limit"] == "30"


def _route(request: httpx.Request) -> httpx.Response:
    method = request.method
    link = {"id": "lnk_1", "url": "http://hub.test/l/lnk_1?sig=x", "artifact_id": "art_1"}
    link |= {"created_at": NOW, "expires_at": NOW}
    table: dict[tuple[str, str], Any] = {
        ("GET", "/v1/whoami"): {"tenant_id": "t1", "agent_id": "bot", "plan": "pro", "key_id": "k"},
        ("GET", "/health"): {"status": "ok"},
        ("POST", "/v1/sessions/run%2Fq4/seal"): {"tenant_id": "t1", "session_id": "run/q4"}
        | {"created_at": NOW, "sealed_at": NOW},
        ("GET", "/v1/sessions/s1"): {"tenant_id": "t1", "session_id": "s1", "created_at": NOW},
        ("GET", "/v1/artifacts/art_1"): artifact_json("art_1"),
        ("PATCH", "/v1/artifacts/art_1"): artifact_json("art_1", pinned=True),
        ("DELETE", "/v1/artifacts/art_1"): artifact_json("art_1", deleted_at=NOW),
        ("GET", "/v1/artifacts/art_1/versions"): {
            "data": [
                {"artifact_id": "art_1", "version": 1, "sha256": "0" * 64}
                | {"size_bytes": 3, "created_at": NOW}
            ]
        },
        ("DELETE", "/v1/artifacts/art_1/versions/2"): None,
        ("GET", "/v1/artifacts/art_1/download-url"): {"url": "http://s/1", "expires_at": NOW},
        ("POST", "/v1/artifacts/art_1/share"): {"artifact_id": "art_1", "agents": ["a"]},
        ("POST", "/v1/artifacts/art_1/unshare"): {"artifact_id": "art_1"},
        ("GET", "/v1/artifacts/art_1/access"): {"artifact_id": "art_1", "groups": ["g"]},
        ("POST", "/v1/artifacts/art_1/extend-ttl"): artifact_json("art_1"),
        ("POST", "/v1/artifacts/art_1/links"): link,
        ("DELETE", "/v1/links/lnk_1"): None,
        ("POST", "/v1/artifacts/upload-url"): {
            "id": "upl_1",
            "url": "http://hub.test/v1/uploads/upl_1",
        }
        | {"expires_at": NOW},
        ("POST", "/v1/artifacts/upl_1/complete"): artifact_json("art_1"),
    }
    body = table[(method, request.url.raw_path.decode().split("?")[0])]
    if body is None:
        return httpx.Response(204)
    return httpx.Response(201 if method == "POST" else 200, json=body)


def test_every_endpoint_builds_the_contract_request() -> None:
    client, rec = make_client(_route)
    assert isinstance(client.whoami(), WhoAmI)
    assert client.health() == {"status": "ok"}
    assert "authorization" not in rec.last.headers  # /health needs no key
    assert isinstance(client.seal_session("run/q4"), Session)
    assert client.get_session("s1").session_id == "s1"
    assert client.get("art_1").id == "art_1"
    assert client.update("art_1", pinned=True, metadata={"a": 1}).pinned
    assert json.loads(rec.last.content) == {"pinned": True, "metadata": {"a": 1}}
    assert client.delete("art_1").deleted
    versions = client.versions("art_1")
    assert isinstance(versions[0], ArtifactVersion)
    assert client.delete_version("art_1", 2) is None
    signed = client.download_url("art_1", expires_in=60, version=2)
    assert isinstance(signed, SignedUrl)
    assert dict(rec.last.url.params) == {"expires_in": "60", "version": "2"}
    access = client.share("art_1", agents=["a"], groups=["g"])
    assert isinstance(access, Access)
    assert json.loads(rec.last.content) == {"agents": ["a"], "groups": ["g"]}
    client.unshare("art_1", agents=["a"])
    assert client.access("art_1").groups == ["g"]
    client.extend_ttl("art_1", 3600)
    assert json.loads(rec.last.content) == {"ttl_seconds": 3600}
    client.extend_ttl("art_1", "never")
    assert json.loads(rec.last.content) == {"never": True}
    link = client.create_link("art_1", expires_in=86400)
    assert isinstance(link, Link) and link.url.startswith("http://hub.test/l/")
    assert json.loads(rec.last.content) == {"expires_in": 86400}
    client.revoke_link("lnk_1")
    upload = client.create_upload("big.bin", 10, session_id="s")
    assert isinstance(upload, Upload)
    body = json.loads(rec.last.content)
    assert body["size_bytes"] == 10 and body["name"] == "big.bin" and body["session_id"] == "s"
    assert client.complete_upload("upl_1").id == "art_1"
    posts = [r for r in rec.requests if r.method == "POST"]
    keys = [r.headers.get("idempotency-key") for r in posts]
    assert all(keys) and len(set(keys)) == len(keys)
    assert all(r.headers["user-agent"].startswith("artifact-hub-python/") for r in rec.requests)


async def test_async_client_builds_the_same_requests(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    recorder = Recorder(lambda r: ok_artifact(r) if r.url.path == "/v1/artifacts" else _route(r))
    async with AsyncClient(
        api_key="k", base_url="http://hub.test", transport=httpx.MockTransport(recorder)
    ) as client:
        await client.push(path, session_id="s")
        fields, file = parse_multipart(recorder.last)
        assert file["data"] == b"hello" and fields["name"] == "notes.txt"
        assert (await client.whoami()).plan == "pro"
        assert (await client.create_link("art_1")).id == "lnk_1"
        assert json.loads(recorder.last.content) == {}


def test_lineage_is_a_get_and_parses_the_graph() -> None:
    graph = {
        "artifact_id": "art_1",
        "nodes": [
            {"artifact_id": "art_1", "name": "out.json"},
            {"artifact_id": "art_0", "hidden": True},
        ],
        "edges": [{"source": "art_0", "source_version": 1, "target": "art_1", "target_version": 1}],
        "upstream": ["art_0"],
    }
    client, rec = make_client(lambda r: httpx.Response(200, json=graph))
    answer = client.lineage("art/1")
    assert rec.last.method == "GET" and rec.last.url.raw_path == b"/v1/artifacts/art%2F1/lineage"
    assert answer.upstream == ["art_0"] and answer.nodes[1].hidden and answer.downstream == []
    assert answer.edges[0].source == "art_0" and answer.edges[0].run_id is None
