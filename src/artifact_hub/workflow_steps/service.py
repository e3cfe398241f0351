"""The step service: step agents behind Kafka, for a Coordination Hub (``artifact-hub steps``).

A Coordination Hub (or our runner, through
:func:`~artifact_hub.workflow_steps.step_client.remote_registry`) sends a
:class:`~artifact_hub.schemas.steps.StepRequest` as JSON to ``<prefix>steps.requests``; the
service runs the named agent and answers with a :class:`~artifact_hub.schemas.steps.StepReply`
on the request's ``reply_to`` topic (default ``<prefix>steps.replies``). The reply carries the
request's correlation id in its body and in the ``correlation_id`` header (taken from the body,
else from the request's ``correlation_id`` header).

Who the step acts for: the request is authenticated with an API key of the hub, exactly as a
REST call, sent in the ``authorization`` header as ``Bearer ak_live_...`` (or, second choice,
in the body's ``api_key``). The agent then acts as that key's caller, so the hub's tenant and
access checks apply to the step. A request without a valid key is answered with an
``unauthorized`` error and runs nothing.

``<< >>`` templates in the request's ``input`` are resolved here, in the sandbox of
:mod:`~artifact_hub.workflow_steps.templates`, against the request's ``context`` (``input``
and ``steps``); ``{{ }}`` is the hub's and is left alone. A refused template is answered with
``template_error`` and runs nothing. A sender that resolved the input already (our runner)
sets ``resolve_templates`` false, so that data which merely contains ``<<`` stays data.

Errors are answered, never raised: ``{"ok": false, "error": {"code", "message", "status"}}``
with the hub's codes. A request that is not JSON or not a valid request also goes to
``<prefix>steps.dlq`` with ``x-dlq-reason: invalid_request: <detail>`` (its
``authorization`` header removed); it is answered only if it names where and with which
correlation id (a reply nobody can match is noise).

Lineage across the bus: the reply lists the artifact versions the step loaded (``loads``),
and a request may list those loaded upstream of it (``upstream_loads``); without them, the
outputs in ``context.steps`` that describe a loaded artifact (``data-loader``'s) are used.

Requests are handled one at a time per service process, in a consumer group: run several
processes to run steps in parallel. Delivery is at least once: a request whose offset was not
committed (the process died while running it, or a reply could not be published) runs again,
so a retried ``artifact-saver`` may save twice (``new_version_if_exists`` makes that a new
version rather than a second artifact).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

# Topic names only (the deployment's naming of the step service's topics); nothing here
# talks to Kafka: step_app.py carries records in and out.
from artifact_hub.adapters.bus.topics import (
    STEP_DLQ_TOPIC,
    STEP_REPLIES_TOPIC,
    STEP_REQUESTS_TOPIC,
    all_topics,
)
from artifact_hub.core.errors import (
    ArtifactHubError,
    AuthenticationError,
    InvalidRequestError,
    ServerError,
    StepTimeoutError,
)
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import LineageInput
from artifact_hub.schemas.steps import (
    StepErrorBody,
    StepReply,
    StepRequest,
    decode_bytes,
    encode_bytes,
)
from artifact_hub.service.accounts import AccountService
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.workflow_steps.registry import (
    AgentRegistry,
    LoadLog,
    StepContext,
    default_registry,
)
from artifact_hub.workflow_steps.templates import TemplateResolver

__all__ = ["Handled", "StepService"]

log = logging.getLogger(__name__)

_UPSTREAM = "\x00upstream"  # the load log's pseudo-step for loads a request brings along


@dataclass(frozen=True)
class Handled:
    """What to do with one request: a reply (and where), and/or a dead letter."""

    reply: StepReply | None
    reply_topic: str | None
    dlq_reason: str | None = None


class StepService:
    """Runs step requests with the agents of a registry, as the request's authenticated caller.

    Args:
        service: The hub's use cases (``hub.service``).
        accounts: Resolves API keys to callers (``hub.accounts``).
        registry: The agents (default: the built-ins and whatever else is registered).
        topic_prefix: The deployment's topic prefix.
        default_timeout: Seconds an agent may run when the request names no timeout. Keep
            every step's timeout below the subscriber's ``max_poll_interval_ms`` (aiokafka's
            default: 5 minutes), or the group rebalances under a running step and the request
            is delivered again.
        work_dir: Where ``data-loader`` writes local files (default: a temporary folder).
    """

    def __init__(
        self,
        service: ArtifactService,
        accounts: AccountService,
        *,
        registry: AgentRegistry | None = None,
        topic_prefix: str = "",
        default_timeout: float = 240.0,
        work_dir: Path | None = None,
    ) -> None:
        self.service = service
        self.accounts = accounts
        self.registry = registry or default_registry
        self.topic_prefix = topic_prefix
        self.request_topic = topic_prefix + STEP_REQUESTS_TOPIC
        self.reply_topic = topic_prefix + STEP_REPLIES_TOPIC
        self.dlq_topic = topic_prefix + STEP_DLQ_TOPIC
        self.default_timeout = default_timeout
        self.work_dir = work_dir
        self.templates = TemplateResolver(hub_syntax=False)
        # A reply there would loop back in, or land among the hub's events.
        self.forbidden_reply_topics = frozenset(
            {self.request_topic, self.dlq_topic, *all_topics(topic_prefix)}
        )

    async def handle(self, value: bytes, headers: dict[str, str]) -> Handled:
        """Run one request (the record's value and headers) and say what to answer."""
        header_cid = headers.get("correlation_id") or None
        header_reply = headers.get("reply_to") or None
        try:
            document = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return self._malformed(f"the request is not JSON: {error}", header_cid, header_reply)
        try:
            request = StepRequest.model_validate(document)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                for e in error.errors()[:5]
            )
            cid, reply_to = header_cid, header_reply
            if isinstance(document, dict):
                cid = _short_str(document.get("correlation_id")) or cid
                reply_to = _short_str(document.get("reply_to")) or reply_to
            return self._malformed(f"not a step request: {problems}", cid, reply_to)
        cid = request.correlation_id or header_cid
        reply_topic = request.reply_to or header_reply or self.reply_topic
        loads: list[LineageInput] = []
        try:
            if reply_topic in self.forbidden_reply_topics:
                reply_topic = self.reply_topic
                raise InvalidRequestError(
                    f"replies cannot go to {request.reply_to or header_reply!r}: it is one of "
                    "the hub's own topics"
                )
            caller = await self._authenticate(request, headers)
            output, loads = await self._run(request, caller)
        except ArtifactHubError as error:
            return Handled(self._error_reply(request, cid, error, loads), reply_topic)
        except Exception:
            log.exception("step %s (%s) of run %s failed", request.step_id, request.agent, cid)
            crash = ServerError(f"step agent {request.agent!r} failed unexpectedly")
            return Handled(self._error_reply(request, cid, crash, loads), reply_topic)
        reply = StepReply(
            correlation_id=cid,
            ok=True,
            agent=request.agent,
            run_id=request.run_id,
            step_id=request.step_id,
            output=encode_bytes(output),
            loads=loads,
        )
        return Handled(reply, reply_topic)

    async def _authenticate(self, request: StepRequest, headers: dict[str, str]) -> Caller:
        header = headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
        key = key or (request.api_key or "")
        if not key:
            raise AuthenticationError(
                "send an API key as 'authorization: Bearer ak_live_...' (header) or api_key"
            )
        return await self.accounts.authenticate(key)

    async def _run(self, request: StepRequest, caller: Caller) -> tuple[Any, list[LineageInput]]:
        agent = self.registry.get(request.agent)
        context = decode_bytes(request.context.model_dump(mode="python"))
        step_input = decode_bytes(request.input)
        if request.resolve_templates:
            step_input = self.templates.resolve(step_input, context, step_id=request.step_id)
        if not isinstance(step_input, dict):
            raise InvalidRequestError(
                f"step {request.step_id!r}: the input must be an object", step_id=request.step_id
            )
        log_ = LoadLog()
        upstream = request.upstream_loads
        if upstream is None:
            upstream = _loads_in_outputs(request.context.steps)
        for item in upstream:
            log_.record(_UPSTREAM, item.artifact_id, item.version)
        ctx = StepContext(
            service=self.service,
            caller=caller,
            run_id=request.run_id,
            workflow_id=request.workflow_id,
            step_id=request.step_id,
            attempt=request.attempt,
            loads=log_,
            upstream=frozenset({_UPSTREAM}),
            session_id=request.session_id,
            work_dir=self.work_dir,
        )
        timeout = request.timeout or self.default_timeout
        try:
            output = await asyncio.wait_for(agent(step_input, ctx), timeout)
        except TimeoutError:
            raise StepTimeoutError(
                f"step {request.step_id!r} ran longer than {timeout:g} s",
                step_id=request.step_id,
            ) from None
        loads = [
            LineageInput(artifact_id=r.artifact_id, version=r.version)
            for r in log_.records()
            if r.step_id == request.step_id
        ]
        return output, loads

    def _error_reply(
        self,
        request: StepRequest,
        cid: str | None,
        error: ArtifactHubError,
        loads: list[LineageInput],
    ) -> StepReply:
        return StepReply(
            correlation_id=cid,
            ok=False,
            agent=request.agent,
            run_id=request.run_id,
            step_id=request.step_id,
            error=StepErrorBody(code=error.code, message=error.message, status=error.status),
            loads=loads,
        )

    def _malformed(self, detail: str, cid: str | None, reply_to: str | None) -> Handled:
        reason = f"{InvalidRequestError.code}: {detail}"[:1000]
        if cid is None:
            return Handled(None, None, reason)
        error = StepErrorBody(code=InvalidRequestError.code, message=detail[:1000], status=400)
        reply = StepReply(correlation_id=cid, ok=False, error=error)
        if reply_to in self.forbidden_reply_topics:
            reply_to = None
        return Handled(reply, reply_to or self.reply_topic, reason)


def _short_str(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 249 else None


def _loads_in_outputs(steps: dict[str, Any]) -> list[LineageInput]:
    """The artifacts earlier steps' outputs say they loaded (``{"artifact": {id, version}}``)."""
    found: dict[tuple[str, int], None] = {}
    for entry in steps.values():
        output = entry.get("output") if isinstance(entry, dict) else None
        artifact = output.get("artifact") if isinstance(output, dict) else None
        if not isinstance(artifact, dict) or "data" not in output:  # type: ignore[operator]
            continue
        artifact_id = artifact.get("artifact_id") or artifact.get("id")
        version = artifact.get("version")
        if isinstance(artifact_id, str) and isinstance(version, int) and version >= 1:
            found[(artifact_id, version)] = None
    return [LineageInput(artifact_id=a, version=v) for a, v in found]
