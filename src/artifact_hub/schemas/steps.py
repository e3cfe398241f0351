"""Step requests and replies: how a Coordination Hub calls step agents over Kafka.

A request goes to ``<prefix>steps.requests`` (JSON value); the step service answers on the
request's ``reply_to`` topic (default ``<prefix>steps.replies``) with a :class:`StepReply`
carrying the same ``correlation_id`` (in the body and in the ``correlation_id`` header).

Bytes cannot travel in JSON: wherever a value is bytes (a ``data-loader`` output in the
``bytes`` form, an ``artifact-saver`` result), it travels as ``{"__bytes__": "<base64>"}``
and is turned back into bytes on arrival (:func:`encode_bytes`, :func:`decode_bytes`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from artifact_hub.schemas.lineage import LineageInput

__all__ = [
    "BYTES_MARKER",
    "StepErrorBody",
    "StepReply",
    "StepRequest",
    "StepTemplateContext",
    "decode_bytes",
    "encode_bytes",
]

BYTES_MARKER = "__bytes__"
"""The key of the one-key object that stands for bytes in step JSON."""


class StepTemplateContext(BaseModel):
    """What ``<< input.* >>`` and ``<< steps.<id>.output... >>`` in a request's input refer to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: dict[str, JsonValue] = Field(default_factory=dict)
    steps: dict[str, JsonValue] = Field(default_factory=dict)
    """Earlier steps by id, each ``{"output": ...}`` (what the hub knows of them)."""


class StepRequest(BaseModel):
    """One step for the step service to run.

    Attributes:
        agent: The registered agent's name (``data-loader``, ``artifact-saver``, ...).
        input: The step's input; ``<< >>`` templates in it are resolved against ``context``.
        context: The workflow input and the outputs of earlier steps.
        run_id: The workflow run (lineage is recorded under it).
        workflow_id: The workflow's id.
        step_id: The step's id.
        attempt: 1 for the first try.
        correlation_id: Echoed in the reply (the ``correlation_id`` header counts too).
        reply_to: The topic to answer on (default: the service's reply topic).
        session_id: The session saved artifacts go to when the step's input names none.
        upstream_loads: The artifact versions loaded by the steps upstream of this one (our
            runner sends them). None: taken from ``context.steps`` outputs that describe a
            loaded artifact (``data-loader``'s ``{"artifact": {"id", "version"}}``).
        api_key: The caller's API key, when not sent in the ``authorization`` header
            (prefer the header: the body is copied to the dead-letter topic when malformed).
        timeout: Seconds the agent may run (None: the service's limit).
        resolve_templates: Resolve ``<< >>`` in ``input`` (False when the sender resolved
            them already, as our runner does: data that merely contains ``<<`` then stays
            data).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str = Field(min_length=1, max_length=200)
    input: JsonValue = Field(default_factory=dict)
    context: StepTemplateContext = Field(default_factory=StepTemplateContext)
    run_id: str = Field(min_length=1, max_length=200)
    workflow_id: str = Field(default="workflow", min_length=1, max_length=200)
    step_id: str = Field(min_length=1, max_length=200)
    attempt: int = Field(default=1, ge=1)
    correlation_id: str | None = Field(default=None, max_length=200)
    reply_to: str | None = Field(default=None, min_length=1, max_length=249)
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    upstream_loads: list[LineageInput] | None = None
    api_key: str | None = Field(default=None, max_length=512)
    timeout: float | None = Field(default=None, gt=0, le=24 * 3600)
    resolve_templates: bool = True


class StepErrorBody(BaseModel):
    """Why a step failed: the hub's error shape (match on ``code``)."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    status: int


class StepReply(BaseModel):
    """The step service's answer to one request.

    Attributes:
        correlation_id: The request's.
        ok: Whether the agent returned.
        output: The agent's output (bytes as ``{"__bytes__": ...}``) when ``ok``.
        error: The error when not ``ok``.
        loads: The artifact versions the step loaded (for the caller's lineage log).
    """

    model_config = ConfigDict(frozen=True)

    correlation_id: str | None = None
    ok: bool
    agent: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    output: JsonValue = None
    error: StepErrorBody | None = None
    loads: list[LineageInput] = Field(default_factory=list)


def encode_bytes(value: Any) -> Any:
    """``value`` with every bytes inside it as ``{"__bytes__": "<base64>"}``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {BYTES_MARKER: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {k: encode_bytes(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_bytes(v) for v in value]
    return value


def decode_bytes(value: Any) -> Any:
    """The inverse of :func:`encode_bytes` (a malformed marker stays as it is)."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(BYTES_MARKER), str):
            try:
                return base64.b64decode(value[BYTES_MARKER], validate=True)
            except (binascii.Error, ValueError):
                return value
        return {k: decode_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_bytes(v) for v in value]
    return value
