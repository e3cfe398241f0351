"""The I/O-free core shared by :class:`Client` and :class:`AsyncClient`.

Everything here is decided without touching the network or the event loop: where the
configuration comes from, which HTTP request each method sends (:class:`Call`), how a
multipart or raw upload body is laid out (:class:`UploadBody`), how a response becomes a model
or a typed exception, and when a failed attempt is retried (:class:`RetryPolicy`). The two
clients only add the I/O, the way httpx splits ``BaseClient`` from ``Client``/``AsyncClient``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import mimetypes
import os
import queue
import random
import secrets
import threading
import tomllib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from artifact_hub.errors import (
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
from artifact_hub.schemas.api import CreateArtifact, Upload

__all__ = [
    "ALL_SESSIONS",
    "CONFIG_PATH",
    "DEFAULT_URL",
    "PART_CONCURRENCY",
    "TTL",
    "BaseClient",
    "Call",
    "ClientConfig",
    "HashingWriter",
    "ListFilters",
    "Progress",
    "RetryPolicy",
    "Source",
    "UploadBody",
    "error_from_response",
    "expected_sha256",
    "resolve_config",
    "session_new",
]

DEFAULT_URL = "http://127.0.0.1:8080"
#: The per-user configuration file (keys ``api_key``, ``url``, ``session_id``, ``agent_id``).
CONFIG_PATH = Path("~/.config/artifact-hub/config.toml")
#: Pass as ``session_id`` to ``list`` to ignore the configured default session.
ALL_SESSIONS = "*"
#: Files larger than this go through the presigned flow (upload-url, PUT, complete).
PRESIGNED_THRESHOLD = 100 * 1024 * 1024
CHUNK_SIZE = 1024 * 1024
#: Parts of a multipart presigned upload (S3) sent at once.
PART_CONCURRENCY = 4
#: Connect within 10 s; otherwise wait up to 5 minutes between bytes (large transfers).
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

#: ``progress(bytes_done, total)``; ``total`` is ``None`` when the size is unknown.
Progress: TypeAlias = Callable[[int, int | None], object]
#: What can be pushed: a path on disk, bytes in memory, or an open binary file.
Source: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]"
#: A TTL: seconds, a ``timedelta``, or ``"never"``.
TTL: TypeAlias = "int | float | timedelta | str | Literal['never']"

M = TypeVar("M", bound=BaseModel)

_ENV = {
    "api_key": ("ARTIFACT_HUB_API_KEY",),
    "base_url": ("ARTIFACT_HUB_URL", "ARTIFACT_HUB_API_URL"),
    "session_id": ("ARTIFACT_HUB_SESSION_ID",),
    "agent_id": ("ARTIFACT_HUB_AGENT_ID",),
}
_CONFIG_KEYS = {
    "api_key": ("api_key",),
    "base_url": ("url", "base_url", "api_url"),
    "session_id": ("session_id",),
    "agent_id": ("agent_id",),
}


# ------------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class ClientConfig:
    """Where the client talks to and as whom, once resolved.

    Attributes:
        api_key: The bearer key (``ak_live_...``), or ``None`` for unauthenticated calls.
        base_url: The hub's root URL, without a trailing slash.
        session_id: Default session of ``push`` and ``list``.
        agent_id: Default agent of ``push``.
    """

    api_key: str | None
    base_url: str
    session_id: str | None
    agent_id: str | None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.expanduser().open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidRequestError(f"cannot read {path}: {exc}") from exc
    return data


def resolve_config(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    session_id: str | None = None,
    agent_id: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Resolve each setting: explicit argument, then environment, then the config file.

    The environment variables are ``ARTIFACT_HUB_API_KEY``, ``ARTIFACT_HUB_URL``,
    ``ARTIFACT_HUB_SESSION_ID`` and ``ARTIFACT_HUB_AGENT_ID``; the file is
    ``~/.config/artifact-hub/config.toml`` with keys ``api_key``, ``url``, ``session_id`` and
    ``agent_id``. The URL defaults to ``http://127.0.0.1:8080``.

    Args:
        api_key: Explicit API key.
        base_url: Explicit hub URL.
        session_id: Explicit default session.
        agent_id: Explicit default agent.
        config_path: Another config file (tests, several profiles).
        environ: Another environment mapping (defaults to ``os.environ``).

    Returns:
        The resolved configuration.

    Example:
        >>> cfg = resolve_config(api_key="ak_live_x", base_url="http://hub:8080/", environ={})
        >>> cfg.base_url
        'http://hub:8080'
    """
    env = os.environ if environ is None else environ
    explicit = {
        "api_key": api_key,
        "base_url": base_url,
        "session_id": session_id,
        "agent_id": agent_id,
    }
    file_values: dict[str, Any] | None = None
    resolved: dict[str, str | None] = {}
    for key, value in explicit.items():
        if value is None:
            value = next((env[name] for name in _ENV[key] if env.get(name)), None)
        if value is None:
            if file_values is None:
                file_values = _read_config_file(Path(config_path or CONFIG_PATH))
            found = next((file_values[k] for k in _CONFIG_KEYS[key] if file_values.get(k)), None)
            value = None if found is None else str(found)
        resolved[key] = value
    url = (resolved["base_url"] or DEFAULT_URL).rstrip("/")
    return ClientConfig(
        api_key=resolved["api_key"],
        base_url=url,
        session_id=resolved["session_id"],
        agent_id=resolved["agent_id"],
    )


