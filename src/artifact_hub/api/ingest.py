"""Content uploads on ``POST /v1/artifacts`` and ``/versions``: multipart or JSON base64.

The multipart ``file`` part is streamed to the blob store (up to :data:`MULTIPART_MAX_BYTES`);
a JSON body carries ``content_base64`` (up to :data:`JSON_MAX_BYTES` decoded). Either way the
service applies the tenant's plan too (``service/plans.py``), and the smaller limit wins.
Metadata is checked by the service as well.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from artifact_hub.api.multipart import read_form
from artifact_hub.core.errors import FileTooLargeError, InvalidRequestError, PermissionDeniedError
from artifact_hub.schemas.api import CreateArtifact
from artifact_hub.schemas.identity import Caller

__all__ = [
    "JSON_MAX_BYTES",
    "MULTIPART_MAX_BYTES",
    "Incoming",
    "check_identity",
    "read_incoming",
]

MULTIPART_MAX_BYTES = 500 * 1024 * 1024
JSON_MAX_BYTES = 10 * 1024 * 1024
_SMALL_BODY = 256 * 1024  # read into memory whole (a request of that size is anyway)
_FORM_OVERHEAD = 1024 * 1024  # fields and part headers around the file, in Content-Length
_JSON_FIELDS = frozenset({"metadata", "labels", "metrics", "tags"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Incoming:
    """An upload: its fields, its content stream, and the most bytes it may have."""

    body: CreateArtifact
    content: AsyncIterator[bytes] | bytes
    max_size: int
    content_type: str | None
    """The body's ``content_type``, else the file part's, else a guess from the name."""
    name: str | None
    """The body's ``name``, else the file part's filename."""
    given_content_type: str | None = None
    """The type the client named (body field or a file part's specific type), never a guess
    from the name: a new version keeps the artifact's type unless given one."""


def _validate(data: dict[str, Any], *, strict: bool = True) -> CreateArtifact:
    try:
        body = CreateArtifact.model_validate(data, strict=strict)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from error
    if body.sha256 is not None and not _SHA256.fullmatch(body.sha256):
        raise InvalidRequestError("sha256 must be 64 lowercase hex characters")
    return body


def check_identity(caller: Caller, body: CreateArtifact) -> None:
    """The body may name the key's agent and namespace, no others (admins: any namespace).

    Raises:
        PermissionDeniedError: It names another agent or namespace.
    """
    if body.agent_id is not None and body.agent_id != caller.agent_id:
        raise PermissionDeniedError("agent_id must be the API key's agent")
    if body.namespace is not None and body.namespace != caller.namespace and not caller.admin:
        raise PermissionDeniedError("namespace must be the API key's namespace")


def _form_data(fields: dict[str, list[str]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, values in fields.items():
        if name == "content_base64":
            raise InvalidRequestError("send content as the 'file' part, not content_base64")
        if name == "tags" and not (len(values) == 1 and values[0].lstrip().startswith("[")):
            data[name] = values  # repeated plain values
            continue
        value = values[-1]
        if name in _JSON_FIELDS:
            try:
                data[name] = json.loads(value) if value.strip() else None
            except (ValueError, RecursionError) as error:
                raise InvalidRequestError(f"form field {name!r} must be JSON") from error
        else:
            data[name] = value
    return data


async def _read_capped(request: Request, cap: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise FileTooLargeError(
                f"a JSON body holds at most {JSON_MAX_BYTES} bytes of content; use multipart "
                "or a presigned upload",
                max_bytes=JSON_MAX_BYTES,
            )
    return bytes(body)


async def read_incoming(request: Request, caller: Caller) -> Incoming:
    """Parse the upload of a request by its Content-Type.

    Raises:
        InvalidRequestError: Neither multipart nor JSON, malformed, or no content.
        FileTooLargeError: Larger than the upload path or the plan allows (when known early).
        PermissionDeniedError: It names another agent or namespace than the key's.
    """
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        incoming = await _read_multipart(request, content_type)
    elif media == "application/json" or media.endswith("+json"):
        incoming = await _read_json(request)
    else:
        raise InvalidRequestError("send multipart/form-data (a 'file' part) or application/json")
    check_identity(caller, incoming.body)
    return incoming


async def _read_multipart(request: Request, content_type: str) -> Incoming:
    max_size = MULTIPART_MAX_BYTES
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_size + _FORM_OVERHEAD:
        raise FileTooLargeError(
            f"the upload is larger than the {max_size} byte limit", max_bytes=max_size
        )
    form = await read_form(request.stream(), content_type)
    if form.file is None:
        raise InvalidRequestError("the multipart body has no 'file' part")
    # Form fields are text: "true" and "3600" are read as a boolean and a number there.
    body = _validate(_form_data(form.fields), strict=False)
    name = body.name or form.file.filename
    part_type = form.file.content_type
    if part_type == "application/octet-stream":
        part_type = None  # what clients send when they do not know
    guessed = mimetypes.guess_type(name)[0] if name else None
    content: AsyncIterator[bytes] | bytes = form.content
    if length and length.isdigit() and int(length) <= _SMALL_BODY:
        # A small body is read whole: the service then knows its size before storing it
        # and checks the session once, in the write (see ArtifactService.push).
        content = b"".join([chunk async for chunk in form.content])
    return Incoming(
        body=body,
        content=content,
        max_size=max_size,
        content_type=body.content_type or part_type or guessed or form.file.content_type,
        name=name,
        given_content_type=body.content_type or part_type,
    )


async def _read_json(request: Request) -> Incoming:
    max_size = JSON_MAX_BYTES
    raw = await _read_capped(request, JSON_MAX_BYTES * 4 // 3 + 4 + _FORM_OVERHEAD)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested thousands deep
        raise InvalidRequestError("the body is not valid JSON") from error
    if not isinstance(data, dict):
        raise InvalidRequestError("the body must be a JSON object")
    body = _validate(data)
    if body.content_base64 is None:
        raise InvalidRequestError("content_base64 is required in a JSON upload")
    try:
        content = base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidRequestError("content_base64 is not valid base64") from error
    if len(content) > max_size:
        raise FileTooLargeError(
            f"content is larger than the {max_size} byte limit of this upload path",
            max_bytes=max_size,
        )
    body = body.model_copy(update={"content_base64": None})
    guessed = mimetypes.guess_type(body.name)[0] if body.name else None
    return Incoming(
        body=body,
        content=content,
        max_size=max_size,
        content_type=body.content_type or guessed,
        name=body.name,
        given_content_type=body.content_type,
    )
