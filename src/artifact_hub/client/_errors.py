"""Response checks: an HTTP error response becomes the typed exception of its code.

Also the pure readings of download responses (expected checksum, file name, length) and the
checksum-mismatch error the clients raise after hashing.
"""

from __future__ import annotations

import os
import uuid
from email.message import Message
from pathlib import Path
from typing import Any

import httpx

from artifact_hub.client._config import retry_after_seconds
from artifact_hub.core.errors import (
    ArtifactHubError,
    AuthenticationError,
    ChecksumMismatchError,
    ConflictError,
    FileTooLargeError,
    GoneError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    error_for_code,
)

_BY_STATUS: dict[int, type[ArtifactHubError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: FileTooLargeError,
    422: InvalidRequestError,
    429: RateLimitedError,
}


def error_from_response(response: httpx.Response) -> ArtifactHubError:
    """The typed exception for an error answer (its body must have been read).

    The class comes from ``error.code`` (``error_for_code``); answers without the hub's error
    shape (a proxy's 502, say) fall back on the HTTP status.

    Example:
        >>> r = httpx.Response(404, json={"error": {"code": "artifact_not_found",
        ...     "message": "no art_1", "status": 404}})
        >>> type(error_from_response(r)).__name__
        'ArtifactNotFoundError'
    """
    code: str | None = None
    message: str | None = None
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = body["error"].get("code")
            message = body["error"].get("message")
    except ValueError:
        pass
    status = response.status_code
    cls = error_for_code(code) if code else _BY_STATUS.get(status, ServerError)
    if message is None:
        text = response.text[:200].strip() if response.content else ""
        message = f"HTTP {status}" + (f": {text}" if text else "")
    context: dict[str, Any] = {"http_status": status}
    request_id = response.headers.get("x-request-id")
    if request_id:
        context["request_id"] = request_id
    if issubclass(cls, RateLimitedError):
        wait = retry_after_seconds(response)
        return cls(message, retry_after_seconds=1.0 if wait is None else wait, **context)
    return cls(message, **context)


def expected_sha256(response: httpx.Response) -> str | None:
    """The sha256 the hub announced for a download: ``X-Content-SHA256``, else the ETag."""
    value = str(response.headers.get("x-content-sha256") or "")
    if not value:
        etag = str(response.headers.get("etag") or "")
        value = etag.removeprefix("W/").strip('"')
    value = value.strip().lower()
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def checksum_error(artifact_id: str, expected: str, actual: str) -> ChecksumMismatchError:
    """The error for a download whose bytes do not hash as announced."""
    return ChecksumMismatchError(
        f"downloaded bytes of {artifact_id} hash to {actual}, the hub announced {expected}",
        artifact_id=artifact_id,
        expected=expected,
        actual=actual,
    )


def filename_from_headers(response: httpx.Response) -> str | None:
    """The file name of ``Content-Disposition`` (``filename*`` understood), if any."""
    header = response.headers.get("content-disposition")
    if not header:
        return None
    message = Message()
    message["content-disposition"] = header
    name = message.get_filename()
    return Path(str(name)).name if name else None


def content_length(response: httpx.Response) -> int | None:
    """``Content-Length`` as an int, if the answer has one."""
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def output_is_dir(output: str | os.PathLike[str]) -> bool:
    """Whether ``pull``'s ``output`` names a folder (existing, or ending with a slash)."""
    text = os.fspath(output)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def part_path(target: Path) -> Path:
    """The temporary file a download is written to before it is verified and renamed."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