def session_new() -> str:
    """A new session id, made locally: ``"ses_"`` and 16 random lowercase characters.

    Example:
        >>> session_new().startswith("ses_")
        True
    """
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "ses_" + "".join(secrets.choice(alphabet) for _ in range(16))


# ------------------------------------------------------------------------------------ retries


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before another attempt.

    429 answers are retried for every call (the hub refused the request before doing
    anything), after ``Retry-After``. 5xx answers and connection errors are retried only for
    idempotent calls: GET, HEAD, DELETE, PUT, and POSTs that carry an ``Idempotency-Key``
    (the clients send one on every POST and reuse it across attempts). Waits grow as
    ``backoff * 2**attempt`` with full jitter, capped at ``max_delay``.

    Attributes:
        max_retries: Attempts after the first; 0 disables retries.
        backoff: Base delay in seconds.
        max_delay: Longest single wait in seconds.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_delay: float = 30.0

    def should_retry(
        self, attempt: int, call: Call, status: int | None, *, connection_error: bool = False
    ) -> bool:
        """Whether attempt number ``attempt`` (0-based) may be followed by another."""
        if attempt >= self.max_retries:
            return False
        if status == 429:
            return True
        if connection_error or (status is not None and status >= 500):
            return call.idempotent
        return False

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``; ``retry_after`` wins when given."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        ceiling = min(self.backoff * (2**attempt), self.max_delay)
        return random.uniform(ceiling / 2, ceiling)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait a 429 asks for: ``retry_after_seconds`` in the body, else ``Retry-After``."""
    try:
        body = response.json()
        value = body["error"]["retry_after_seconds"]
        if value is not None:
            return float(value)
    except (ValueError, KeyError, TypeError, httpx.ResponseNotRead):
        pass
    header = response.headers.get("retry-after")
    if header is None:
        return None
    try:
        return float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


# ------------------------------------------------------------------------------------- errors

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


class ListFilters(TypedDict, total=False):
    """Filters of ``list`` / ``list_page`` (query parameters of ``GET /v1/artifacts``).

    ``session_id`` defaults to the client's session; pass ``"*"`` to list every session.
    ``metadata`` and ``labels`` match by equality on each key; ``tags`` must all be present.
    """

    session_id: str | None
    agent_id: str | None
    kind: str | None
    name: str | None
    namespace: str | None
    content_type: str | None
    run_id: str | None
    tags: Sequence[str] | None
    labels: Mapping[str, Any] | None
    metadata: Mapping[str, Any] | None
    created_after: datetime | str | None
    created_before: datetime | str | None
    pinned: bool | None
    include_deleted: bool | None


# ------------------------------------------------------------------------------ upload bodies


@dataclass
class UploadBody:
    """A streamed upload: a file or bytes, raw or wrapped in a ``multipart/form-data`` body.

    Nothing is read until the body is iterated, and each iteration starts again from the
    first byte, so a retried attempt resends everything. A file on disk is read in chunks and
    never held whole in memory.

    Attributes:
        source: A path, bytes, or an open binary file (seekable if it may be retried).
        size: Length of the content in bytes.
        filename: Name of the file part.
        content_type: Media type of the file part (or of the raw body).
        fields: Form fields sent before the file part; ``None`` sends the content raw.
        progress: Called with ``(bytes_done, total)`` as the content goes out.
    """

    source: str | os.PathLike[str] | bytes | IO[bytes]
    size: int
    filename: str
    content_type: str
    fields: list[tuple[str, str]] | None = None
    progress: Progress | None = None
    start: int = 0
    boundary: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(
        cls,
        source: Source,
        *,
        filename: str | None,
        content_type: str | None,
        fields: list[tuple[str, str]] | None = None,
        progress: Progress | None = None,
    ) -> UploadBody:
        """Describe ``source`` (sizing it without reading it)."""
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            name = filename or "data.bin"
            return cls(data, len(data), name, content_type or _guess_type(name), fields, progress)
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if not path.is_file():
                raise InvalidRequestError(f"no such file: {path}", path=str(path))
            name = filename or path.name
            size = path.stat().st_size
            return cls(path, size, name, content_type or _guess_type(name), fields, progress)
        handle: IO[bytes] = source
        name = filename or Path(str(getattr(handle, "name", "data.bin"))).name
        start = handle.tell()
        handle.seek(0, os.SEEK_END)
        size = handle.tell() - start
        handle.seek(start)
        media = content_type or _guess_type(name)
        return cls(handle, size, name, media, fields, progress, start)

    def part(self, offset: int, size: int, progress: Progress | None = None) -> UploadBody:
        """The raw content bytes ``offset..offset+size`` as a body of their own (one part)."""
        if isinstance(self.source, bytes):
            source: str | os.PathLike[str] | bytes | IO[bytes] = self.source[offset : offset + size]
            start = 0
        else:
            source, start = self.source, self.start + offset
        return UploadBody(source, size, self.filename, self.content_type, None, progress, start)

    @property
    def parts_in_parallel(self) -> bool:
        """Whether parts may be read at once (each opens its own file; a caller's does not)."""
        return isinstance(self.source, bytes | str | os.PathLike)

    # --- layout

    def _head(self) -> bytes:
        if self.fields is None:
            return b""
        parts = []
        for name, value in self.fields:
            parts.append(
                f"--{self.boundary}\r\n"
                f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
                f"{value}\r\n"
            )
        parts.append(
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{_quote(self.filename)}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        )
        return "".join(parts).encode()

    def _tail(self) -> bytes:
        return b"" if self.fields is None else f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def headers(self) -> dict[str, str]:
        """``Content-Type`` and ``Content-Length`` of the whole body."""
        if self.fields is None:
            media = self.content_type
        else:
            media = f"multipart/form-data; boundary={self.boundary}"
        length = len(self._head()) + self.size + len(self._tail())
        return {"Content-Type": media, "Content-Length": str(length)}

    # --- iteration

    def _open(self) -> tuple[IO[bytes] | None, bytes | None, bool]:
        if isinstance(self.source, bytes):
            return None, self.source, False
        if isinstance(self.source, str | os.PathLike):
            return Path(self.source).open("rb"), None, True
        return self.source, None, False

    def _report(self, done: int) -> None:
        if self.progress is not None:
            self.progress(done, self.size)

    def __iter__(self) -> Iterator[bytes]:
        """Yield the body in chunks, from the start."""
        yield self._head()
        handle, data, owned = self._open()
        done = 0
        self._report(0)
        try:
            if owned and handle is not None and self.start:
                handle.seek(self.start)
            if data is not None:
                for start in range(0, len(data), CHUNK_SIZE):
                    chunk = data[start : start + CHUNK_SIZE]
                    done += len(chunk)
                    yield chunk
                    self._report(done)
            elif handle is not None:
                if not owned and handle.seekable():
                    handle.seek(self.start)
                while done < self.size:
                    chunk = handle.read(min(CHUNK_SIZE, self.size - done))
                    if not chunk:
                        break
                    done += len(chunk)
                    yield chunk
                    self._report(done)
        finally:
            if owned and handle is not None:
                handle.close()
        yield self._tail()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks, reading the file in a worker thread."""
        chunks = iter(self)
        sentinel = b"\x00sentinel"
        while True:
            chunk = await asyncio.to_thread(next, chunks, sentinel)
            if chunk is sentinel:
                return
            yield chunk


class HashingWriter:
    """Writes chunks to a file and hashes them (sha256) in a worker thread.

    A download hands each chunk over and goes back to the socket at once: reading the
    network, writing the file and hashing then overlap (file writes and ``hashlib`` release
    the GIL) instead of taking turns. At most ``depth`` chunks wait in between, so memory
    stays bounded. Call :meth:`finish` (also on errors: it stops the thread).
    """

    def __init__(self, handle: IO[bytes], depth: int = 4) -> None:
        self._handle = handle
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._digest = hashlib.sha256()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="artifact-hub-pull", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks
            try:
                self._handle.write(chunk)
                self._digest.update(chunk)
            except BaseException as error:
                self._error = error

    def write(self, chunk: bytes) -> None:
        """Queue a chunk (waits while ``depth`` are queued); raise an earlier write's error."""
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def finish(self) -> str:
        """Wait for the queued chunks; the sha256 of all of them (hex)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()


class _PartsProgress:
    """Adds up the progress of parts sent at once into one ``progress(done, total)``."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.progress = progress
        self.done: dict[int, int] = {}
        self.lock = threading.Lock()

    def reporter(self, number: int) -> Progress | None:
        if self.progress is None:
            return None

        def report(done: int, _total: int | None) -> None:
            with self.lock:
                self.done[number] = done
                overall = sum(self.done.values())
            assert self.progress is not None
            self.progress(overall, self.total)

        return report


#: ``push``'s keyword arguments of its own (``name`` is an alias of ``filename``).
_PUSH_OWN_ARGS = frozenset(
    {"filename", "session_id", "agent_id", "metadata", "content_type", "ttl", "labels", "tags"}
    | {"namespace", "kind", "pinned", "progress"}
)
#: The other ``CreateArtifact`` fields ``push(**fields)`` passes through to the API.
PUSH_EXTRA_FIELDS = (
    frozenset(CreateArtifact.model_fields) - _PUSH_OWN_ARGS - {"name"} - {"content_base64"}
)


def push_filename(filename: str | None, fields: dict[str, Any], method: str = "push") -> str | None:
    """The name ``push`` stores, with ``name`` accepted as an alias of ``filename``.

    Takes ``name`` out of ``fields`` and checks the rest are fields the API knows, so that a
    misspelt keyword fails loudly instead of being dropped.

    Raises:
        TypeError: ``name`` and ``filename`` disagree, or an unknown keyword argument.
    """
    name = fields.pop("name", None)
    if name is not None:
        if filename is not None and filename != name:
            raise TypeError(f"{method}() got both name={name!r} and filename={filename!r}")
        filename = name
    unknown = sorted(set(fields) - PUSH_EXTRA_FIELDS)
    if unknown:
        raise TypeError(
            f"{method}() got unexpected keyword argument(s): {', '.join(unknown)} "
            f"(other fields it takes: {', '.join(sorted(PUSH_EXTRA_FIELDS))})"
        )
    return filename


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


_UNKNOWN_TYPE = "application/octet-stream"


def _guess_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or _UNKNOWN_TYPE


# ------------------------------------------------------------------------------------- calls


@dataclass
class Call:
    """One API request, ready for either client to send.

    Attributes:
        method: HTTP method.
        path: Path under the base URL, or an absolute URL (presigned uploads).
        params: Query parameters (a list, so keys may repeat).
        json: JSON body.
        body: Streamed upload body.
        headers: Extra headers (``Idempotency-Key`` for POSTs).
        authenticated: Whether to send the API key (never to presigned URLs).
        stream: Whether the answer is a byte stream to read incrementally.
    """

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    json: Any = None
    body: UploadBody | None = None
    headers: dict[str, str] = field(default_factory=dict)
    authenticated: bool = True
    stream: bool = False

    @property
    def idempotent(self) -> bool:
        """Whether a failed attempt may be replayed without doing the work twice."""
        return self.method in IDEMPOTENT_METHODS or "Idempotency-Key" in self.headers


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _label_value(value: Any) -> str:
    """A ``label.<k>=v`` value: the server reads it as JSON when it parses, else as a string.

    So a string that would parse (``"42"``, ``"true"``) is sent JSON-quoted to stay a string.
    """
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
        return json.dumps(value)
    return _form_value(value)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def ttl_fields(ttl: TTL | None) -> dict[str, Any]:
    """``ttl_seconds`` / ``never_expires`` for a TTL: seconds, timedelta, ``"7d"`` or ``"never"``.

    Example:
        >>> ttl_fields("2h"), ttl_fields("never")
        ({'ttl_seconds': 7200}, {'never_expires': True})
    """
    if ttl is None:
        return {}
    if ttl == "never":
        return {"never_expires": True}
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, str):
        text = ttl.strip().lower()
        try:
            unit = _UNITS.get(text[-1:], 0)
            seconds = float(text[:-1]) * unit if unit else float(text)
        except ValueError:
            raise InvalidRequestError(
                f"cannot read {ttl!r} as a TTL (try 3600, '7d', 'never')"
            ) from None
    else:
        seconds = float(ttl)
    if seconds < 1:
        raise InvalidRequestError("ttl must be at least one second, or 'never'")
    return {"ttl_seconds": int(seconds)}


