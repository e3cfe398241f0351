"""The one place where errors become HTTP responses: ``{"error": {code, message, status}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from artifact_hub.core.errors import (
    ArtifactHubError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    StorageUnavailableError,
)

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "check_request_text",
    "error_response",
    "errors",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code`` to match on, a ``message`` for people."""

    code: str
    message: str
    status: int
    retry_after_seconds: float | None = None
    """With ``rate_limited`` and ``storage_unavailable``: seconds to wait (also the
    ``Retry-After`` header)."""


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


_MEANINGS = {
    400: "invalid_request (or ttl_exceeds_plan_limit): the request is malformed",
    401: "unauthorized: no API key, or an unknown or revoked one",
    403: "forbidden or quota_exceeded; on unauthenticated URLs, an altered signature",
    404: "not_found, artifact_not_found, version_not_found, session_not_found, "
    "link_not_found or upload_not_found",
    405: "invalid_request: the path exists, not with this method",
    409: "conflict or session_sealed",
    410: "artifact_expired, artifact_already_deleted or link_expired",
    413: "file_too_large",
    422: "invalid_request: a parameter or a body field fails validation; checksum_mismatch",
    429: "rate_limited (see Retry-After)",
    500: "server_error: the hub failed; idempotent calls may retry with backoff",
    501: "search_unavailable: no embedder for semantic search",
    503: "storage_unavailable: the blob store failed after its retries; nothing was written "
    "(see Retry-After)",
}


def errors(*statuses: int, public: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: the error answers it may give, with their body schema.

    422, 429 and 500 can come from any route, 401 from any but the ``public`` ones (signed
    URLs); each route adds its own.
    """
    common = {422, 429, 500} if public else {401, 422, 429, 500}
    return {
        status: {"model": ErrorBody, "description": _MEANINGS[status]}
        for status in sorted({*statuses, *common})
    }


def check_request_text(request: Request) -> None:
    """Refuse NUL bytes in the path and the query (an app-wide dependency).

    PostgreSQL cannot store or compare text holding NUL, and SQLite cuts C strings at it:
    refused here, on every stack alike, before any handler looks at them.

    Raises:
        RequestValidationError: A path parameter or query value holds a NUL byte (422).
    """
    found = [("path", k, v) for k, v in request.path_params.items()] + [
        ("query", k, v) for k, v in request.query_params.multi_items()
    ]
    for where, key, value in found:
        if isinstance(value, str) and ("\x00" in value or "\x00" in key):
            raise RequestValidationError(
                [{"loc": (where, key), "msg": "must not contain NUL bytes", "type": "value_error"}]
            )


def error_response(error: ArtifactHubError, status: int | None = None) -> JSONResponse:
    """The JSON response for a hub error (with ``Retry-After`` when it says when to retry).

    ``status`` overrides the error's own (e.g. 422 for a body that fails validation); the
    body's ``status`` always equals the HTTP status.
    """
    headers = {}
    if isinstance(error, RateLimitedError | StorageUnavailableError):
        headers["Retry-After"] = str(max(1, round(error.retry_after_seconds)))
    body = error.to_dict()
    if status is not None:
        body["error"]["status"] = status
    return JSONResponse(body, status_code=status or error.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map hub errors, validation errors, HTTP errors and crashes to the error shape."""

    @app.exception_handler(ArtifactHubError)
    async def _hub(_: Request, error: ArtifactHubError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(
            InvalidRequestError(f"{where}: {first.get('msg', 'invalid request')}"), status=422
        )

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 404:
            return error_response(NotFoundError(str(error.detail)))
        return error_response(InvalidRequestError(str(error.detail)), status=error.status_code)

    @app.exception_handler(Exception)
    async def _crash(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(ServerError("internal error"))
