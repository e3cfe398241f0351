"""The console over HTTP (in-process, both stacks): sign-in, CSRF, and the tenant and ACL
checks of every page, which are the REST API's own (the console calls the same services)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.integration.api_support import Api, api

from artifact_hub.api import create_app
from artifact_hub.schemas.lineage import Lineage, LineageInput

__all__ = ["api"]


@dataclass
class Seeded:
    csv: str
    doc: str
    derived: str
    pdf: str
    session: str = "run-7"


@asynccontextmanager
async def _browser(env: Api, role: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client, signed in as ``role`` (None: not signed in)."""
    transport = httpx.ASGITransport(app=create_app(env.hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        if role is not None:
            response = await client.post(
                "/console/login", data={"api_key": env.keys[role], "next": "/console/"}
            )
            assert response.status_code == 303, response.text
        yield client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _code(response: httpx.Response) -> str | None:
    found = re.search(r'id="error-code">([^<]+)<', response.text)
    return found.group(1) if found else None


@pytest.fixture
async def seeded(api: Api) -> AsyncIterator[Seeded]:
    hub = api.hub
    owner = await hub.accounts.authenticate(api.keys["owner"])
    csv = await hub.service.push(
        owner,
        b"city,temp\nOslo,3\nLima,19\n",
        name="weather.csv",
        content_type="text/csv",
        session_id="run-7",
        tags=["daily"],
        labels={"team": "ml"},
        kind="dataset",
    )
    doc = await hub.service.push(
        owner, json.dumps({"lr": 0.1}).encode(), name="config.json", content_type="application/json"
    )
    await hub.service.add_version(owner, doc.artifact_id, json.dumps({"lr": 0.2}).encode())
    lineage = Lineage(
        run_id="run-7",
        workflow_id="train",
        step_id="fit",
        inputs=[LineageInput(artifact_id=csv.artifact_id, version=1)],
    )
    derived = await hub.service.push(owner, b"model", name="model.bin", lineage=lineage)
    pdf = await hub.service.push(
        owner, b"%PDF-1.4\n%%EOF\n", name="paper.pdf", content_type="application/pdf"
    )
    yield Seeded(csv.artifact_id, doc.artifact_id, derived.artifact_id, pdf.artifact_id)


def _pages(s: Seeded) -> list[str]:
    return [
        f"/console/artifacts/{s.csv}",
        f"/console/artifacts/{s.csv}/raw",
        f"/console/artifacts/{s.pdf}/raw",
        f"/console/artifacts/{s.csv}/download",
        f"/console/artifacts/{s.doc}/diff?a=1&b=2",
        f"/console/artifacts/{s.derived}/lineage",
        f"/console/artifacts/{s.derived}/lineage.json",
        f"/console/sessions/{s.session}",
    ]


async def test_pages_redirect_to_sign_in_with_the_deep_link(api: Api, seeded: Seeded) -> None:
    async with _browser(api, None) as client:
        for url in ["/console/", "/console/sessions", "/console/events", *_pages(seeded)]:
            response = await client.get(url)
            assert response.status_code == 303, url
            assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2F")
        wrong = await client.post("/console/login", data={"api_key": "ak_live_nope_nope"})
        assert wrong.status_code == 401 and 'id="login-error"' in wrong.text
        # A forged cookie is no session.
        client.cookies.set("artifact_hub_console", "k.nonce-nonce-nonce-1.9999999999.sig")
        assert (await client.get("/console/")).status_code == 303


async def test_the_owner_sees_everything_with_security_headers(api: Api, seeded: Seeded) -> None:
    async with _browser(api, "owner") as client:
        login = await client.post("/console/login", data={"api_key": api.keys["owner"]})
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
        assert api.keys["owner"].split("_")[-1].lower() not in cookie  # never the key itself
        listing = await client.get("/console/")
        assert listing.status_code == 200
        assert "default-src 'self'" in listing.headers["content-security-policy"]
        for name in ("weather.csv", "config.json", "model.bin"):
            assert name in listing.text
        assert "weather.csv" in (await client.get("/console/?tag=daily")).text
        assert "config.json" not in (await client.get("/console/?label=team=ml")).text
        assert "weather.csv" in (await client.get("/console/?content_type=text/csv")).text
        for url in _pages(seeded):
            response = await client.get(url)
            if url.endswith(f"{seeded.pdf}/raw"):
                assert response.status_code == 200
            elif url.endswith("/raw"):  # a CSV is never served inline
                assert response.status_code == 400 and _code(response) == "invalid_request"
            elif url.endswith("/download"):
                assert response.status_code == 303
                location = response.headers["location"]
                if location.startswith("http"):  # S3: the store's presigned URL
                    async with httpx.AsyncClient() as outside:
                        signed = await outside.get(location)
                else:  # the hub's own signed URL, as a path of this site
                    assert location.startswith("/v1/signed/")
                    signed = await client.get(location)
                assert signed.content == b"city,temp\nOslo,3\nLima,19\n"
            else:
                assert response.status_code == 200, (url, response.text[:300])
        pdf = await client.get(f"/console/artifacts/{seeded.pdf}")
        assert f'src="/console/artifacts/{seeded.pdf}/raw?version=1"' in pdf.text
        raw = await client.get(f"/console/artifacts/{seeded.pdf}/raw?version=1")
        assert raw.headers["content-type"] == "application/pdf"
        assert raw.headers["content-disposition"] == "inline"
        assert "sandbox" in raw.headers["content-security-policy"]
        assert raw.content.startswith(b"%PDF")
        page = (await client.get(f"/console/artifacts/{seeded.csv}")).text
        assert "<td>Lima</td>" in page and 'id="links-table"' not in page
        diff = (await client.get(f"/console/artifacts/{seeded.doc}/diff?a=1&b=2")).text
        assert "<code>$.lr</code>" in diff
        patch = await client.get(f"/console/artifacts/{seeded.doc}/diff?a=1&b=2&unified=true")
        assert '-{"lr": 0.1}' in patch.text and '+{"lr": 0.2}' in patch.text
        graph = (await client.get(f"/console/artifacts/{seeded.derived}/lineage.json")).json()
        ids = {element["data"]["id"] for element in graph["elements"]}
        assert {seeded.csv, seeded.derived} <= ids
        events = (await client.get("/console/events")).text
        assert "artifact.created" in events and "weather.csv" in events
        assert "run-7" in (await client.get("/console/sessions")).text


async def test_another_tenant_sees_none_of_it(api: Api, seeded: Seeded) -> None:
    async with _browser(api, "stranger") as client:
        listing = await client.get("/console/")
        assert 'id="no-artifacts"' in listing.text
        for url in _pages(seeded):
            response = await client.get(url)
            expected = "session_not_found" if "/sessions/" in url else "artifact_not_found"
            assert (response.status_code, _code(response)) == (404, expected), url
        assert "run-7" not in (await client.get("/console/sessions")).text
        events = (await client.get("/console/events")).text
        assert "weather.csv" not in events and "artifact.created" not in events
        searched = await client.get("/console/?q=weather&mode=lexical")
        assert "weather.csv" not in searched.text


async def test_an_agent_of_the_tenant_sees_only_what_is_shared(api: Api, seeded: Seeded) -> None:
    async with _browser(api, "peer") as peer, _browser(api, "owner") as owner:
        assert "weather.csv" not in (await peer.get("/console/")).text
        assert (await peer.get(f"/console/artifacts/{seeded.csv}")).status_code == 404
        assert "weather.csv" not in (await peer.get("/console/events")).text
        page = (await owner.get(f"/console/artifacts/{seeded.csv}")).text
        shared = await owner.post(
            f"/console/artifacts/{seeded.csv}/share",
            data={"csrf_token": _csrf(page), "agents": "bob", "action": "share"},
        )
        assert shared.status_code == 303
        page = (await owner.get(f"/console/artifacts/{seeded.csv}")).text
        assert "agent <strong>bob</strong>" in page
        assert "weather.csv" in (await peer.get("/console/")).text
        seen = await peer.get(f"/console/artifacts/{seeded.csv}")
        assert seen.status_code == 200 and 'id="share-form"' not in seen.text  # not the owner
        # The owner-only writes are refused by the service, as in the API.
        refused = await peer.post(
            f"/console/artifacts/{seeded.csv}/share",
            data={"csrf_token": _csrf(seen.text), "agents": "eve"},
        )
        assert (refused.status_code, _code(refused)) == (403, "forbidden")


async def test_writes_need_the_csrf_token_and_the_same_origin(api: Api, seeded: Seeded) -> None:
    async with _browser(api, "owner") as client:
        url = f"/console/artifacts/{seeded.csv}/share"
        page = (await client.get(f"/console/artifacts/{seeded.csv}")).text
        token = _csrf(page)
        for data, headers in (
            ({"agents": "bob"}, {}),
            ({"agents": "bob", "csrf_token": "forged"}, {}),
            ({"agents": "bob", "csrf_token": token}, {"Origin": "https://evil.example"}),
        ):
            response = await client.post(url, data=data, headers=headers)
            assert (response.status_code, _code(response)) == (403, "forbidden")
        assert "agent <strong>bob</strong>" not in (await client.get(url[: -len("/share")])).text
        ok = await client.post(url, data={"agents": "bob", "csrf_token": token})
        assert ok.status_code == 303
        # The token also works as the header htmx sends.
        pinned = await client.post(
            f"/console/artifacts/{seeded.csv}/pin",
            data={"pinned": "true"},
            headers={"X-CSRF-Token": token, "Origin": "http://hub"},
        )
        assert pinned.status_code == 303
        assert (await api.hub.service.get(await _owner(api), seeded.csv)).pinned


async def _owner(api: Api) -> Any:
    return await api.hub.accounts.authenticate(api.keys["owner"])


async def test_links_ttl_seal_and_sign_out(api: Api, seeded: Seeded) -> None:
    async with _browser(api, "owner") as client:
        page = (await client.get(f"/console/artifacts/{seeded.csv}")).text
        token = _csrf(page)
        created = await client.post(
            f"/console/artifacts/{seeded.csv}/links",
            data={"csrf_token": token, "expires_in_hours": "2", "version": "1"},
        )
        assert created.status_code == 200 and 'id="new-link"' in created.text
        href = re.search(r'id="new-link">[^<]*<a href="([^"]+)"', created.text)
        assert href
        assert (await client.get(html.unescape(href.group(1)))).content.startswith(b"city,temp")
        link_id = re.search(r'data-link="([^"]+)"', created.text)
        assert link_id
        revoked = await client.post(
            f"/console/artifacts/{seeded.csv}/links/{link_id.group(1)}/revoke",
            data={"csrf_token": token},
        )
        assert revoked.status_code == 303
        assert (await client.get(html.unescape(href.group(1)))).status_code == 404
        assert ">revoked<" in (await client.get(f"/console/artifacts/{seeded.csv}")).text
        ttl = await client.post(
            f"/console/artifacts/{seeded.csv}/ttl", data={"csrf_token": token, "ttl_hours": "5"}
        )
        assert ttl.status_code == 303
        assert (await api.hub.service.get(await _owner(api), seeded.csv)).expires_at is not None
        sealed = await client.post(
            f"/console/sessions/{seeded.session}/seal", data={"csrf_token": token}
        )
        assert sealed.status_code == 303
        assert ">sealed<" in (await client.get(f"/console/sessions/{seeded.session}")).text
        out = await client.post("/console/logout", data={"csrf_token": token})
        assert out.status_code == 303
        assert (await client.get("/console/")).status_code == 303


async def test_a_revoked_key_ends_its_console_sessions(api: Api, seeded: Seeded) -> None:
    async with _browser(api, "owner") as client:
        assert (await client.get("/console/")).status_code == 200
        await api.hub.accounts.revoke_key(api.key_ids["owner"])
        assert (await client.get("/console/")).status_code == 303
