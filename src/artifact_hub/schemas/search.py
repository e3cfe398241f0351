"""Search requests and hits: structured, lexical, semantic and hybrid search over artifacts.

Shared by the service layer (``SearchService``), the REST route ``GET /v1/search``, the SDK's
``client.search(...)`` and the ArtifactFacade's ``search``/``best``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from artifact_hub.schemas.artifacts import Artifact

__all__ = [
    "SearchHit",
    "SearchMode",
    "SearchRequest",
    "SearchResults",
    "parse_time_window",
]

SearchMode = Literal["structured", "lexical", "semantic", "hybrid"]

_WINDOW = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)\s*$"
)
MAX_TIME_WINDOW = timedelta(days=100 * 365)
"""The longest ``time_window`` (100 years: "now minus the window" must stay a date)."""
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "wk": 604800,
    "wks": 604800,
}


def parse_time_window(value: str | timedelta | float | None) -> timedelta | None:
    """Read a time window: ``"90s"``, ``"30m"``, ``"24h"``, ``"7d"``, ``"2w"`` or a timedelta.

    A bare number is seconds; ISO 8601 durations (``"PT24H"``, ``"P7D"``) are accepted too.

    Raises:
        ValueError: The window is not one of those forms, not positive, or over 100 years.
    """
    if value is None:
        return None
    try:
        window = _window_of(value)
    except OverflowError:  # "99999999999d": past what a timedelta holds
        window = timedelta.max
    if window <= timedelta(0):
        raise ValueError("time_window must be positive")
    if window > MAX_TIME_WINDOW:
        raise ValueError("time_window must be at most 100 years")
    return window


def _window_of(value: str | timedelta | float) -> timedelta:
    if isinstance(value, timedelta):
        window = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        window = timedelta(seconds=float(value))
    elif isinstance(value, str):
        match = _WINDOW.match(value.lower())
        if match is not None:
            window = timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        else:
            try:
                window = _Window.model_validate({"window": value.strip()}).window
            except ValueError as error:
                raise ValueError(
                    f"time_window {value!r} is not a duration like '30m', '24h', '7d' or 'P7D'"
                ) from error
    else:
        raise ValueError(f"time_window {value!r} is not a duration")
    return window


class _Window(BaseModel):
    window: timedelta


class SearchRequest(BaseModel):
    """What to search for.

    Attributes:
        query: Free text. None or empty: a structured search (filters only).
        mode: ``structured`` (filters, newest first, or by metric), ``lexical`` (full-text,
            BM25 on SQLite FTS5, ``ts_rank_cd`` on PostgreSQL), ``semantic`` (embeddings,
            cosine) or ``hybrid`` (reciprocal rank fusion of lexical and semantic). None:
            structured without a query, hybrid with one.
        kind: Only artifacts of this kind.
        tags: Only artifacts carrying every one of these tags.
        labels: Equality on labels; the keys ``session_id``, ``run_id``, ``graph_id``,
            ``node_id``, ``org_id``, ``user_id``, ``client_id``, ``app_id`` and ``agent_id``
            match the artifact's scope fields when it has no label of that name.
        metric: Rank by this metric (artifacts without it are left out); in a structured
            search only.
        metric_mode: ``max`` or ``min``.
        time_window: Only artifacts created within this window before now (``"24h"``, ``"7d"``).
        created_after: Only artifacts created at or after this moment.
        created_before: Only artifacts created before this moment.
        limit: At most this many hits.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str | None = None
    mode: SearchMode | None = None
    kind: str | None = None
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    metric: str | None = None
    metric_mode: Literal["max", "min"] = "max"
    time_window: str | timedelta | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = Field(10, ge=1, le=1000)

    @field_validator("time_window")
    @classmethod
    def _check_window(cls, value: str | timedelta | None) -> str | timedelta | None:
        parse_time_window(value)
        return value

    @field_validator("created_after", "created_before")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. a trailing 'Z')")
        return value

    @model_validator(mode="after")
    def _check_mode(self) -> SearchRequest:
        has_query = bool(self.query and self.query.strip())
        if self.mode in ("lexical", "semantic", "hybrid") and not has_query:
            raise ValueError(f"mode {self.mode!r} needs a query")
        if self.metric is not None and has_query and self.resolved_mode != "structured":
            raise ValueError("metric ranking is for structured search; leave query empty")
        return self

    @property
    def resolved_mode(self) -> SearchMode:
        """The mode that runs: ``mode``, or structured/hybrid by whether there is a query."""
        if self.mode is not None:
            return self.mode
        return "hybrid" if self.query and self.query.strip() else "structured"

    @property
    def window(self) -> timedelta | None:
        """``time_window`` as a timedelta."""
        return parse_time_window(self.time_window)


class SearchHit(BaseModel):
    """One result: the artifact, its score and the mode that found it.

    Attributes:
        artifact: The artifact at its current version.
        score: The rank score (BM25/ts_rank for lexical, cosine for semantic, reciprocal rank
            fusion for hybrid; higher is better), the metric's value when ranking by a metric,
            None for a plain structured search.
        mode: The mode that produced the hit.
    """

    model_config = ConfigDict(frozen=True)

    artifact: Artifact
    score: float | None = None
    mode: SearchMode


class SearchResults(BaseModel):
    """The body of ``GET /v1/search``: the hits, best first."""

    model_config = ConfigDict(frozen=True)

    data: list[SearchHit]
