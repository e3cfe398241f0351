"""Links, signed download URLs and presigned uploads over the REST API, on both stacks.

sqlite-local serves everything through the hub's own signed URLs. postgres-s3 hands out S3
presigned URLs for downloads and uploads; moto does not check S3 signatures, so the signature
properties are tested on the hub's URLs (links are always the hub's), and for S3 the tests
check the presigned URL's shape and that it works against the S3 endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from artifact_hub.adapters.index import tables as t
from artifact_hub.api import create_app
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.signing import SigningSecretMissingError
from artifact_hub.service.uploads import MAX_UPLOAD_BYTES

DATA = b"link me please " * 1000


class Api:
    """An HTTP client on the hub's app, with one API key per agent."""

    def __init__(self, hub: Hub, client: httpx.AsyncClient, keys: dict[str, str]) -> None:
        self.hub = hub
        self.http = client
        self.keys = keys

    def auth(self, agent: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[agent]}"}

    async def push(self, data: bytes = DATA, agent: str = "alice", **fields: Any) -> str:
        artifact = await self.hub.service.push(
            self.caller(agent), data, name="report.txt", **fields
        )
        return artifact.artifact_id

    def caller(self, agent: str = "alice") -> Caller:
        tenant = "tenant-b" if agent == "mallory" else "tenant-a"
        return Caller(tenant_id=tenant, agent_id=agent)

    @property
    def on_s3(self) -> bool:
        return self.hub.settings.blob_store == "s3"


@pytest.fixture
async def api(hub: Hub) -> AsyncIterator[Api]:
    await hub.accounts.create_tenant("tenant-a", plan="enterprise")
    await hub.accounts.create_tenant("tenant-b", plan="enterprise")
    keys = {}
    for tenant, agent in [("tenant-a", "alice"), ("tenant-a", "bob"), ("tenant-b", "mallory")]:
        _, keys[agent] = await hub.accounts.create_key(tenant, agent)
    app = create_app(hub)  # the hub fixture already started the hub; no lifespan here
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(hub, client, keys)


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _alter(url: str, part: str) -> str:
    """``url`` with one character changed in the id (last path segment), exp or sig."""
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    if part == "id":
        path = split.path
        i = len(path) - 3
        path = path[:i] + ("b" if path[i] != "b" else "c") + path[i + 1 :]
        return f"{split.scheme}://{split.netloc}{path}?{split.query}"
    value = query[part]
    i = len(value) // 2
    query[part] = value[:i] + ("7" if value[i] != "7" else "3") + value[i + 1 :]
    return f"{split.scheme}://{split.netloc}{split.path}?exp={query['exp']}&sig={query['sig']}"


# ------------------------------------------------------------------------------- links


async def test_link_downloads_without_a_key(api: Api) -> None:
    artifact_id = await api.push(content_type="text/plain")
    response = await api.http.post(
        f"/v1/artifacts/{artifact_id}/links", json={"expires_in": 600}, headers=api.auth()
    )
    assert response.status_code == 201, response.text
    link = response.json()
    assert link["id"].startswith("lnk_") and len(link["id"]) == 20
    assert link["artifact_id"] == artifact_id
    assert link["url"].startswith(f"http://127.0.0.1:8080/l/{link['id']}?exp=")
    expires = datetime.fromisoformat(link["expires_at"])
    # Rounded up to a whole second: at least the 600 s asked for, under 601.
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=601)

    download = await api.http.get(link["url"])  # no Authorization header
    assert download.status_code == 200
    assert download.content == DATA
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert 'filename="report.txt"' in download.headers["content-disposition"]
    assert download.headers["cache-control"] == "private, no-store"


async def test_link_defaults_to_seven_days_and_refuses_more_than_thirty(api: Api) -> None:
    artifact_id = await api.push()
    response = await api.http.post(f"/v1/artifacts/{artifact_id}/links", headers=api.auth())
    assert response.status_code == 201
    expires = datetime.fromisoformat(response.json()["expires_at"])
    assert abs(expires - datetime.now(UTC) - timedelta(days=7)) < timedelta(seconds=5)
    too_long = await api.http.post(
        f"/v1/artifacts/{artifact_id}/links",
        json={"expires_in": 30 * 86400 + 1},
        headers=api.auth(),
    )
    assert _error(too_long) == (400, "invalid_request")


