"""Issue 12's newcomer stumbles, on both stacks: each test failed before its fix.

The SDK runs over the REST API in-process (httpx's ASGITransport); the service, the facade and
the step agents run on the same started hub.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.integration.api_support import Api, api, b64

from artifact_hub.adapters.index.stores.accounts import SqlAccountStore
from artifact_hub.api import create_app
from artifact_hub.client import AsyncClient
from artifact_hub.core.errors import SessionSealedError
from artifact_hub.facade import RunContext
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.accounts import AccountService

__all__ = ["api"]


def _sdk(env: Api, role: str = "owner") -> AsyncClient:
    transport = httpx.ASGITransport(app=create_app(env.hub))
    return AsyncClient(api_key=env.keys[role], base_url="http://hub", transport=transport)


def _code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


# ---------------------------------------------------------------------------- push(name=...)


async def test_push_takes_name_as_an_alias_of_filename(api: Api) -> None:
    async with _sdk(api) as client:
        artifact = await client.push(b"hello", name="x.txt")
        assert (artifact.name, artifact.content_type) == ("x.txt", "text/plain")
        same = await client.push(b"{}", name="a.json", filename="a.json")
        assert same.content_type == "application/json"
        # The Acenta namespace passes its own keywords through the same check.
        created = await client.artifact.create(name="r.csv", data=b"a,b\n")
        assert created.name == "r.csv" and created.content_type == "text/csv"


async def test_push_refuses_unknown_or_contradicting_keywords(api: Api) -> None:
    async with _sdk(api) as client:
        with pytest.raises(TypeError, match="nmae"):
            await client.push(b"x", nmae="x.txt")
        with pytest.raises(TypeError, match="name"):
            await client.push(b"x", name="a.txt", filename="b.txt")
        with pytest.raises(TypeError, match="colour"):
            await client.artifact.create(name="a.txt", data=b"x", colour="red")
        # Nothing was stored by the refused calls.
        assert [a async for a in client.list(session_id="*")] == []


# ---------------------------------------------------------------------------- versions' type


async def test_a_new_version_keeps_the_content_type_unless_given_one(api: Api) -> None:
    async with _sdk(api) as client:
        artifact = await client.push(b'{"v": 1}', filename="result.json")
        assert artifact.content_type == "application/json"
        v2 = await client.push_version(artifact.id, b'{"v": 2}')
        assert (v2.version, v2.content_type) == (2, "application/json")
        v3 = await client.artifact.update(artifact_id=artifact.id, data=b'{"v": 3}')
        assert (v3.version, v3.content_type) == (3, "application/json")
        v4 = await client.push_version(artifact.id, b"plain", content_type="text/plain")
        assert v4.content_type == "text/plain"
    # The JSON form of the API, without a content_type, keeps it too.
    response = await api.request(
        "owner",
        "POST",
        f"/v1/artifacts/{artifact.id}/versions",
        json={"content_base64": b64(b"again"), "name": "ignored.bin"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "text/plain"


# ---------------------------------------------------------------------------- sealed sessions


async def test_delete_in_a_sealed_session_is_refused(api: Api) -> None:
    first = await api.push(data=b"one", session_id="ses_sealed_delete")
    response = await api.request(
        "owner",
        "POST",
        f"/v1/artifacts/{first['id']}/versions",
        json={"content_base64": b64(b"two")},
    )
    assert response.status_code == 201, response.text
    sealed = await api.request("owner", "POST", "/v1/sessions/ses_sealed_delete/seal")
    assert sealed.status_code == 200, sealed.text
    delete = await api.request("owner", "DELETE", f"/v1/artifacts/{first['id']}")
    assert _code(delete, 409) == "session_sealed"
    one = await api.request("owner", "DELETE", f"/v1/artifacts/{first['id']}/versions/1")
    assert _code(one, 409) == "session_sealed"
    async with _sdk(api) as client:
        with pytest.raises(SessionSealedError):
            await client.delete(first["id"])
        assert (await client.get(first["id"])).deleted_at is None
    # The service refuses it for every caller, admins included.
    admin = Caller(tenant_id="acme", agent_id="ops", admin=True)
    with pytest.raises(SessionSealedError):
        await api.hub.service.delete(admin, first["id"])
    # Outside a sealed session, delete works as before.
    other = await api.push(data=b"free")
    assert (await api.request("owner", "DELETE", f"/v1/artifacts/{other['id']}")).status_code == 200


# ---------------------------------------------------------------------------- lookup by name


async def test_lookup_by_name_and_alias(api: Api) -> None:
    first = await api.push(name="model.pt", data=b"m1", session_id="ses_lookup")
    for data in (b"m2", b"m3"):
        response = await api.request(
            "owner",
            "POST",
            f"/v1/artifacts/{first['id']}/versions",
            json={"content_base64": b64(data)},
        )
        assert response.status_code == 201, response.text

    async def lookup(ref: str, role: str = "owner", **params: str) -> httpx.Response:
        return await api.request(role, "GET", "/v1/lookup", params={"ref": ref, **params})

    for ref, version in (("model.pt", 3), ("model.pt:latest", 3), ("model.pt:v1", 1)):
        found = await lookup(ref)
        assert found.status_code == 200, found.text
        body = found.json()
        assert (body["artifact_id"], body["version"], body["name"]) == (
            first["id"],
            version,
            "model.pt",
        )
        assert body["artifact"]["id"] == first["id"]
    assert (await lookup("model.pt", session_id="ses_lookup")).json()["version"] == 3
    assert _code(await lookup("model.pt", session_id="ses_other"), 404) == "artifact_not_found"
    assert _code(await lookup("model.pt:v9"), 404) == "version_not_found"
    assert _code(await lookup("nothing.bin"), 404) == "artifact_not_found"
    # Not visible: another agent it was not shared with, another tenant, another namespace.
    for role in ("peer", "stranger", "owner_ns2"):
        assert _code(await lookup("model.pt", role), 404) == "artifact_not_found"
    # A colon that is no alias is part of the name.
    odd = await api.push(name="run:7", data=b"x")
    assert (await lookup("run:7")).json()["artifact_id"] == odd["id"]
    # The newest artifact of a name wins.
    newer = await api.push(name="model.pt", data=b"other")
    assert (await lookup("model.pt")).json()["artifact_id"] == newer["id"]
    async with _sdk(api) as client:
        assert (await client.lookup("model.pt:v2", session_id="ses_lookup")).version == 2


# ---------------------------------------------------------------------------- plans


async def test_new_tenants_have_no_plan_limits_unless_opted_in(api: Api) -> None:
    tenant = await api.hub.accounts.create_tenant("selfhosted")
    assert tenant.plan == "unlimited"
    _, key = await api.hub.accounts.create_key("selfhosted", "me")
    caller = await api.hub.accounts.authenticate(key)
    assert caller.plan == "unlimited"
    # 11 MiB: over the free plan's 10 MiB per file (the upload path's own limit is higher).
    big = b"\0" * (11 * 1024 * 1024)
    stored = await api.hub.service.push(caller, big, name="model.bin")
    assert stored.size_bytes == len(big)
    # Plans are opt-in: a hub set to a default plan gives new tenants that plan.
    opted = AccountService(api.hub.db, SqlAccountStore(), default_plan="free")
    assert (await opted.create_tenant("metered")).plan == "free"
    assert (await opted.create_tenant("paying", plan="pro")).plan == "pro"


# ---------------------------------------------------------------------------- facade paths


async def test_run_context_takes_cache_dir_as_str(api: Api, tmp_path: Path) -> None:
    caller = Caller(tenant_id="acme", agent_id="alice")
    cache = tmp_path / "facade-cache"
    ctx = RunContext(run_id="r1", hub=api.hub, caller=caller, cache_dir=str(cache))
    facade = ctx.artifacts()
    saved = await facade.save_text("hello", name="greeting.txt")
    local = await facade.as_local_file(saved)
    assert Path(local).read_text() == "hello" and Path(local).is_relative_to(cache)
    staged = await facade.stage_path(".txt")
    assert Path(staged).is_relative_to(cache)
    Path(staged).write_text("staged")
    ingested = await facade.ingest_file(staged, kind="note")
    assert await facade.load_text_by_id(ingested.artifact_id) == "staged"