class BaseClient:
    """Configuration, request building and response parsing for both clients.

    Args:
        api_key: API key; else ``ARTIFACT_HUB_API_KEY``, else the config file.
        base_url: Hub URL; else ``ARTIFACT_HUB_URL``, else the config file, else
            ``http://127.0.0.1:8080``.
        session_id: Default session for ``push`` and ``list``; else ``ARTIFACT_HUB_SESSION_ID``.
        agent_id: Default agent for ``push``; else ``ARTIFACT_HUB_AGENT_ID``.
        max_retries: Retries after the first attempt (see :class:`RetryPolicy`).
        retry_backoff: Base of the exponential backoff, in seconds.
        presigned_threshold: Files larger than this many bytes use the presigned flow.
        idempotency_keys: Send a fresh ``Idempotency-Key`` with every POST (and so retry
            POSTs safely); turn off only for servers that reject the header.
        config_path: Another config file instead of ``~/.config/artifact-hub/config.toml``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        presigned_threshold: int = PRESIGNED_THRESHOLD,
        idempotency_keys: bool = True,
        config_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = resolve_config(
            api_key=api_key,
            base_url=base_url,
            session_id=session_id,
            agent_id=agent_id,
            config_path=config_path,
        )
        self.retry = RetryPolicy(max_retries=max_retries, backoff=retry_backoff)
        self.presigned_threshold = presigned_threshold
        self.idempotency_keys = idempotency_keys

    @staticmethod
    def session_new() -> str:
        """A new session id made locally (no API call): ``ses_`` + 16 random characters.

        Example:
            >>> Client.session_new()  # doctest: +SKIP
            'ses_k2j4h5g6f7d8s9a0'
        """
        return session_new()

    @property
    def base_url(self) -> str:
        """The hub's root URL."""
        return self.config.base_url

    @property
    def session_id(self) -> str | None:
        """The default session of ``push`` and ``list``."""
        return self.config.session_id

    @property
    def agent_id(self) -> str | None:
        """The default agent of ``push``."""
        return self.config.agent_id

    def _session(self, session_id: str | None) -> str:
        session = session_id or self.config.session_id
        if not session:
            raise InvalidRequestError("no session_id given and none configured")
        return session

    # --- sending helpers (no I/O)

    def _post(self, path: str, **kwargs: Any) -> Call:
        call = Call("POST", path, **kwargs)
        if self.idempotency_keys:
            call.headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        return call

    def _request(self, call: Call, content: Any = None) -> httpx.Request:
        headers = {"Accept": "application/json", "User-Agent": _user_agent(), **call.headers}
        if call.authenticated and self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        url = call.path if "://" in call.path else self.config.base_url + call.path
        if call.body is not None:
            headers.update(call.body.headers)
        return httpx.Request(
            call.method,
            url,
            # no params at all unless given: merging re-encodes a presigned URL's query
            params=httpx.QueryParams(tuple(call.params)) if call.params else None,
            json=call.json,
            content=content,
            headers=headers,
        )

    # --- request builders: account and sessions

    def _whoami(self) -> Call:
        return Call("GET", "/v1/whoami")

    def _health(self) -> Call:
        return Call("GET", "/health", authenticated=False)

    def _seal_session(self, session_id: str) -> Call:
        return self._post(f"/v1/sessions/{_seg(session_id)}/seal")

    def _get_session(self, session_id: str) -> Call:
        return Call("GET", f"/v1/sessions/{_seg(session_id)}")

    # --- artifacts

    def _create_fields(
        self,
        *,
        session_id: str | None,
        agent_id: str | None,
        use_defaults: bool = True,
        ttl: TTL | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        if use_defaults:
            session_id = session_id or self.config.session_id
            agent_id = agent_id or self.config.agent_id
        values: dict[str, Any] = {"session_id": session_id, "agent_id": agent_id}
        values.update(fields)
        values.update(ttl_fields(ttl))
        return {k: v for k, v in values.items() if v is not None and v is not False}

    def _push(
        self,
        source: Source,
        *,
        filename: str | None,
        content_type: str | None,
        progress: Progress | None,
        fields: dict[str, Any],
        artifact_id: str | None = None,
    ) -> Call:
        if artifact_id is not None and content_type is None:
            # A new version keeps the artifact's type unless given one: the part says
            # "unknown" (the hub ignores octet-stream there) and no content_type field goes.
            body = UploadBody.of(source, filename=filename, content_type=_UNKNOWN_TYPE)
        else:
            body = UploadBody.of(source, filename=filename, content_type=content_type)
        form = [(k, _form_value(v)) for k, v in fields.items()]
        if artifact_id is None:
            form.append(("name", body.filename))
        if artifact_id is None or content_type is not None:
            form.append(("content_type", body.content_type))
        body.fields = form
        body.progress = progress
        path = "/v1/artifacts"
        if artifact_id is not None:
            path = f"/v1/artifacts/{_seg(artifact_id)}/versions"
        return self._post(path, body=body)

    def _push_json(self, fields: dict[str, Any], data: bytes) -> Call:
        payload = dict(fields)
        payload["content_base64"] = base64.b64encode(data).decode()
        return self._post("/v1/artifacts", json=payload)

    def _upload_url(self, fields: dict[str, Any], size_bytes: int) -> Call:
        return self._post("/v1/artifacts/upload-url", json={**fields, "size_bytes": size_bytes})

    def _upload_put(self, upload_url: str, headers: Mapping[str, str], body: UploadBody) -> Call:
        return Call("PUT", upload_url, body=body, headers=dict(headers), authenticated=False)

    def _upload_parts(self, upload: Upload, body: UploadBody) -> list[Call]:
        """One ``PUT`` per part of a multipart presigned upload (S3), in order."""
        assert upload.parts is not None
        progress = _PartsProgress(body.size, body.progress)
        return [
            Call(
                "PUT",
                part.url,
                body=body.part(part.offset, part.size, progress.reporter(part.part_number)),
                authenticated=False,
            )
            for part in upload.parts
        ]

    def _complete(self, upload_id: str) -> Call:
        return self._post(f"/v1/artifacts/{_seg(upload_id)}/complete")

    def _get(self, artifact_id: str) -> Call:
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}")

    def _update(self, artifact_id: str, changes: dict[str, Any]) -> Call:
        body = {k: v for k, v in changes.items() if v is not None}
        return Call("PATCH", f"/v1/artifacts/{_seg(artifact_id)}", json=body)

    def _delete(self, artifact_id: str) -> Call:
        return Call("DELETE", f"/v1/artifacts/{_seg(artifact_id)}")

    def _content(self, artifact_id: str, version: int | None) -> Call:
        params = [] if version is None else [("version", str(version))]
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/content", params, stream=True)

    def _download_url(self, artifact_id: str, expires_in: int, version: int | None) -> Call:
        params = [("expires_in", str(int(expires_in)))]
        if version is not None:
            params.append(("version", str(version)))
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/download-url", params)

    def _lookup(self, ref: str, session_id: str | None, namespace: str | None) -> Call:
        params = [("ref", ref)]
        if session_id is not None:
            params.append(("session_id", session_id))
        if namespace is not None:
            params.append(("namespace", namespace))
        return Call("GET", "/v1/lookup", params)

    def _versions(self, artifact_id: str) -> Call:
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/versions")

    def _delete_version(self, artifact_id: str, version: int) -> Call:
        return Call("DELETE", f"/v1/artifacts/{_seg(artifact_id)}/versions/{int(version)}")

    def _share(self, artifact_id: str, agents: Sequence[str], groups: Sequence[str]) -> Call:
        body = {"agents": list(agents), "groups": list(groups)}
        return self._post(f"/v1/artifacts/{_seg(artifact_id)}/share", json=body)

    def _unshare(self, artifact_id: str, agents: Sequence[str], groups: Sequence[str]) -> Call:
        body = {"agents": list(agents), "groups": list(groups)}
        return self._post(f"/v1/artifacts/{_seg(artifact_id)}/unshare", json=body)

    def _access(self, artifact_id: str) -> Call:
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/access")

    def _lineage(self, artifact_id: str) -> Call:
        return Call("GET", f"/v1/artifacts/{_seg(artifact_id)}/lineage")

    def _extend_ttl(self, artifact_id: str, ttl: TTL) -> Call:
        fields = ttl_fields(ttl)
        body: dict[str, Any] = (
            {"never": True}
            if fields.get("never_expires")
            else {"ttl_seconds": fields["ttl_seconds"]}
        )
        return self._post(f"/v1/artifacts/{_seg(artifact_id)}/extend-ttl", json=body)

    def _create_link(self, artifact_id: str, expires_in: int | None, version: int | None) -> Call:
        body: dict[str, Any] = {}
        if expires_in is not None:
            body["expires_in"] = int(expires_in)
        if version is not None:
            body["version"] = version
        return self._post(f"/v1/artifacts/{_seg(artifact_id)}/links", json=body)

    def _revoke_link(self, link_id: str) -> Call:
        return Call("DELETE", f"/v1/links/{_seg(link_id)}")

    def _list(
        self,
        *,
        shared: bool = False,
        session_id: str | None = None,
        use_default_session: bool = True,
        agent_id: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        content_type: str | None = None,
        run_id: str | None = None,
        tags: Sequence[str] | None = None,
        labels: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        pinned: bool | None = None,
        include_deleted: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
    ) -> Call:
        if session_id is None and use_default_session:
            session_id = self.config.session_id
        if session_id == ALL_SESSIONS:
            session_id = None
        params: list[tuple[str, str]] = []
        simple = {
            "session_id": session_id,
            "agent_id": agent_id,
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "content_type": content_type,
            "run_id": run_id,
            "created_after": created_after,
            "created_before": created_before,
            "pinned": pinned,
            "include_deleted": include_deleted,
            "limit": limit,
            "cursor": cursor,
            "offset": offset,
        }
        params.extend((k, _query_value(v)) for k, v in simple.items() if v is not None)
        params.extend(("tag", tag) for tag in tags or ())
        params.extend((f"label.{k}", _label_value(v)) for k, v in (labels or {}).items())
        if metadata:
            params.append(("metadata", json.dumps(dict(metadata), separators=(",", ":"))))
        return Call("GET", "/v1/shared" if shared else "/v1/artifacts", params)

    def _search(
        self,
        query: str | None = None,
        *,
        mode: str | None = None,
        kind: str | None = None,
        tags: Sequence[str] | None = None,
        labels: Mapping[str, Any] | None = None,
        metric: str | None = None,
        metric_mode: str | None = None,
        time_window: str | timedelta | float | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
    ) -> Call:
        if isinstance(time_window, timedelta):
            time_window = f"{time_window.total_seconds():g}s"
        simple = {
            "q": query,
            "mode": mode,
            "kind": kind,
            "metric": metric,
            "metric_mode": metric_mode,
            "time_window": time_window,
            "created_after": created_after,
            "created_before": created_before,
            "limit": limit,
        }
        params = [(k, _query_value(v)) for k, v in simple.items() if v is not None]
        params.extend(("tag", tag) for tag in tags or ())
        if labels:
            params.append(("labels", json.dumps(dict(labels), separators=(",", ":"), default=str)))
        return Call("GET", "/v1/search", params)

    # --- response parsing

    @staticmethod
    def _parse(model: type[M], response: httpx.Response) -> M:
        return model.model_validate(response.json())


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _user_agent() -> str:
    from artifact_hub import __version__

    return f"artifact-hub-python/{__version__}"


def sha256_hex(data: bytes) -> str:
    """The lowercase hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
