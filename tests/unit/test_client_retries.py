"""Retries and error mapping: 429 + Retry-After, 5xx on idempotent calls, Idempotency-Key reuse."""

from __future__ import annotations

import httpx
import pytest
from tests.unit.test_client_requests import NOW, Recorder, artifact_json

import artifact_hub.client._async_send as async_module
import artifact_hub.client._sync_send as sync_module
from artifact_hub.client import AsyncClient, Client, RetryPolicy
from artifact_hub.client._base import Call, error_from_response
from artifact_hub.core import errors

WHOAMI = {"tenant_id": "t1", "agent_id": "bot", "plan": "pro", "key_id": "k"}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def fake_async_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(sync_module.time, "sleep", slept.append)
    monkeypatch.setattr(async_module.asyncio, "sleep", fake_async_sleep)
    return slept


def scripted(*responses: httpx.Response | Exception) -> Recorder:
    queue = list(responses)

    def answer(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return Recorder(answer)


def client_for(recorder: Recorder, **kw: object) -> Client:
    return Client(
        api_key="k",
        base_url="http://hub.test",
        config_path="/none",
        transport=httpx.MockTransport(recorder),
        **kw,  # type: ignore[arg-type]
    )


def rate_limited(retry_after: str | None, body_seconds: float | None = None) -> httpx.Response:
    error: dict[str, object] = {"code": "rate_limited", "message": "slow down", "status": 429}
    if body_seconds is not None:
        error["retry_after_seconds"] = body_seconds
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return httpx.Response(429, json={"error": error}, headers=headers)


def server_error() -> httpx.Response:
    return httpx.Response(500, json={"error": {"code": "server_error", "message": "boom"}})


def test_429_waits_retry_after_then_succeeds(sleeps: list[float]) -> None:
    rec = scripted(rate_limited("2"), httpx.Response(200, json=WHOAMI))
    assert client_for(rec).whoami().tenant_id == "t1"
    assert len(rec.requests) == 2
    assert sleeps == [2.0]


def test_429_body_retry_after_seconds_wins(sleeps: list[float]) -> None:
    rec = scripted(rate_limited("5", body_seconds=0.25), httpx.Response(200, json=WHOAMI))
    client_for(rec).whoami()
    assert sleeps == [0.25]


def test_429_exhausted_raises_with_retry_after(sleeps: list[float]) -> None:
    rec = scripted(*(rate_limited("3") for _ in range(3)))
    with pytest.raises(errors.RateLimitedError) as info:
        client_for(rec, max_retries=2).whoami()
    assert info.value.retry_after_seconds == 3.0
    assert len(rec.requests) == 3 and sleeps == [3.0, 3.0]


def test_500_on_get_is_retried_with_backoff(sleeps: list[float]) -> None:
    rec = scripted(server_error(), server_error(), httpx.Response(200, json=WHOAMI))
    client_for(rec, retry_backoff=0.5).whoami()
    assert len(rec.requests) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_post_without_idempotency_key_is_not_retried_on_500(sleeps: list[float]) -> None:
    rec = scripted(server_error(), httpx.Response(201, json=artifact_json()))
    with pytest.raises(errors.ServerError):
        client_for(rec, idempotency_keys=False).push(b"x", filename="x.bin")
    assert len(rec.requests) == 1 and sleeps == []
    assert "idempotency-key" not in rec.requests[0].headers


def test_post_with_idempotency_key_is_retried_with_the_same_key(sleeps: list[float]) -> None:
    rec = scripted(
        server_error(),
        httpx.ConnectError("refused"),
        httpx.Response(201, json=artifact_json()),
    )
    progress: list[tuple[int, int | None]] = []
    artifact = client_for(rec).push(
        b"abc", filename="x.bin", progress=lambda d, t: progress.append((d, t))
    )
    assert artifact.id == "art_0123456789abcdef"
    keys = {r.headers["idempotency-key"] for r in rec.requests}
    assert len(rec.requests) == 3 and len(keys) == 1
    # the body is resent whole on every attempt
    assert rec.requests[0].content == rec.requests[2].content
    assert progress.count((3, 3)) == 3


def test_connection_errors_exhausted_become_server_error(sleeps: list[float]) -> None:
    rec = scripted(*(httpx.ConnectError("refused") for _ in range(2)))
    with pytest.raises(errors.ServerError, match="cannot reach"):
        client_for(rec, max_retries=1).get("art_1")
    assert len(sleeps) == 1


def test_4xx_is_never_retried(sleeps: list[float]) -> None:
    body = {"error": {"code": "artifact_not_found", "message": "no art_1", "status": 404}}
    rec = scripted(httpx.Response(404, json=body))
    with pytest.raises(errors.ArtifactNotFoundError, match="no art_1"):
        client_for(rec).get("art_1")
    assert len(rec.requests) == 1 and sleeps == []


async def test_async_client_retries_the_same_way(sleeps: list[float]) -> None:
    rec = scripted(rate_limited("1"), server_error(), httpx.Response(201, json=artifact_json()))
    async with AsyncClient(
        api_key="k", base_url="http://hub.test", transport=httpx.MockTransport(rec)
    ) as client:
        await client.push(b"abc", filename="a.bin")
    assert len(rec.requests) == 3 and sleeps[0] == 1.0
    assert len({r.headers["idempotency-key"] for r in rec.requests}) == 1


def test_retry_policy_rules() -> None:
    policy = RetryPolicy(max_retries=2, backoff=1.0, max_delay=3.0)
    get, post = Call("GET", "/x"), Call("POST", "/x")
    keyed = Call("POST", "/x", headers={"Idempotency-Key": "k"})
    assert policy.should_retry(0, post, 429)
    assert not policy.should_retry(0, post, 503) and policy.should_retry(0, keyed, 503)
    assert policy.should_retry(1, get, None, connection_error=True)
    assert not policy.should_retry(2, get, 503)
    assert not policy.should_retry(0, get, 400)
    assert all(Call(m, "/x").idempotent for m in ("GET", "PUT", "DELETE"))
    assert policy.delay(5) <= 3.0 and policy.delay(0, retry_after=10) == 3.0


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("invalid_request", 400, errors.InvalidRequestError),
        ("unauthorized", 401, errors.AuthenticationError),
        ("forbidden", 403, errors.PermissionDeniedError),
        ("artifact_not_found", 404, errors.ArtifactNotFoundError),
        ("version_not_found", 404, errors.VersionNotFoundError),
        ("session_not_found", 404, errors.SessionNotFoundError),
        ("link_not_found", 404, errors.LinkNotFoundError),
        ("upload_not_found", 404, errors.UploadNotFoundError),
        ("session_sealed", 409, errors.SessionSealedError),
        ("conflict", 409, errors.ConflictError),
        ("artifact_expired", 410, errors.ArtifactExpiredError),
        ("artifact_already_deleted", 410, errors.ArtifactDeletedError),
        ("link_expired", 410, errors.LinkExpiredError),
        ("file_too_large", 413, errors.FileTooLargeError),
        ("checksum_mismatch", 422, errors.ChecksumMismatchError),
        ("quota_exceeded", 403, errors.QuotaExceededError),
        ("ttl_exceeds_plan_limit", 400, errors.TTLExceedsPlanLimitError),
        ("rate_limited", 429, errors.RateLimitedError),
        ("server_error", 500, errors.ServerError),
        ("something_new", 418, errors.ServerError),
    ],
)
def test_error_codes_map_to_exception_classes(
    code: str, status: int, cls: type[errors.ArtifactHubError]
) -> None:
    response = httpx.Response(
        status, json={"error": {"code": code, "message": "m", "status": status}}
    )
    error = error_from_response(response)
    assert type(error) is cls
    assert error.message == "m" and error.context["http_status"] == status


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, errors.AuthenticationError), (404, errors.NotFoundError), (502, errors.ServerError)],
)
def test_answers_without_error_shape_map_by_status(
    status: int, cls: type[errors.ArtifactHubError]
) -> None:
    error = error_from_response(httpx.Response(status, text="<html>proxy</html>"))
    assert type(error) is cls and str(status) in error.message


