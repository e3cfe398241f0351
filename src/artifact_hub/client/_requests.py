"""Request building: the pure steps from a method's arguments to an HTTP :class:`Call`.

List filters, the push keyword set, form/label/query encoding, TTL fields, path segments and
the user agent; no network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict
from urllib.parse import quote

from artifact_hub.client._config import IDEMPOTENT_METHODS, TTL
from artifact_hub.client._transfers import UploadBody
from artifact_hub.core.errors import (
    InvalidRequestError,
)
from artifact_hub.core.version import __version__
from artifact_hub.schemas.api import CreateArtifact


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


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _user_agent() -> str:
    return f"artifact-hub-python/{__version__}"


def sha256_hex(data: bytes) -> str:
    """The lowercase hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def search_call(
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
    """The ``GET /v1/search`` call of a search (``time_window`` as seconds when a timedelta)."""
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
