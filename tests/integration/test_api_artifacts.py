"""The artifact endpoints of docs/rest-api.md, over HTTP, on both stacks."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.integration.api_support import Api, api, b64

from artifact_hub.api import ingest

__all__ = ["api"]  # the fixture, imported for pytest


def error_code(response: httpx.Response, status: int) -> str:
    """The error code, after checking the status and the error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "status"} <= set(body["error"])
    assert body["error"]["status"] == status
    return str(body["error"]["code"])


# ---------------------------------------------------------------------------- account


async def test_whoami_and_health(api: Api) -> None:
    me = (await api.request("owner", "GET", "/v1/whoami")).json()
    assert me == {
        "tenant_id": "acme",
        "tenant_name": "Acme",
        "agent_id": "alice",
        "groups": ["team"],
        "namespace": "default",
        "plan": "enterprise",
        "key_id": api.key_ids["owner"],
        "admin": False,
    }
    assert (await api.request("admin", "GET", "/v1/whoami")).json()["admin"] is True
    assert (await api.request(None, "GET", "/health")).json()["status"] == "ok"


# ---------------------------------------------------------------------------- uploads


async def test_multipart_upload_and_download(api: Api) -> None:
    data = b"col\n1\n2\n" * 1000
    response = await api.request(
        "owner",
        "POST",
        "/v1/artifacts",
        data={
            "session_id": "ses_1",
            "kind": "dataset",
            "metadata": json.dumps({"rows": 2, "src": "x"}),
            "labels": json.dumps({"stage": "raw"}),
            "tags": json.dumps(["a", "b"]),
            "metrics": json.dumps({"acc": 0.5}),
            "pinned": "true",
            "ttl_seconds": "3600",
            "run_id": "run-1",
            "agent_id": "alice",
        },
        files={"file": ("table.csv", data, "text/csv")},
    )
    assert response.status_code == 201, response.text
    art = response.json()
    assert response.headers["location"] == f"/v1/artifacts/{art['id']}"
    assert art["id"] == art["artifact_id"] and art["id"].startswith("art_")
    assert (art["name"], art["filename"], art["content_type"]) == ("table.csv",) * 2 + ("text/csv",)
    assert (art["agent_id"], art["namespace"], art["session_id"]) == ("alice", "default", "ses_1")
    assert art["metadata"] == {"rows": 2, "src": "x"} and art["labels"] == {"stage": "raw"}
    assert art["tags"] == ["a", "b"] and art["metrics"] == {"acc": 0.5}
    assert art["pinned"] is True and art["run_id"] == "run-1" and art["kind"] == "dataset"
    assert art["size_bytes"] == len(data)
    assert art["sha256"] == hashlib.sha256(data).hexdigest()
    expires = datetime.fromisoformat(art["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)

    # read-after-write on every read endpoint
    assert (await api.request("owner", "GET", f"/v1/artifacts/{art['id']}")).json() == art
    content = await api.request("owner", "GET", f"/v1/artifacts/{art['id']}/content")
    assert content.status_code == 200 and content.content == data
    assert content.headers["content-type"].startswith("text/csv")
    assert content.headers["content-length"] == str(len(data))
    assert content.headers["etag"] == f'"{art["sha256"]}"'
    assert content.headers["x-content-sha256"] == art["sha256"]
    assert content.headers["x-artifact-version"] == "1"
    assert "table.csv" in content.headers["content-disposition"]
    cached = await api.request(
        "owner",
        "GET",
        f"/v1/artifacts/{art['id']}/content",
        headers={"If-None-Match": content.headers["etag"]},
    )
    assert cached.status_code == 304 and cached.content == b""
    listed = (await api.request("owner", "GET", "/v1/artifacts")).json()
    assert [a["id"] for a in listed["data"]] == [art["id"]]


async def test_multipart_defaults_and_repeated_tags(api: Api) -> None:
    response = await api.request(
        "owner",
        "POST",
        "/v1/artifacts",
        data={"tags": ["x", "y"]},
        files={"file": ("notes.md", b"# hi")},
    )
    art = response.json()
    assert response.status_code == 201, art
    assert art["name"] == "notes.md" and art["tags"] == ["x", "y"]
    assert art["content_type"] == "text/markdown"  # guessed from the name
    # a name field wins over the part's filename; an explicit type over the guess
    response = await api.request(
        "owner",
        "POST",
        "/v1/artifacts",
        data={"name": "renamed.bin", "content_type": "application/x-thing"},
        files={"file": ("x.txt", b"...")},
    )
    assert response.json()["name"] == "renamed.bin"
    assert response.json()["content_type"] == "application/x-thing"


async def test_json_base64_upload(api: Api) -> None:
    data = bytes(range(256)) * 4
    art = await api.push(
        data=data,
        name="blob.bin",
        content_type="application/octet-stream",
        sha256=hashlib.sha256(data).hexdigest(),
        never_expires=True,
        labels={"k": "v"},
    )
    assert art["size_bytes"] == len(data) and art["expires_at"] is None
    content = await api.request("owner", "GET", f"/v1/artifacts/{art['id']}/content")
    assert content.content == data

    async def post(**kw: Any) -> httpx.Response:
        return await api.request("owner", "POST", "/v1/artifacts", **kw)

    wrong = await post(json={"content_base64": b64(b"x"), "sha256": "0" * 64})
    assert error_code(wrong, 422) == "checksum_mismatch"
    assert error_code(await post(json={"content_base64": "@@not base64"}), 400) == (
        "invalid_request"
    )
    assert error_code(await post(json={"name": "no-content"}), 400) == "invalid_request"
    assert error_code(await post(json={"content_base64": "", "sha256": "XYZ"}), 400) == (
        "invalid_request"
    )
    assert error_code(await post(json=[1, 2]), 400) == "invalid_request"
    assert error_code(await post(content=b"{nope", headers=_json_type()), 400) == (
        "invalid_request"
    )
    assert error_code(await post(content=b"raw", headers={"Content-Type": "text/plain"}), 400) == (
        "invalid_request"
    )
    unknown = await post(json={"content_base64": b64(b"x"), "colour": "red"})
    assert error_code(unknown, 422) == "invalid_request"
    both = await post(json={"content_base64": b64(b"x"), "ttl_seconds": 5, "never_expires": True})
    assert error_code(both, 400) == "invalid_request"
    bad_meta = await post(json={"content_base64": b64(b"x"), "metadata": {"1bad": 1}})
    assert error_code(bad_meta, 400) == "invalid_request"
    big_meta = await post(json={"content_base64": b64(b"x"), "metadata": {"k": "v" * 9000}})
    assert error_code(big_meta, 400) == "invalid_request"
    # none of the failures left an artifact behind
    listed = (await api.request("owner", "GET", "/v1/artifacts")).json()["data"]
    assert [a["id"] for a in listed] == [art["id"]]


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


async def test_agent_and_namespace_come_from_the_key(api: Api) -> None:
    other_agent = await api.request(
        "owner", "POST", "/v1/artifacts", json={"content_base64": b64(b"x"), "agent_id": "bob"}
    )
    assert error_code(other_agent, 403) == "forbidden"
    other_ns = await api.request(
        "owner", "POST", "/v1/artifacts", json={"content_base64": b64(b"x"), "namespace": "ns2"}
    )
    assert error_code(other_ns, 403) == "forbidden"
    multipart = await api.request(
        "owner", "POST", "/v1/artifacts", data={"agent_id": "bob"}, files={"file": b"x"}
    )
    assert error_code(multipart, 403) == "forbidden"
    in_ns2 = await api.push("owner_ns2", agent_id="alice")
    assert (in_ns2["namespace"], in_ns2["agent_id"]) == ("ns2", "alice")
    by_admin = await api.push("admin", namespace="ns3")
    assert by_admin["namespace"] == "ns3"


async def test_multipart_errors(api: Api) -> None:
    async def post(**kw: Any) -> httpx.Response:
        return await api.request("owner", "POST", "/v1/artifacts", **kw)

    no_file = await post(data={"name": "x"})
    assert error_code(no_file, 400) == "invalid_request"  # form-urlencoded: not an upload
    boundary = "XyZ"
    fields_after_file = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        "hello\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="name"\r\n\r\n'
        "late.txt\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    late = await post(
        content=fields_after_file,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert error_code(late, 400) == "invalid_request"
    only_fields = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    missing = await post(
        content=only_fields,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert error_code(missing, 400) == "invalid_request"
    truncated = await post(
        content=fields_after_file[:60],
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert error_code(truncated, 400) == "invalid_request"
    no_boundary = await post(content=b"x", headers={"Content-Type": "multipart/form-data"})
    assert error_code(no_boundary, 400) == "invalid_request"
    bad_json_field = await post(data={"metadata": "{not json"}, files={"file": b"x"})
    assert error_code(bad_json_field, 400) == "invalid_request"
    base64_field = await post(data={"content_base64": "eA=="}, files={"file": b"x"})
    assert error_code(base64_field, 400) == "invalid_request"
    assert (await api.request("owner", "GET", "/v1/artifacts")).json()["data"] == []


async def test_size_limits(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "MULTIPART_MAX_BYTES", 1000)
    monkeypatch.setattr(ingest, "JSON_MAX_BYTES", 100)

    async def multipart(size: int) -> httpx.Response:
        return await api.request(
            "owner", "POST", "/v1/artifacts", files={"file": ("f.bin", b"m" * size)}
        )

    async def as_json(size: int) -> httpx.Response:
        return await api.request(
            "owner", "POST", "/v1/artifacts", json={"content_base64": b64(b"j" * size)}
        )

    assert (await multipart(1000)).status_code == 201
    assert error_code(await multipart(1001), 413) == "file_too_large"
    assert (await as_json(100)).status_code == 201
    assert error_code(await as_json(101), 413) == "file_too_large"
    assert error_code(await as_json(10_000), 413) == "file_too_large"  # body cap, unparsed
    early = await api.request(
        "owner",
        "POST",
        "/v1/artifacts",
        content=b"",
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(50 * 1024 * 1024),
        },
    )
    assert error_code(early, 413) == "file_too_large"
    listed = (await api.request("owner", "GET", "/v1/artifacts")).json()["data"]
    assert sorted(a["size_bytes"] for a in listed) == [100, 1000]
    # new versions have the same limits
    art_id = listed[0]["id"]
    version = await api.request(
        "owner", "POST", f"/v1/artifacts/{art_id}/versions", files={"file": b"v" * 1001}
    )
    assert error_code(version, 413) == "file_too_large"


async def test_multipart_streams_a_large_upload(api: Api) -> None:
    data = (b"0123456789abcdef" * 65536) * 3  # 3 MiB, many chunks

    async def body() -> Any:
        boundary = "bnd"
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig\r\n'.encode()
        yield (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for start in range(0, len(data), 100_000):
            yield data[start : start + 100_000]
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await api.request(
        "owner",
        "POST",
        "/v1/artifacts",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=bnd"},
    )
    assert response.status_code == 201, response.text
    art = response.json()
    assert art["size_bytes"] == len(data) and art["name"] == "big"
    assert art["content_type"] == "application/octet-stream"  # the part's own type
    assert art["sha256"] == hashlib.sha256(data).hexdigest()
    content = await api.request("owner", "GET", f"/v1/artifacts/{art['id']}/content")
    assert content.content == data
    assert content.headers["content-type"] == "application/octet-stream"


# ---------------------------------------------------------------------------- listing


async def test_list_filters(api: Api) -> None:
    a = await api.push(
        session_id="s1",
        kind="text",
        content_type="text/plain",
        run_id="r1",
        tags=["x", "y"],
        labels={"stage": "raw", "n": 1},
        metadata={"model": "m1", "score": 3},
        pinned=True,
    )
    b = await api.push(name="b.json", session_id="s2", kind="json", tags=["x"], run_id="r2")
    c = await api.push("owner_ns2", name="c.txt", metadata={"model": "m2"})
    d = await api.push(name="d.txt")
    await api.request("owner", "DELETE", f"/v1/artifacts/{d['id']}")
    mine = await api.push("peer", name="bobs.txt")  # not visible to alice

    async def ids(role: str = "owner", **params: Any) -> list[str]:
        response = await api.request(role, "GET", "/v1/artifacts", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    assert await ids() == [c["id"], b["id"], a["id"]]  # every namespace, newest first
    assert await ids(namespace="ns2") == [c["id"]]
    assert await ids(namespace="default") == [b["id"], a["id"]]
    assert await ids(session_id="s1") == [a["id"]]
    assert await ids(kind="json") == [b["id"]]
    assert await ids(name="b.json") == [b["id"]]
    assert await ids(content_type="text/plain") == [c["id"], a["id"]]  # c: guessed from .txt
    assert await ids(content_type="application/json") == [b["id"]]
    assert await ids(run_id="r2") == [b["id"]]
    assert await ids(agent_id="alice") == [c["id"], b["id"], a["id"]]
    assert await ids(agent_id="bob") == []
    assert await ids(tag="x") == [b["id"], a["id"]]
    assert await ids(tag=["x", "y"]) == [a["id"]]
    assert await ids(**{"label.stage": "raw"}) == [a["id"]]
    assert await ids(**{"label.n": "1"}) == [a["id"]]  # JSON-parsed: the number 1
    assert await ids(**{"metadata.model": "m2"}) == [c["id"]]
    assert await ids(**{"metadata.score": "3"}) == [a["id"]]
    assert await ids(metadata=json.dumps({"model": "m1", "score": 3})) == [a["id"]]
    assert await ids(pinned="true") == [a["id"]]
    assert await ids(pinned="false") == [c["id"], b["id"]]
    assert await ids(include_deleted="true") == [d["id"], c["id"], b["id"], a["id"]]
    after = datetime.fromisoformat(b["created_at"])
    assert await ids(created_after=after.isoformat()) == [c["id"], b["id"]]
    assert await ids(created_before=after.isoformat()) == [a["id"]]
    naive = after.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert await ids(created_after=naive) == [c["id"], b["id"]]  # naive means UTC
    assert await ids("peer") == [mine["id"]]
    assert await ids("admin") == [mine["id"], c["id"], b["id"], a["id"]]

    async def bad(**params: Any) -> str:
        response = await api.request("owner", "GET", "/v1/artifacts", params=params)
        return error_code(response, response.status_code)

    assert await bad(limit=0) == "invalid_request"
    assert await bad(limit=201) == "invalid_request"
    assert await bad(offset=-1) == "invalid_request"
    assert await bad(cursor="garbage!") == "invalid_request"
    assert await bad(metadata="{nope") == "invalid_request"
    assert await bad(metadata="[1]") == "invalid_request"
    assert await bad(pinned="maybe") == "invalid_request"
    assert await bad(created_after="yesterday") == "invalid_request"


async def test_pagination(api: Api) -> None:
    made = [(await api.push(name=f"p{i}.txt", data=str(i).encode()))["id"] for i in range(7)]
    newest_first = made[::-1]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await api.request("owner", "GET", "/v1/artifacts", params=params)).json()
        seen += [a["id"] for a in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        await api.push(name="late.txt")  # inserts do not disturb the walk
    assert seen == newest_first and pages == 3
    default = (await api.request("owner", "GET", "/v1/artifacts")).json()
    assert len(default["data"]) == 9 and default["next_cursor"] is None
    offset = await api.request("owner", "GET", "/v1/artifacts", params={"offset": 7, "limit": 50})
    assert [a["id"] for a in offset.json()["data"]] == made[1::-1]
    max_page = await api.request("owner", "GET", "/v1/artifacts", params={"limit": 200})
    assert max_page.status_code == 200


# ---------------------------------------------------------------------------- one artifact


async def test_get_patch_delete(api: Api) -> None:
    art = await api.push(metadata={"a": 1}, tags=["t"])
    url = f"/v1/artifacts/{art['id']}"
    patched = await api.request(
        "owner",
        "PATCH",
        url,
        json={"metadata": {"b": 2}, "labels": {"l": "v"}, "tags": ["u"], "metrics": {"m": 1.5}},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["metadata"], body["labels"], body["tags"], body["metrics"]) == (
        {"b": 2},
        {"l": "v"},
        ["u"],
        {"m": 1.5},
    )
    assert body["version"] == 1 and body["pinned"] is False
    pinned = await api.request("owner", "PATCH", url, json={"pinned": True})
    assert pinned.json()["pinned"] is True and pinned.json()["metadata"] == {"b": 2}
    assert error_code(await api.request("owner", "PATCH", url, json={}), 400) == "invalid_request"
    unknown = await api.request("owner", "PATCH", url, json={"name": "x"})
    assert error_code(unknown, 422) == "invalid_request"
    bad_meta = await api.request("owner", "PATCH", url, json={"metadata": {"-x": 1}})
    assert error_code(bad_meta, 400) == "invalid_request"

    deleted = await api.request("owner", "DELETE", url)
    assert deleted.status_code == 200 and deleted.json()["deleted_at"] is not None
    for method, path in (
        ("GET", url),
        ("GET", f"{url}/content"),
        ("DELETE", url),
        ("GET", f"{url}/versions"),
    ):
        gone = await api.request("owner", method, path)
        assert error_code(gone, 410) == "artifact_already_deleted"
    missing = await api.request("owner", "GET", "/v1/artifacts/art_doesnotexist0000")
    assert error_code(missing, 404) == "artifact_not_found"
    unknown_route = await api.request("owner", "GET", "/v1/nothing-here")
    assert unknown_route.status_code == 404 and "error" in unknown_route.json()


async def test_versions(api: Api) -> None:
    art = await api.push(data=b"one", content_type="text/plain", metadata={"v": 1})
    url = f"/v1/artifacts/{art['id']}"
    two = await api.request(
        "owner",
        "POST",
        f"{url}/versions",
        data={"metadata": json.dumps({"v": 2})},
        files={"file": ("two.txt", b"two")},
    )
    assert two.status_code == 201, two.text
    assert two.json()["version"] == 2 and two.json()["name"] == art["name"]
    three = await api.request(
        "owner",
        "POST",
        f"{url}/versions",
        json={"content_base64": b64(b"three"), "content_type": "text/x-three", "agent_id": "alice"},
    )
    assert three.status_code == 201 and three.json()["version"] == 3
    assert three.json()["content_type"] == "text/x-three"

    listed = (await api.request("owner", "GET", f"{url}/versions")).json()["data"]
    assert [(v["version"], v["size_bytes"]) for v in listed] == [(1, 3), (2, 3), (3, 5)]
    assert listed[1]["metadata"] == {"v": 2}
    for version, expected in ((1, b"one"), (2, b"two"), (3, b"three")):
        by_path = await api.request("owner", "GET", f"{url}/versions/{version}/content")
        assert by_path.content == expected
        assert by_path.headers["x-artifact-version"] == str(version)
        by_query = await api.request("owner", "GET", f"{url}/content", params={"version": version})
        assert by_query.content == expected
    assert (await api.request("owner", "GET", f"{url}/content")).content == b"three"

    assert (await api.request("owner", "DELETE", f"{url}/versions/1")).status_code == 204
    gone = await api.request("owner", "GET", f"{url}/versions/1/content")
    assert error_code(gone, 410) == "artifact_already_deleted"
    listed = (await api.request("owner", "GET", f"{url}/versions")).json()["data"]
    assert [v["version"] for v in listed] == [2, 3]
    latest = await api.request("owner", "DELETE", f"{url}/versions/3")
    assert error_code(latest, 409) == "conflict"
    missing = await api.request("owner", "GET", f"{url}/versions/9/content")
    assert error_code(missing, 404) == "version_not_found"
    zero = await api.request("owner", "GET", f"{url}/versions/0/content")
    assert error_code(zero, 422) == "invalid_request"
    not_for_versions = await api.request(
        "owner", "POST", f"{url}/versions", json={"content_base64": b64(b"4"), "tags": ["x"]}
    )
    assert error_code(not_for_versions, 400) == "invalid_request"
    wrong_sum = await api.request(
        "owner", "POST", f"{url}/versions", json={"content_base64": b64(b"4"), "sha256": "1" * 64}
    )
    assert error_code(wrong_sum, 422) == "checksum_mismatch"
    assert (await api.request("owner", "GET", url)).json()["version"] == 3


async def test_share_unshare_access_and_shared_list(api: Api) -> None:
    art = await api.push(name="shared.txt", data=b"secret")
    await api.push(name="private.txt")
    url = f"/v1/artifacts/{art['id']}"
    access = await api.request("owner", "GET", f"{url}/access")
    assert access.json() == {"artifact_id": art["id"], "owner": "alice", "agents": [], "groups": []}
    granted = await api.request(
        "owner", "POST", f"{url}/share", json={"agents": ["carol"], "groups": ["readers"]}
    )
    assert granted.status_code == 200
    assert granted.json()["agents"] == ["carol"] and granted.json()["groups"] == ["readers"]
    for role in ("reader", "member"):
        assert (await api.request(role, "GET", f"{url}/content")).content == b"secret"
        shared = (await api.request(role, "GET", "/v1/shared")).json()["data"]
        assert [a["id"] for a in shared] == [art["id"]]
        listed = (await api.request(role, "GET", "/v1/artifacts")).json()["data"]
        assert [a["id"] for a in listed] == [art["id"]]
        assert (await api.request(role, "GET", f"{url}/access")).status_code == 200
        # readers cannot change it
        for method, path, body in (
            ("PATCH", url, {"pinned": True}),
            ("DELETE", url, None),
            ("POST", f"{url}/share", {"agents": ["bob"]}),
            ("POST", f"{url}/extend-ttl", {"never": True}),
            ("POST", f"{url}/versions", {"content_base64": b64(b"x")}),
        ):
            response = await api.request(role, method, path, json=body)
            assert error_code(response, 403) == "forbidden", (role, method, path)
    assert (await api.request("owner", "GET", "/v1/shared")).json()["data"] == []
    alias = await api.request("owner", "POST", f"{url}/unshare", json={"with_agents": ["carol"]})
    assert alias.json()["agents"] == [] and alias.json()["groups"] == ["readers"]
    gone = await api.request("reader", "GET", url)
    assert error_code(gone, 404) == "artifact_not_found"
    empty = await api.request("owner", "POST", f"{url}/share", json={})
    assert error_code(empty, 400) == "invalid_request"
    # the admin may change what it does not own
    by_admin = await api.request("admin", "PATCH", url, json={"pinned": True})
    assert by_admin.status_code == 200 and by_admin.json()["pinned"] is True


async def test_extend_ttl(api: Api) -> None:
    art = await api.push(ttl_seconds=60)
    url = f"/v1/artifacts/{art['id']}/extend-ttl"
    extended = await api.request("owner", "POST", url, json={"ttl_seconds": 7200})
    assert extended.status_code == 200, extended.text
    left = datetime.fromisoformat(extended.json()["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=1, minutes=59) < left <= timedelta(hours=2)
    alias = await api.request("owner", "POST", url, json={"expires_in": 60})
    assert alias.status_code == 200
    never = await api.request("owner", "POST", url, json={"never": True})
    assert never.json()["expires_at"] is None
    for body in ({}, {"never": True, "ttl_seconds": 5}, {"ttl_seconds": 0}):
        response = await api.request("owner", "POST", url, json=body)
        assert error_code(response, response.status_code) == "invalid_request"
        assert response.status_code in (400, 422)


async def test_sessions(api: Api) -> None:
    await api.push(session_id="ses_a")
    got = await api.request("owner", "GET", "/v1/sessions/ses_a")
    assert got.status_code == 200 and got.json()["sealed_at"] is None
    sealed = await api.request("owner", "POST", "/v1/sessions/ses_a/seal")
    assert sealed.status_code == 200 and sealed.json()["sealed_at"] is not None
    again = await api.request("owner", "POST", "/v1/sessions/ses_a/seal")
    assert again.json() == sealed.json()
    late = await api.request(
        "owner", "POST", "/v1/artifacts", json={"content_base64": b64(b"x"), "session_id": "ses_a"}
    )
    assert error_code(late, 409) == "session_sealed"
    missing = await api.request("owner", "GET", "/v1/sessions/ses_none")
    assert error_code(missing, 404) == "session_not_found"
    # sealing a session nothing was written to yet is allowed (the id is the client's)
    fresh = await api.request("owner", "POST", "/v1/sessions/ses_new/seal")
    assert fresh.status_code == 200 and fresh.json()["session_id"] == "ses_new"