@pytest.mark.parametrize("part", ["id", "exp", "sig"])
async def test_one_altered_byte_of_a_link_is_forbidden(api: Api, part: str) -> None:
    artifact_id = await api.push()
    link = await api.hub.links.create_link(api.caller(), artifact_id)
    altered = _alter(link.url, part)
    assert altered != link.url and len(altered) == len(link.url)
    assert _error(await api.http.get(altered)) == (403, "forbidden")
    assert (await api.http.get(link.url)).status_code == 200


async def test_a_link_without_its_signature_is_forbidden(api: Api) -> None:
    artifact_id = await api.push()
    link = await api.hub.links.create_link(api.caller(), artifact_id)
    assert _error(await api.http.get(link.url.split("?")[0])) == (403, "forbidden")


async def test_late_link_is_link_expired(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    artifact_id = await api.push()
    link = await api.hub.links.create_link(api.caller(), artifact_id, expires_in=60)
    monkeypatch.setattr(api.hub.signer, "clock", lambda: time.time() + 61)
    assert _error(await api.http.get(link.url)) == (410, "link_expired")


async def test_late_link_in_real_time(api: Api) -> None:
    artifact_id = await api.push()
    link = await api.hub.links.create_link(api.caller(), artifact_id, expires_in=2)
    # Good for at least its lifetime, whatever fraction of a second it was made at.
    assert link.expires_at.timestamp() - time.time() > 1
    assert (await api.http.get(link.url)).status_code == 200
    await asyncio.sleep(link.expires_at.timestamp() - time.time() + 0.1)
    assert _error(await api.http.get(link.url)) == (410, "link_expired")


async def test_revoked_link_is_not_found(api: Api) -> None:
    artifact_id = await api.push()
    link = await api.hub.links.create_link(api.caller(), artifact_id)
    # Another agent of the tenant, and another tenant, cannot see it to revoke it.
    for agent in ("bob", "mallory"):
        response = await api.http.delete(f"/v1/links/{link.id}", headers=api.auth(agent))
        assert _error(response) == (404, "link_not_found")
    assert (await api.http.get(link.url)).status_code == 200
    response = await api.http.delete(f"/v1/links/{link.id}", headers=api.auth())
    assert response.status_code == 204
    assert _error(await api.http.get(link.url)) == (404, "link_not_found")
    # Revoking again is fine; an unknown link is not.
    assert (await api.http.delete(f"/v1/links/{link.id}", headers=api.auth())).status_code == 204
    unknown = await api.http.delete("/v1/links/lnk_aaaaaaaaaaaaaaaa", headers=api.auth())
    assert _error(unknown) == (404, "link_not_found")


async def test_owner_can_revoke_a_link_someone_it_shared_with_made(api: Api) -> None:
    artifact_id = await api.push()
    await api.hub.service.share(api.caller(), artifact_id, agents=["bob"])
    response = await api.http.post(f"/v1/artifacts/{artifact_id}/links", headers=api.auth("bob"))
    assert response.status_code == 201
    link_id = response.json()["id"]
    assert (await api.http.delete(f"/v1/links/{link_id}", headers=api.auth())).status_code == 204


async def test_links_need_read_access_and_a_live_version(api: Api) -> None:
    artifact_id = await api.push()
    url = f"/v1/artifacts/{artifact_id}/links"
    assert _error(await api.http.post(url, headers=api.auth("bob"))) == (
        404,
        "artifact_not_found",
    )
    assert _error(await api.http.post(url, headers=api.auth("mallory")))[0] == 404
    missing = await api.http.post(url, json={"version": 9}, headers=api.auth())
    assert _error(missing) == (404, "version_not_found")
    assert _error(await api.http.post(url))[0] == 401


async def test_link_to_a_deleted_artifact_is_gone(api: Api) -> None:
    artifact_id = await api.push()
    link = await api.hub.links.create_link(api.caller(), artifact_id)
    await api.hub.service.delete(api.caller(), artifact_id)
    assert _error(await api.http.get(link.url)) == (410, "artifact_already_deleted")


async def test_link_to_an_expired_artifact_is_gone(api: Api) -> None:
    artifact_id = await api.push(ttl=1)
    link = await api.hub.links.create_link(api.caller(), artifact_id)
    await asyncio.sleep(1.1)
    assert _error(await api.http.get(link.url)) == (410, "artifact_expired")


async def test_link_follows_the_latest_version_or_pins_one(api: Api) -> None:
    artifact_id = await api.push(b"version one")
    latest = await api.hub.links.create_link(api.caller(), artifact_id)
    pinned = await api.hub.links.create_link(api.caller(), artifact_id, version=1)
    await api.hub.service.add_version(api.caller(), artifact_id, b"version two")
    assert (await api.http.get(latest.url)).content == b"version two"
    response = await api.http.get(pinned.url)
    assert response.content == b"version one"
    assert response.headers["x-artifact-version"] == "1"


# --------------------------------------------------------------------- signed downloads


async def _download(api: Api, url: str) -> httpx.Response:
    """GET a hub-signed URL; on S3 follow its redirect to the bucket (checked first)."""
    response = await api.http.get(url)
    if api.on_s3 and response.status_code == 307:
        location = response.headers["location"]
        assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["60"]
        assert response.headers["cache-control"] == "no-store"
        async with httpx.AsyncClient() as outside:
            return await outside.get(location)
    return response


async def test_signed_download_url_works_without_a_key(api: Api) -> None:
    artifact_id = await api.push(content_type="text/plain")
    response = await api.http.get(f"/v1/artifacts/{artifact_id}/download-url", headers=api.auth())
    assert response.status_code == 200, response.text
    signed = response.json()
    expires = datetime.fromisoformat(signed["expires_at"])
    assert abs(expires - datetime.now(UTC) - timedelta(hours=1)) < timedelta(seconds=5)
    # An hour is longer than a URL straight to S3 may live (15 minutes): the hub's own URL,
    # which on S3 redirects to a one-minute presigned GET after checking the artifact.
    assert urlsplit(signed["url"]).path == f"/v1/signed/{artifact_id}/1"
    download = await _download(api, signed["url"])
    assert download.status_code == 200
    assert download.content == DATA
    assert "report.txt" in download.headers.get("content-disposition", "")


async def test_short_download_url_on_s3_is_presigned(api: Api) -> None:
    artifact_id = await api.push(content_type="text/plain")
    response = await api.http.get(
        f"/v1/artifacts/{artifact_id}/download-url",
        params={"expires_in": 900},
        headers=api.auth(),
    )
    signed = response.json()
    if not api.on_s3:
        assert urlsplit(signed["url"]).path == f"/v1/signed/{artifact_id}/1"
        return
    query = parse_qs(urlsplit(signed["url"]).query)
    assert query["X-Amz-Expires"] == ["900"]
    assert "X-Amz-Signature" in query
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    async with httpx.AsyncClient() as outside:
        download = await outside.get(signed["url"])
    assert download.status_code == 200
    assert download.content == DATA
    assert "report.txt" in download.headers.get("content-disposition", "")
    # One second over the cap: the hub's URL instead.
    longer = await api.http.get(
        f"/v1/artifacts/{artifact_id}/download-url",
        params={"expires_in": 901},
        headers=api.auth(),
    )
    assert urlsplit(longer.json()["url"]).path == f"/v1/signed/{artifact_id}/1"


async def test_signed_download_url_bounds(api: Api) -> None:
    artifact_id = await api.push()
    url = f"/v1/artifacts/{artifact_id}/download-url"
    response = await api.http.get(url, params={"expires_in": 60}, headers=api.auth())
    expires = datetime.fromisoformat(response.json()["expires_at"])
    # At least the lifetime asked for (S3 counts from the request; the hub rounds up to a
    # whole second), and not a second more.
    assert timedelta(seconds=55) < expires - datetime.now(UTC) <= timedelta(seconds=61)
    too_long = await api.http.get(url, params={"expires_in": 8 * 86400}, headers=api.auth())
    assert _error(too_long) == (400, "invalid_request")
    assert _error(await api.http.get(url, headers=api.auth("bob")))[0] == 404
    assert _error(await api.http.get(url))[0] == 401


@pytest.mark.parametrize("part", ["id", "exp", "sig"])
async def test_one_altered_byte_of_a_hub_signed_url_is_forbidden(api: Api, part: str) -> None:
    artifact_id = await api.push()
    signed = api.hub.signer.sign("GET", f"/v1/signed/{artifact_id}/1", 600)
    url = signed.url("http://testserver")
    assert (await _download(api, url)).content == DATA
    # "id" alters the version segment here (the last one); see below for the artifact id.
    assert _error(await api.http.get(_alter(url, part))) == (403, "forbidden")


async def test_hub_signed_url_altered_anywhere_in_the_path(api: Api) -> None:
    artifact_id = await api.push()
    signed = api.hub.signer.sign("GET", f"/v1/signed/{artifact_id}/1", 600)
    other = "a" if artifact_id[-1] != "a" else "b"  # a changed last byte, whatever it was
    for path in (
        f"/v1/signed/{artifact_id[:-1]}{other}/1",
        f"/v1/signed/{artifact_id}/2",
        f"/v1/signed/{artifact_id}/x",
    ):
        response = await api.http.get(f"{path}?{signed.query}")
        assert _error(response) == (403, "forbidden"), path


async def test_hub_signed_url_late_and_after_delete(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact_id = await api.push()
    url = api.hub.signer.sign("GET", f"/v1/signed/{artifact_id}/1", 60).url("http://testserver")
    await api.hub.service.delete(api.caller(), artifact_id)
    assert _error(await api.http.get(url)) == (410, "artifact_already_deleted")
    monkeypatch.setattr(api.hub.signer, "clock", lambda: time.time() + 120)
    assert _error(await api.http.get(url)) == (410, "link_expired")


# ------------------------------------------------------------------------------ uploads


async def _put(api: Api, url: str, content: Any, **kwargs: Any) -> httpx.Response:
    """PUT to an upload URL: the hub's (through the app) or S3's (over the network)."""
    if urlsplit(url).path.startswith("/v1/uploads/"):
        return await api.http.put(url, content=content, **kwargs)
    async with httpx.AsyncClient() as outside:
        return await outside.put(url, content=content, **kwargs)


async def _upload_url(api: Api, agent: str = "alice", **body: Any) -> httpx.Response:
    return await api.http.post("/v1/artifacts/upload-url", json=body, headers=api.auth(agent))


async def _listed(api: Api) -> list[str]:
    page = await api.hub.service.list(api.caller())
    return [a.artifact_id for a in page.items]


async def test_upload_url_put_complete_end_to_end(api: Api) -> None:
    data = bytes(range(256)) * 4096 + b"tail"
    digest = hashlib.sha256(data).hexdigest()
    response = await _upload_url(
        api,
        filename="big.bin",
        content_type="application/x-test",
        size_bytes=len(data),
        sha256=digest,
        session_id="ses_upload",
        metadata={"origin": "presigned"},
        tags=["large"],
    )
    assert response.status_code == 201, response.text
    upload = response.json()
    assert upload["id"].startswith("upl_") and len(upload["id"]) == 20
    assert upload["method"] == "PUT"
    url = upload["url"]
    if api.on_s3:
        # The URL is signed for the declared sha256 too: S3 refuses other bytes.
        checksum = base64.b64encode(bytes.fromhex(digest)).decode()
        assert upload["headers"] == {
            "Content-Length": str(len(data)),
            "x-amz-checksum-sha256": checksum,
        }
        assert "x-amz-checksum-sha256" in parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0]
        query = parse_qs(urlsplit(url).query)
        assert "X-Amz-Signature" in query and "X-Amz-Expires" in query
        assert urlsplit(url).path.endswith(f"/staging/{upload['id']}")
    else:
        assert upload["headers"] == {"Content-Length": str(len(data))}
        assert url.startswith(f"http://127.0.0.1:8080/v1/uploads/{upload['id']}?exp=")
    assert await _listed(api) == []

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    # Streamed with the answer's headers: a known length instead of chunked encoding.
    put = await _put(api, url, streamed(), headers=upload["headers"])
    assert put.status_code == 200, put.text
    assert await _listed(api) == []  # still pending: nothing visible until complete

    done = await api.http.post(f"/v1/artifacts/{upload['id']}/complete", headers=api.auth())
    assert done.status_code == 201, done.text
    artifact = done.json()
    assert artifact["sha256"] == digest
    assert artifact["size_bytes"] == len(data)
    assert artifact["name"] == "big.bin"
    assert artifact["content_type"] == "application/x-test"
    assert artifact["session_id"] == "ses_upload"
    assert artifact["metadata"] == {"origin": "presigned"}
    assert artifact["tags"] == ["large"]
    assert await _listed(api) == [artifact["artifact_id"]]
    assert await api.hub.service.pull_bytes(api.caller(), artifact["artifact_id"]) == data
    assert await api.hub.uploads._staged_size(upload["id"]) is None  # staging removed

    again = await api.http.post(f"/v1/artifacts/{upload['id']}/complete", headers=api.auth())
    assert again.status_code == 201
    assert again.json()["artifact_id"] == artifact["artifact_id"]
    assert await _listed(api) == [artifact["artifact_id"]]


async def test_concurrent_completes_make_one_artifact(api: Api) -> None:
    data = b"x" * 5000
    upload = (await _upload_url(api, filename="c.bin", size_bytes=len(data))).json()
    assert (await _put(api, upload["url"], data)).status_code == 200
    path = f"/v1/artifacts/{upload['id']}/complete"
    results = await asyncio.gather(
        *(api.http.post(path, headers=api.auth()) for _ in range(3)), return_exceptions=True
    )
    ids = {r.json()["artifact_id"] for r in results if isinstance(r, httpx.Response)}
    ids |= {
        r.json()["artifact_id"]
        for r in [await api.http.post(path, headers=api.auth())]
        if r.status_code == 201
    }
    assert len(ids) == 1
    assert await _listed(api) == list(ids)


async def test_wrong_sha256_is_checksum_mismatch_and_nothing_visible(api: Api) -> None:
    data = b"the real bytes" * 100
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    upload = (await _upload_url(api, filename="w.bin", size_bytes=len(data), sha256=wrong)).json()
    assert (await _put(api, upload["url"], data)).status_code == 200
    done = await api.http.post(f"/v1/artifacts/{upload['id']}/complete", headers=api.auth())
    assert _error(done) == (422, "checksum_mismatch")
    assert await _listed(api) == []
    assert await api.hub.uploads._staged_size(upload["id"]) is None


async def test_put_larger_than_declared_is_refused(api: Api) -> None:
    upload = (await _upload_url(api, filename="l.bin", size_bytes=10)).json()
    put = await _put(api, upload["url"], b"y" * 11)
    if api.on_s3:
        # Real S3 refuses the PUT (the URL is signed for Content-Length 10); moto accepts
        # it, and then complete must refuse it.
        if put.status_code == 200:
            done = await api.http.post(f"/v1/artifacts/{upload['id']}/complete", headers=api.auth())
            assert _error(done) == (422, "checksum_mismatch")
        else:
            assert put.status_code == 403
    else:
        assert _error(put) == (413, "file_too_large")
        assert await api.hub.uploads._staged_size(upload["id"]) is None
    assert await _listed(api) == []


async def test_hub_put_without_content_length_is_counted(api: Api) -> None:
    if api.on_s3:
        pytest.skip("the hub's own upload URL is for stores without presigned PUTs")
    upload = (await _upload_url(api, filename="s.bin", size_bytes=100)).json()

    async def body(chunks: int) -> AsyncIterator[bytes]:
        for _ in range(chunks):
            yield b"z" * 40

    refused = await api.http.put(upload["url"], content=body(3))  # 120 bytes, chunked
    assert _error(refused) == (413, "file_too_large")
    assert await api.hub.uploads._staged_size(upload["id"]) is None
    short = await api.http.put(upload["url"], content=body(2))  # 80 of 100 bytes
    assert short.status_code == 200
    done = await api.http.post(f"/v1/artifacts/{upload['id']}/complete", headers=api.auth())
    assert _error(done) == (422, "checksum_mismatch")
    assert await _listed(api) == []


@pytest.mark.parametrize("part", ["id", "exp", "sig"])
async def test_one_altered_byte_of_a_hub_upload_url_is_forbidden(api: Api, part: str) -> None:
    if api.on_s3:
        pytest.skip("S3 presigned URLs are S3's to check (moto does not)")
    upload = (await _upload_url(api, filename="a.bin", size_bytes=3)).json()
    assert _error(await api.http.put(_alter(upload["url"], part), content=b"abc")) == (
        403,
        "forbidden",
    )
    assert (await api.http.put(upload["url"], content=b"abc")).status_code == 200


async def test_hub_upload_url_is_put_only_late_and_single_use(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    if api.on_s3:
        pytest.skip("the hub's own upload URL is for stores without presigned PUTs")
    upload = (await _upload_url(api, filename="a.bin", size_bytes=3)).json()
    assert (await api.http.put(upload["url"], content=b"abc")).status_code == 200
    # Re-PUT before complete replaces the staged bytes.
    assert (await api.http.put(upload["url"], content=b"abd")).status_code == 200
    done = await api.http.post(f"/v1/artifacts/{upload['id']}/complete", headers=api.auth())
    assert done.json()["sha256"] == hashlib.sha256(b"abd").hexdigest()
    assert _error(await api.http.put(upload["url"], content=b"abc")) == (409, "conflict")
    # A signed GET is not a signed PUT.
    get_path = urlsplit(upload["url"])
    assert (await api.http.get(f"{get_path.path}?{get_path.query}")).status_code == 405
    monkeypatch.setattr(api.hub.signer, "clock", lambda: time.time() + 7200)
    assert _error(await api.http.put(upload["url"], content=b"abc")) == (410, "link_expired")


async def test_complete_errors(api: Api) -> None:
    upload = (await _upload_url(api, filename="e.bin", size_bytes=4)).json()
    path = f"/v1/artifacts/{upload['id']}/complete"
    nothing_yet = await api.http.post(path, headers=api.auth())
    assert _error(nothing_yet) == (400, "invalid_request")
    assert (await _put(api, upload["url"], b"data")).status_code == 200
    for agent in ("bob", "mallory"):  # another agent's, another tenant's
        assert _error(await api.http.post(path, headers=api.auth(agent))) == (
            404,
            "upload_not_found",
        )
    unknown = await api.http.post("/v1/artifacts/upl_aaaaaaaaaaaaaaaa/complete", headers=api.auth())
    assert _error(unknown) == (404, "upload_not_found")
    assert _error(await api.http.post(path)) == (401, "unauthorized")
    # Past its expiry (and the grace for uploads still in flight): 410.
    async with api.hub.db.begin() as conn:
        await conn.execute(
            update(t.uploads)
            .where(t.uploads.c.upload_id == upload["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(hours=2))
        )
    assert _error(await api.http.post(path, headers=api.auth())) == (410, "link_expired")
    assert await _listed(api) == []


async def test_upload_url_checks_before_any_byte(api: Api) -> None:
    too_big = await _upload_url(api, filename="h.bin", size_bytes=MAX_UPLOAD_BYTES + 1)
    assert _error(too_big) == (413, "file_too_large")
    bad_sha = await _upload_url(api, filename="h.bin", size_bytes=1, sha256="ABC")
    assert _error(bad_sha) == (400, "invalid_request")
    bad_meta = await _upload_url(api, filename="h.bin", size_bytes=1, metadata={"1bad": 1})
    assert _error(bad_meta)[0] in (400, 422)
    base64 = await _upload_url(api, filename="h.bin", size_bytes=1, content_base64="YQ==")
    assert _error(base64) == (400, "invalid_request")
    negative = await _upload_url(api, filename="h.bin", size_bytes=-1)
    assert _error(negative) == (422, "invalid_request")
    await api.hub.service.push(api.caller(), b"s", session_id="ses_sealed")
    await api.hub.service.seal_session(api.caller(), "ses_sealed")
    sealed = await _upload_url(api, filename="h.bin", size_bytes=1, session_id="ses_sealed")
    assert _error(sealed) == (409, "session_sealed")


async def test_upload_url_respects_the_plan_file_size(api: Api) -> None:
    await api.hub.accounts.create_tenant("tenant-free", plan="free")
    _, key = await api.hub.accounts.create_key("tenant-free", "freeloader")
    response = await api.http.post(
        "/v1/artifacts/upload-url",
        json={"filename": "f.bin", "size_bytes": 50 * 1024 * 1024},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert _error(response) == (413, "file_too_large")


async def test_sweep_forgets_stale_uploads(api: Api) -> None:
    upload = (await _upload_url(api, filename="o.bin", size_bytes=2)).json()
    assert (await _put(api, upload["url"], b"ok")).status_code == 200
    assert await api.hub.uploads.sweep() == 0
    assert await api.hub.uploads.sweep(datetime.now(UTC) + timedelta(hours=3)) == 1
    assert await api.hub.uploads._staged_size(upload["id"]) is None
    done = await api.http.post(f"/v1/artifacts/{upload['id']}/complete", headers=api.auth())
    assert _error(done) == (404, "upload_not_found")


# ------------------------------------------------------------------------------ startup


async def test_distributed_api_refuses_to_start_without_a_signing_secret(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    app = create_app(bootstrap(settings))
    with pytest.raises(SigningSecretMissingError, match="SIGNING_SECRET"):
        async with app.router.lifespan_context(app):
            pass
