"""Client configuration and retries: where settings come from, and when to try again.

Arguments, then ``ARTIFACT_HUB_*`` environment variables, then the config file
(:func:`resolve_config`); new session ids (:func:`session_new`); the retry policy and the
``Retry-After`` reading (:class:`RetryPolicy`); the SDK's shared type aliases. No I/O beyond
reading the config file.
"""

from __future__ import annotations

import os
import random
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TypeAlias, TypeVar

import httpx
from pydantic import BaseModel

from artifact_hub.core.errors import (
    InvalidRequestError,
)

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


class _Retryable(Protocol):
    """What a retry decision reads of a request (``_requests.Call`` is one)."""

    @property
    def idempotent(self) -> bool:
        """Whether sending it twice does no harm."""
        ...


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
    anything), after ``Retry-After``. 5xx answers, connection errors and a 409 with
    ``retry_after_seconds`` (another attempt with the same ``Idempotency-Key`` is in
    progress) are retried only for idempotent calls: GET, HEAD, DELETE, PUT, and POSTs that
    carry an ``Idempotency-Key`` (the clients send one on every POST and reuse it across
    attempts). Waits grow as
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
        self,
        attempt: int,
        call: _Retryable,
        status: int | None,
        *,
        connection_error: bool = False,
        in_progress: bool = False,
    ) -> bool:
        """Whether attempt number ``attempt`` (0-based) may be followed by another.

        ``in_progress``: a 409 that says when to come back (``retry_after_seconds``): the
        first attempt with this idempotency key still runs, or ran on a server that died.
        """
        if attempt >= self.max_retries:
            return False
        if status == 429:
            return True
        if in_progress and status == 409:
            return call.idempotent
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
