"""Hostile input gets a stable 4xx, on both stacks, and never a 500 (issue 12).

One regression test per input the schema-driven fuzz (tests/integration/test_api_fuzz.py) or
the issue found answering 500 or storing data that broke a tenant; plus the keep-alive
connection that must survive an error answer, against a real uvicorn server.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.api_support import Api, api, b64
from tests.integration.conftest import STACKS
from tests.integration.live_server import LiveHub, live_hub

from artifact_hub.adapters.storage.base import content_disposition
from artifact_hub.core.errors import (
    ArtifactHubError,
    InvalidRequestError,
    NotFoundError,
    error_for_code,
)
from artifact_hub.schemas.fields import MAX_JSON_DEPTH, MAX_TTL_SECONDS
from artifact_hub.schemas.identity import Caller

__all__ = ["api"]  # the fixture, imported for pytest

INT32_OVER = 2**31
_JSON = {"Content-Type": "application/json"}


def _error(response: httpx.Response, status: int, code: str = "invalid_request") -> None:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert (body["code"], body["status"]) == (code, status), body


async def _artifact(api: Api, **fields: Any) -> str:
    artifact_id: str = (await api.push(**fields))["id"]
    return artifact_id


# ---------------------------------------------------------------------------- huge numbers


NUMBERS: list[tuple[str, dict[str, Any], int]] = [
    ("extend-ttl", {"ttl_seconds": 10**12}, 422),
    ("extend-ttl", {"ttl_seconds": MAX_TTL_SECONDS + 1}, 422),
    ("extend-ttl", {"ttl_seconds": True}, 422),  # a boolean is not an integer
    ("extend-ttl", {"ttl_seconds": 3600.0}, 422),
    # A link's lifetime keeps the service's 400 it always had past 30 days.
    ("links", {"expires_in": 10**14}, 400),
    ("links", {"expires_in": 30 * 24 * 3600 + 1}, 400),
    ("links", {"expires_in": True}, 422),
    ("links", {"version": INT32_OVER}, 422),
    ("links", {"version": True}, 422),
]


async def test_huge_or_wrongly_typed_numbers_are_4xx(api: Api) -> None:
    artifact_id = await _artifact(api)
    for path, body, status in NUMBERS:
        for target in (artifact_id, "art_unknown"):  # checked before the artifact is looked up
            url = f"/v1/artifacts/{target}/{path}"
            _error(await api.request("owner", "POST", url, json=body), status)


async def test_huge_download_url_lifetime_is_400(api: Api) -> None:
    for target in (await _artifact(api), "art_unknown"):
        url = f"/v1/artifacts/{target}/download-url?expires_in=100000000000000"
        _error(await api.request("owner", "GET", url), 400)


async def test_huge_ttl_on_create_is_refused_before_storing(api: Api) -> None:
    data = b"never stored: ttl"
    response = await api.request(
        "owner",
        "POST",
        "/v1/artifacts",
        json={"name": "a", "content_base64": b64(data), "ttl_seconds": 10**12},
    )
    _error(response, 422)
    assert not await api.hub.blobs.exists(hashlib.sha256(data).hexdigest())


async def test_service_refuses_a_ttl_past_the_maximum(api: Api) -> None:
    caller = Caller(tenant_id="acme", agent_id="alice")
    with pytest.raises(InvalidRequestError):
        await api.hub.service.push(caller, b"x", name="a", ttl=10**12)


NUMBER_URLS = [
    "/v1/artifacts?offset=9223372036854775808",
    "/v1/artifacts?offset=2147483648",
    "/v1/shared?offset=9223372036854775808",
    "/v1/artifacts/{id}/content?version=2147483648",
    "/v1/artifacts/{id}/versions/2147483648/content",
    "/v1/artifacts/{id}/download-url?version=9223372036854775808",
    "/v1/artifacts?limit=true",
]


async def test_huge_query_and_path_numbers_are_422(api: Api) -> None:
    artifact_id = await _artifact(api)
    for url in NUMBER_URLS:
        _error(await api.request("owner", "GET", url.format(id=artifact_id)), 422)


DATE_URLS = [
    # Fine as written, but not in UTC: before year 1, after year 9999.
    "/v1/artifacts?created_after=0001-01-01T00:00:00%2B14:00",
    "/v1/shared?created_before=9999-12-31T23:59:59-14:00",
    "/v1/search?created_after=0001-01-01T00:00:00%2B14:00",
    "/v1/search?time_window=99999999999d",
    "/v1/search?time_window=36501d",
]


async def test_dates_and_windows_out_of_range_are_400(api: Api) -> None:
    for url in DATE_URLS:
        _error(await api.request("owner", "GET", url), 400)
    ok = await api.request("owner", "GET", "/v1/search?time_window=36500d")
    assert ok.status_code == 200, ok.text


async def test_deleting_a_version_past_int32_is_422(api: Api) -> None:
    artifact_id = await _artifact(api)
    url = f"/v1/artifacts/{artifact_id}/versions/{INT32_OVER}"
    _error(await api.request("owner", "DELETE", url), 422)


# ---------------------------------------------------------------------------- share


PRINCIPALS: list[dict[str, Any]] = [
    {"agents": [""]},
    {"groups": [""]},
    {"agents": ["bob", ""]},
    {"agents": ["x" * 201]},
    {"agents": ["bo\x00b"]},
    {"groups": ["team\r\nX-Evil: 1"]},
    {"agents": [1]},
]


async def test_share_refuses_empty_or_invalid_principals(api: Api) -> None:
    artifact_id = await _artifact(api)
    for body in PRINCIPALS:
        for action in ("share", "unshare"):
            url = f"/v1/artifacts/{artifact_id}/{action}"
            _error(await api.request("owner", "POST", url, json=body), 422)
    access = await api.request("owner", "GET", f"/v1/artifacts/{artifact_id}/access")
    assert access.json()["agents"] == [] and access.json()["groups"] == []


async def test_service_share_refuses_an_empty_agent(api: Api) -> None:
    artifact_id = await _artifact(api)
    caller = Caller(tenant_id="acme", agent_id="alice")
    with pytest.raises(InvalidRequestError):
        await api.hub.service.share(caller, artifact_id, agents=[""])


# ---------------------------------------------------------------------------- strings


STRINGS: list[dict[str, Any]] = [
    {"name": "n" * 100_000},
    {"name": "n" * 1025},
    {"name": "a\x00b"},
    {"name": "report\r\n.txt"},
    {"name": "tab\there"},
    {"kind": "k\x00"},
    {"content_type": "text/plain\x00"},
    {"content_type": "t" * 256},
    {"session_id": "s\x00"},
    {"session_id": "s" * 201},
    {"namespace": "default\x00"},
    {"tags": ["t\x00"]},
    {"tags": ["t" * 201]},
    {"labels": {"k": "v\x00"}},
    {"labels": {"k\x00": "v"}},
    {"labels": {"k" * 129: "v"}},
    {"metadata": {"note": "\x00"}},
    {"metadata": {"deep": {"deeper": ["x\x00"]}}},
    {"metrics": {"m\x00": 1}},
    {"run_id": "r\x00"},
    {"tool_version": "v" * 101},
    {"uri": "s3://bucket/\x00"},
]


async def test_unstorable_strings_are_422_before_any_byte_is_stored(api: Api) -> None:
    for fields in STRINGS:
        data = json.dumps(fields).encode()  # unique content per case
        body = {"name": "a.txt", "content_base64": b64(data), **fields}
        _error(await api.request("owner", "POST", "/v1/artifacts", json=body), 422)
        assert not await api.hub.blobs.exists(hashlib.sha256(data).hexdigest())


async def test_unstorable_strings_in_a_multipart_form_are_422(api: Api) -> None:
    for fields in ({"name": "a\r\nb"}, {"session_id": "s" * 201}, {"tags": "t\x00"}):
        response = await api.request(
            "owner", "POST", "/v1/artifacts", data=fields, files={"file": ("f", b"x")}
        )
        _error(response, 422)


UPDATES: list[dict[str, Any] | str] = [
    {"labels": {"k": "\x00"}},
    {"tags": ["\x00"]},
    '{"metadata": {"k": "\\ud800"}}',  # a lone surrogate: no encoding stores it
    {"pinned": 1},  # not a boolean
]


async def test_update_refuses_unstorable_values(api: Api) -> None:
    artifact_id = await _artifact(api)
    url = f"/v1/artifacts/{artifact_id}"
    for body in UPDATES:
        text = body if isinstance(body, str) else json.dumps(body)
        _error(await api.request("owner", "PATCH", url, content=text, headers=_JSON), 422)


NUL_URLS = [
    "/v1/artifacts?name=a%00b",
    "/v1/artifacts?tag=%00",
    "/v1/artifacts?label.k=%00",
    "/v1/search?q=hello%00",
    "/v1/search?kind=%00",
    "/v1/artifacts/art_%00x",
    "/v1/sessions/s%00",
]


async def test_nul_in_query_or_path_is_422(api: Api) -> None:
    for url in NUL_URLS:
        _error(await api.request("owner", "GET", url), 422)


async def test_service_push_refuses_a_long_name_before_storing(api: Api) -> None:
    caller = Caller(tenant_id="acme", agent_id="alice")
    data = b"service: long name"
    for name in ("n" * 1025, "a\nb"):
        with pytest.raises(InvalidRequestError):
            await api.hub.service.push(caller, data, name=name)
    assert not await api.hub.blobs.exists(hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize(
    "name", ['quote".txt', "back\\slash.txt", "émoji-😀.txt", "a\r\nX-Evil: 1", "\x00"]
)
def test_content_disposition_is_safe_for_any_name(name: str) -> None:
    header = content_disposition(name)
    assert all(32 <= ord(c) < 127 for c in header), header
    assert header.count('"') == 2


async def test_content_disposition_of_a_unicode_name(api: Api) -> None:
    artifact_id = await _artifact(api, name='ré"port.txt')
    response = await api.request("owner", "GET", f"/v1/artifacts/{artifact_id}/content")
    assert response.status_code == 200
    header = response.headers["content-disposition"]
    assert header == "attachment; filename=\"r__port.txt\"; filename*=UTF-8''r%C3%A9%22port.txt"


# ---------------------------------------------------------------------------- JSON


async def test_json_nested_thousands_deep_is_4xx(api: Api) -> None:
    deep = "[" * 5000 + "]" * 5000
    for method, url, text in (
        (
            "POST",
            "/v1/artifacts",
            f'{{"name": "a", "content_base64": "eA==", "metadata": {{"k": {deep}}}}}',
        ),
        ("PATCH", "/v1/artifacts/{id}", f'{{"labels": {{"k": {deep}}}}}'),
        ("POST", "/v1/artifacts/{id}/share", f'{{"agents": {deep}}}'),
    ):
        artifact_id = await _artifact(api)
        response = await api.request(
            "owner",
            method,
            url.format(id=artifact_id),
            content=text.encode(),
            headers={"Content-Type": "application/json"},
        )
        _error(response, 400)


@pytest.mark.parametrize("field", ["metadata", "labels", "metrics"])
async def test_json_deeper_than_the_limit_is_422(api: Api, field: str) -> None:
    value: Any = 1
    for _ in range(MAX_JSON_DEPTH + 1):  # one object more than allowed
        value = {"k": value}
    body = {"name": "a", "content_base64": b64(b"deep"), field: value}
    _error(await api.request("owner", "POST", "/v1/artifacts", json=body), 422)
    body[field] = value["k"]  # at the limit
    assert (await api.request("owner", "POST", "/v1/artifacts", json=body)).status_code == 201


async def test_non_finite_numbers_are_refused_and_metric_search_keeps_working(api: Api) -> None:
    await api.push(metrics={"m": 0.5})
    artifact_id = await _artifact(api)
    for literal in ("NaN", "Infinity", "-Infinity"):
        await _refuse_non_finite(api, artifact_id, literal)
    found = await api.request("owner", "GET", "/v1/search?metric=m")
    assert found.status_code == 200, found.text
    assert [hit["score"] for hit in found.json()["data"]] == [0.5]


async def _refuse_non_finite(api: Api, artifact_id: str, literal: str) -> None:
    create = f'{{"name": "a", "content_base64": "eA==", "metrics": {{"m": {literal}}}}}'
    for method, url, text in (
        ("POST", "/v1/artifacts", create),
        ("PATCH", f"/v1/artifacts/{artifact_id}", f'{{"metrics": {{"m": {literal}}}}}'),
        ("PATCH", f"/v1/artifacts/{artifact_id}", f'{{"labels": {{"m": [{literal}]}}}}'),
        ("PATCH", f"/v1/artifacts/{artifact_id}", f'{{"metadata": {{"m": {literal}}}}}'),
    ):
        response = await api.request(
            "owner",
            method,
            url,
            content=text.encode(),
            headers={"Content-Type": "application/json"},
        )
        _error(response, 422)
    caller = Caller(tenant_id="acme", agent_id="alice")
    with pytest.raises(InvalidRequestError):
        await api.hub.service.push(caller, b"x", name="a", metrics={"m": float(literal)})
    with pytest.raises(InvalidRequestError):
        await api.hub.service.update(caller, artifact_id, metrics={"m": float(literal)})


# ---------------------------------------------------------------------------- sessions


async def test_session_id_has_one_limit_on_push_and_seal(api: Api) -> None:
    longest = "s" * 200
    await api.push(session_id=longest)
    sealed = await api.request("owner", "POST", f"/v1/sessions/{longest}/seal")
    assert sealed.status_code == 200, sealed.text
    assert sealed.json()["sealed_at"] is not None
    too_long = "s" * 201
    body = {"name": "a", "content_base64": b64(b"x"), "session_id": too_long}
    _error(await api.request("owner", "POST", "/v1/artifacts", json=body), 422)
    _error(await api.request("owner", "POST", f"/v1/sessions/{too_long}/seal"), 422)
    _error(await api.request("owner", "GET", f"/v1/sessions/{too_long}"), 422)


# ---------------------------------------------------------------------------- routing


SLASH_URLS = [
    "/v1/artifacts/a%2Fb/access",
    "/v1/artifacts/a%2Fb/versions/1/content/x",
    "/v1/links/a%2Fb",
    "/v1/nowhere",
]


async def test_an_id_with_a_slash_is_not_found_not_a_server_error(api: Api) -> None:
    for url in SLASH_URLS:
        method = "DELETE" if url.startswith("/v1/links") else "GET"
        _error(await api.request("owner", method, url), 404, "not_found")


def test_the_sdk_reads_not_found_and_gone_as_such() -> None:
    # The SDK maps codes back to classes: "not_found" must not become a ServerError.
    assert error_for_code("not_found") is NotFoundError
    assert error_for_code("gone").status == 410
    assert issubclass(error_for_code("not_found"), ArtifactHubError)


# ---------------------------------------------------------------------------- keep-alive


@pytest.fixture(params=STACKS)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveHub]:
    """A hub served by uvicorn on the stack."""
    with live_hub(request, tmp_path, request.param) as hub:
        yield hub


def _local_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    port: int = stream.get_extra_info("client_addr")[1]
    return port


def test_the_connection_survives_error_answers(
    live: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a 4xx, a 404 route and a genuine crash (500), the same connection still serves."""

    async def crash(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug nobody anticipated")

    monkeypatch.setattr(live.hub.service, "versions", crash)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=live.url, headers=live.auth(), limits=limits) as client:
        first = client.get("/v1/whoami")
        assert first.status_code == 200
        port = _local_port(first)
        hostile = client.post("/v1/artifacts/art_x/links", json={"expires_in": 10**14})
        _error(hostile, 400)  # this one used to be a 500
        _error(client.get("/v1/artifacts/a%2Fb/access"), 404, "not_found")
        crashed = client.get("/v1/artifacts/art_x/versions")
        _error(crashed, 500, "server_error")
        assert crashed.headers["content-type"] == "application/json"
        assert "X-RateLimit-Limit" in crashed.headers
        innocent = client.get("/v1/whoami")
        assert innocent.status_code == 200, innocent.text
        # Each answer came on the one connection the first request opened.
        for response in (hostile, crashed, innocent):
            assert _local_port(response) == port
