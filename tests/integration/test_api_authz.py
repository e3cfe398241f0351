"""Authorization: every /v1 endpoint needs a live key, and no one reads or changes what is
neither theirs nor shared with them (another agent of the tenant, or another tenant)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute
from tests.integration.api_support import Api, api, b64

from artifact_hub.api.deps import get_caller
from artifact_hub.api.routes import ROUTERS

__all__ = ["api"]  # the fixture, imported for pytest

# The only /v1 URLs without an API key: the signature in the URL is the credential.
PUBLIC_V1 = {"/v1/signed/{artifact_id}/{version}", "/v1/uploads/{upload_id}"}
PATH_VALUES = {
    "artifact_id": "art_aaaaaaaaaaaaaaaa",
    "upload_id": "upl_aaaaaaaaaaaaaaaa",
    "link_id": "lnk_aaaaaaaaaaaaaaaa",
    "session_id": "ses_a",
    "version": "1",
}


def _needs_caller(dependant: Any) -> bool:
    return any(dep.call is get_caller or _needs_caller(dep) for dep in dependant.dependencies)


def _v1_routes(api: Api) -> list[APIRoute]:
    # The mounted routers (FastAPI may include them lazily, so app.routes is not flat).
    return [
        route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/v1/")
    ]


async def test_every_v1_endpoint_needs_a_live_key(api: Api) -> None:
    routes = _v1_routes(api)
    public = {r.path for r in routes if not _needs_caller(r.dependant)}
    assert public <= PUBLIC_V1, f"endpoints without authentication: {public - PUBLIC_V1}"
    guarded = [r for r in routes if _needs_caller(r.dependant)]
    assert len(guarded) >= 18  # whoami, artifacts, versions, sharing, sessions, links, uploads

    revoked_id, revoked = await api.hub.accounts.create_key("acme", "alice")
    assert await api.hub.accounts.revoke_key(revoked_id)
    key_id = api.key_ids["owner"]
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {api.keys['owner']}"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer ak_live_"},
        {"Authorization": "Bearer ak_live_short_secret"},
        {"Authorization": f"Bearer ak_live_{key_id}_wrong-secret"},
        {"Authorization": f"Bearer {api.keys['owner']}x"},
        {"Authorization": f"Bearer {revoked}"},
    ]
    checked = 0
    for route in guarded:
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], route.path)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            for headers in bad_headers:
                response = await api.client.request(
                    method, path, headers=headers, json={"content_base64": b64(b"x")}
                )
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.json() == {
                    "error": {
                        "code": "unauthorized",
                        "message": response.json()["error"]["message"],
                        "status": 401,
                    }
                }
                checked += 1
    assert checked >= 18 * len(bad_headers)
    # a key works until the moment it is revoked
    key_id, key = await api.hub.accounts.create_key("acme", "erin")
    me = await api.client.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    await api.hub.accounts.revoke_key(key_id)
    me = await api.client.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 401


async def _route_exists(api: Api, method: str, path: str) -> bool:
    return any(r.path == path and method in r.methods for r in _v1_routes(api))


async def _setup(api: Api) -> dict[str, Any]:
    art = await api.push(data=b"v1", session_id="ses_run", metadata={"k": 1})
    art_id = art["id"]
    v2 = await api.request(
        "owner", "POST", f"/v1/artifacts/{art_id}/versions", json={"content_base64": b64(b"v2")}
    )
    assert v2.status_code == 201
    shared = await api.request(
        "owner", "POST", f"/v1/artifacts/{art_id}/share", json={"agents": ["carol"]}
    )
    assert shared.status_code == 200
    found: dict[str, Any] = {"art": art_id, "link": None, "upload": None}
    if await _route_exists(api, "POST", "/v1/artifacts/{artifact_id}/links"):
        link = await api.request("owner", "POST", f"/v1/artifacts/{art_id}/links", json={})
        assert link.status_code == 201, link.text
        found["link"] = link.json()["id"]
    if await _route_exists(api, "POST", "/v1/artifacts/upload-url"):
        upload = await api.request(
            "owner",
            "POST",
            "/v1/artifacts/upload-url",
            json={"filename": "big.bin", "size_bytes": 3, "content_type": "text/plain"},
        )
        assert upload.status_code == 201, upload.text
        found["upload"] = upload.json()["id"]
    return found


def _walk(ids: dict[str, Any], agent: str) -> list[tuple[str, str, dict[str, Any], set[str]]]:
    """Every endpoint on someone else's artifact: (method, path, request kwargs, codes)."""
    url = f"/v1/artifacts/{ids['art']}"
    art = {"artifact_not_found", "forbidden"}
    steps: list[tuple[str, str, dict[str, Any], set[str]]] = [
        ("GET", url, {}, art),
        ("PATCH", url, {"json": {"pinned": True}}, art),
        ("PATCH", url, {"json": {"metadata": {"k": 2}}}, art),
        ("DELETE", url, {}, art),
        ("GET", f"{url}/content", {}, art),
        ("GET", f"{url}/content", {"params": {"version": 1}}, art),
        ("POST", f"{url}/versions", {"json": {"content_base64": b64(b"evil")}}, art),
        ("POST", f"{url}/versions", {"files": {"file": ("e.txt", b"evil")}}, art),
        ("GET", f"{url}/versions", {}, art),
        ("GET", f"{url}/versions/1/content", {}, art),
        ("GET", f"{url}/versions/2/content", {}, art),
        ("DELETE", f"{url}/versions/1", {}, art),
        ("POST", f"{url}/share", {"json": {"agents": [agent], "groups": ["team"]}}, art),
        ("POST", f"{url}/unshare", {"json": {"agents": ["carol"]}}, art),
        ("GET", f"{url}/access", {}, art),
        ("POST", f"{url}/extend-ttl", {"json": {"never": True}}, art),
        ("POST", f"{url}/extend-ttl", {"json": {"ttl_seconds": 1}}, art),
        ("POST", f"{url}/links", {"json": {}}, art),
        ("GET", f"{url}/download-url", {}, art),
    ]
    if agent != "alice":  # nobody writes as the owner's agent, whatever the body says
        impersonation = {"filename": "x.txt", "agent_id": "alice"}
        steps += [
            (
                "POST",
                "/v1/artifacts",
                {"json": {**impersonation, "content_base64": b64(b"x")}},
                {"forbidden"},
            ),
            (
                "POST",
                "/v1/artifacts/upload-url",
                {"json": {**impersonation, "size_bytes": 1}},
                {"forbidden"},
            ),
        ]
    if ids["link"]:
        steps.append(("DELETE", f"/v1/links/{ids['link']}", {}, {"link_not_found", "forbidden"}))
    if ids["upload"]:
        steps.append(
            (
                "POST",
                f"/v1/artifacts/{ids['upload']}/complete",
                {},
                {"upload_not_found", "forbidden"},
            )
        )
    return steps


