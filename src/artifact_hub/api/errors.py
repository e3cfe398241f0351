"""The one place where errors become HTTP responses: ``{"error": {code, message, status}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from artifact_hub.errors import (
    ArtifactHubError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger(__name__)


def error_response(error: ArtifactHubError, status: int | None = None) -> JSONResponse:
    """The JSON response for a hub error (with ``Retry-After`` when rate limited).

    ``status`` overrides the error's own (e.g. 422 for a body that fails validation); the
    body's ``status`` always equals the HTTP status.
    """
    headers = {}
    if isinstance(error, RateLimitedError):
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