def test_rate_limited_without_hints_defaults_to_one_second() -> None:
    error = error_from_response(httpx.Response(429, json={"error": {"code": "rate_limited"}}))
    assert isinstance(error, errors.RateLimitedError) and error.retry_after_seconds == 1.0


def test_error_examples_of_the_seed_catch_by_class(sleeps: list[float]) -> None:
    sealed = {"error": {"code": "session_sealed", "message": "sealed", "status": 409}}
    rec = scripted(httpx.Response(409, json=sealed))
    client = client_for(rec)
    try:
        client.push(b"{}", filename="output.json", session_id="run_42")
    except errors.SessionSealedError as error:
        assert error.code == "session_sealed"
    else:  # pragma: no cover
        pytest.fail("expected SessionSealedError")
    _ = NOW


def in_progress(retry_after_seconds: float | None) -> httpx.Response:
    error: dict[str, object] = {
        "code": "idempotency_in_progress",
        "message": "in progress",
        "status": 409,
    }
    if retry_after_seconds is not None:
        error["retry_after_seconds"] = retry_after_seconds
    return httpx.Response(409, json={"error": error})


def test_409_in_progress_on_a_post_is_retried_after_its_wait(sleeps: list[float]) -> None:
    # Another attempt with the same Idempotency-Key still runs (or ran on a replica that died):
    # the hub says when to come back, and the retry carries the same key.
    rec = scripted(in_progress(1.5), httpx.Response(201, json=artifact_json()))
    client_for(rec).push(b"x", filename="x.bin")
    assert sleeps == [1.5]
    keys = {r.headers["idempotency-key"] for r in rec.requests}
    assert len(rec.requests) == 2 and len(keys) == 1


def test_409_without_retry_after_is_final(sleeps: list[float]) -> None:
    rec = scripted(in_progress(None))
    with pytest.raises(errors.ConflictError):
        client_for(rec).push(b"x", filename="x.bin")
    assert len(rec.requests) == 1 and sleeps == []


def test_409_in_progress_is_not_retried_without_a_key(sleeps: list[float]) -> None:
    rec = scripted(in_progress(1.0))
    with pytest.raises(errors.ConflictError):
        client_for(rec, idempotency_keys=False).push(b"x", filename="x.bin")
    assert len(rec.requests) == 1