async def _assert_untouched(api: Api, ids: dict[str, Any]) -> None:
    url = f"/v1/artifacts/{ids['art']}"
    art = (await api.request("owner", "GET", url)).json()
    assert art["version"] == 2 and art["deleted_at"] is None and art["pinned"] is False
    assert art["metadata"] == {"k": 1} and art["expires_at"] is None
    access = (await api.request("owner", "GET", f"{url}/access")).json()
    assert access["agents"] == ["carol"] and access["groups"] == []
    versions = (await api.request("owner", "GET", f"{url}/versions")).json()["data"]
    assert [v["version"] for v in versions] == [1, 2]
    assert (await api.request("owner", "GET", f"{url}/content")).content == b"v2"
    session = (await api.request("owner", "GET", "/v1/sessions/ses_run")).json()
    assert session["sealed_at"] is None


async def test_no_one_else_reaches_an_artifact(api: Api) -> None:
    ids = await _setup(api)
    outsiders = {"peer": "bob", "member": "dave", "stranger": "alice"}
    walked = 0
    for role, agent in outsiders.items():
        for method, path, kwargs, codes in _walk(ids, agent):
            if not await _route_exists(api, method, _pattern(path, ids)):
                continue
            response = await api.request(role, method, path, **kwargs)
            assert response.status_code in (403, 404), (role, method, path, response.text)
            code = response.json()["error"]["code"]
            assert code in codes, (role, method, path, code)
            walked += 1
        await _assert_untouched(api, ids)
    assert walked >= 3 * 17

    # lists and the shared list show them nothing, whatever the filter
    for role in outsiders:
        for path, params in (
            ("/v1/artifacts", {}),
            ("/v1/artifacts", {"agent_id": "alice"}),
            ("/v1/artifacts", {"session_id": "ses_run"}),
            ("/v1/artifacts", {"metadata.k": "1", "include_deleted": "true"}),
            ("/v1/shared", {}),
        ):
            listed = await api.request(role, "GET", path, params=params)
            assert listed.status_code == 200 and listed.json()["data"] == [], (role, path)

    # nor can they write as the owner
    as_alice = await api.request(
        "peer", "POST", "/v1/artifacts", json={"content_base64": b64(b"x"), "agent_id": "alice"}
    )
    assert as_alice.status_code == 403 and as_alice.json()["error"]["code"] == "forbidden"

    # sessions belong to the tenant: another tenant sees none of them, and sealing its own
    # session of the same name leaves this one open
    missing = await api.request("stranger", "GET", "/v1/sessions/ses_run")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "session_not_found"
    own = await api.request("stranger", "POST", "/v1/sessions/ses_run/seal")
    assert own.status_code == 200 and own.json()["tenant_id"] == "globex"
    await _assert_untouched(api, ids)

    # the reader it was shared with can read, and only read
    reader = await api.request("reader", "GET", f"/v1/artifacts/{ids['art']}/content")
    assert reader.status_code == 200 and reader.content == b"v2"


def _pattern(path: str, ids: dict[str, Any]) -> str:
    """The route pattern of a concrete path (to skip endpoints not built yet)."""
    pattern = path.replace(ids["art"], "{artifact_id}")
    if ids["link"]:
        pattern = pattern.replace(ids["link"], "{link_id}")
    if ids["upload"]:
        pattern = pattern.replace(ids["upload"], "{upload_id}")
    return re.sub(r"/versions/\d+", "/versions/{version}", pattern)


async def test_owner_and_admin_reach_it(api: Api) -> None:
    ids = await _setup(api)
    url = f"/v1/artifacts/{ids['art']}"
    for role in ("owner", "admin"):
        for method, path, kwargs in (
            ("GET", url, {}),
            ("GET", f"{url}/content", {}),
            ("GET", f"{url}/versions", {}),
            ("GET", f"{url}/access", {}),
            ("PATCH", url, {"json": {"labels": {"by": role}}}),
        ):
            response = await api.request(role, method, path, **kwargs)
            assert response.status_code == 200, (role, method, path, response.text)
