"""The step service: step agents behind Kafka, for a Coordination Hub (``artifact-hub steps``).

A Coordination Hub (or our runner, through :func:`remote_registry`) sends a
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
import contextlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from artifact_hub.adapters.bus.topics import (
    STEP_DLQ_TOPIC,
    STEP_REPLIES_TOPIC,
    STEP_REQUESTS_TOPIC,
    all_topics,
    ensure_topics,
    step_topics,
)
from artifact_hub.core.errors import (
    ArtifactHubError,
    AuthenticationError,
    InvalidRequestError,
    ServerError,
    StepTimeoutError,
    error_for_code,
)
from artifact_hub.core.settings import HubSettings
from artifact_hub.schemas.cloudevents import header_map
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
    import_agents,
)
from artifact_hub.workflow_steps.templates import TemplateResolver

__all__ = [
    "DEFAULT_STEP_GROUP",
    "KafkaStepClient",
    "RemoteAgentRegistry",
    "StepService",
    "build_step_app",
    "remote_registry",
    "run_step_service",
    "subscribe_step_service",
]

log = logging.getLogger(__name__)

DEFAULT_STEP_GROUP = "artifact-hub-steps"
"""The consumer group of the step service's processes."""

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


def subscribe_step_service(
    broker: KafkaBroker,
    steps: StepService,
    *,
    group_id: str = DEFAULT_STEP_GROUP,
    auto_offset_reset: str = "earliest",
    **subscriber_options: Any,
) -> None:
    """Attach the step service to ``broker``: requests in, replies and dead letters out."""

    async def dead_letter(
        value: bytes, headers: dict[str, str], key: bytes | None, reason: str
    ) -> None:
        kept = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        kept.update({"x-dlq-reason": reason, "x-dlq-topic": steps.request_topic})
        await broker.publish(value, steps.dlq_topic, key=key, headers=kept)

    @broker.subscriber(  # type: ignore[call-overload, untyped-decorator]
        steps.request_topic,
        group_id=group_id,
        auto_offset_reset=auto_offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="artifact-hub-steps",
        decoder=_raw_body,
        no_reply=True,  # we answer ourselves, errors included, on the request's reply topic
        **subscriber_options,
    )
    async def run_step(body: Any, msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message
        value: bytes = raw.value or b""
        headers = header_map(raw.headers)
        handled = await steps.handle(value, headers)
        if handled.dlq_reason is not None:
            await dead_letter(value, headers, raw.key, handled.dlq_reason)
        if handled.reply is not None and handled.reply_topic is not None:
            cid = handled.reply.correlation_id
            await broker.publish(
                handled.reply.model_dump_json().encode(),
                handled.reply_topic,
                key=(cid or "").encode() or None,
                headers={"content-type": "application/json"},
                correlation_id=cid,
            )


async def _raw_body(msg: Any) -> bytes:
    """Keep the value as bytes: a malformed request must reach the handler (and the DLQ)."""
    body: bytes = msg.body
    return body


def build_step_app(
    bootstrap_servers: str, steps: StepService, **subscriber_options: Any
) -> tuple[FastStream, KafkaBroker]:
    """A FastStream app running the step service on Kafka."""
    broker = KafkaBroker(bootstrap_servers)
    subscribe_step_service(broker, steps, **subscriber_options)
    return FastStream(broker), broker


async def run_step_service(
    settings: HubSettings,
    *,
    group_id: str = DEFAULT_STEP_GROUP,
    agent_modules: Sequence[str] = (),
    work_dir: Path | None = None,
) -> None:
    """Run the step service until the process is stopped (``artifact-hub steps``).

    Args:
        settings: The hub's settings (its index, blob store, Kafka and topic prefix).
        group_id: The consumer group the service's processes share.
        agent_modules: Modules or ``.py`` files that register more agents.
        work_dir: Where ``data-loader`` writes local files.
    """
    from artifact_hub.plugin.bootstrap import bootstrap

    for spec in agent_modules:
        import_agents(spec)
    await ensure_topics(settings.kafka_bootstrap_servers, step_topics(settings.topic_prefix))
    async with bootstrap(settings) as hub:
        steps = StepService(
            hub.service, hub.accounts, topic_prefix=settings.topic_prefix, work_dir=work_dir
        )
        stream, _ = build_step_app(settings.kafka_bootstrap_servers, steps, group_id=group_id)
        await stream.run()


# ----------------------------------------------------------------------------- the client


class KafkaStepClient:
    """Sends step requests to the step service and waits for the matching replies.

    Replies are read from the reply topic without a consumer group (every client sees every
    reply and keeps those it is waiting for), starting at the end of the topic when the client
    starts, so nothing is missed between sending a request and its reply.

    Args:
        bootstrap_servers: The Kafka cluster.
        api_key: The API key the steps run as (sent in the ``authorization`` header).
        topic_prefix: The deployment's topic prefix.
        reply_topic: Where the service should answer (default ``<prefix>steps.replies``).
        timeout: Seconds to wait for a reply when a call names no timeout.
        consumer_options: More ``AIOKafkaConsumer`` arguments for the reply reader (security,
            ``fetch_max_wait_ms``: a broker that holds fetches until it runs out, as Tansu
            does, adds up to that much latency to every reply).
        producer_options: More ``AIOKafkaProducer`` arguments.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        api_key: str,
        topic_prefix: str = "",
        reply_topic: str | None = None,
        timeout: float = 300.0,
        consumer_options: Mapping[str, Any] | None = None,
        producer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.api_key = api_key
        self.topic_prefix = topic_prefix
        self.request_topic = topic_prefix + STEP_REQUESTS_TOPIC
        self.reply_topic = reply_topic or topic_prefix + STEP_REPLIES_TOPIC
        self.timeout = timeout
        self.consumer_options = dict(consumer_options or {})
        self.producer_options = dict(producer_options or {})
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[StepReply]] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Create the topics if needed, connect, and start reading replies (idempotent)."""
        async with self._lock:
            if self._producer is not None:
                return
            await ensure_topics(
                self.bootstrap_servers,
                [*step_topics(self.topic_prefix), self.reply_topic],
            )
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                **self.consumer_options,
            )
            await consumer.start()
            try:
                partitions = await _partitions(consumer, self.reply_topic)
                consumer.assign(partitions)
                await consumer.seek_to_end(*partitions)
                for partition in partitions:  # fix the positions now, before any request
                    await consumer.position(partition)
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers, **self.producer_options
                )
                await producer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer, self._producer = consumer, producer
            self._reader = asyncio.create_task(self._read_replies(consumer))

    async def close(self) -> None:
        """Stop reading replies and disconnect; pending calls fail with ``server_error``."""
        async with self._lock:
            if self._reader is not None:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ServerError("the step client was closed"))
            self._waiting.clear()
            if self._producer is not None:
                await self._producer.stop()
            if self._consumer is not None:
                await self._consumer.stop()
            self._producer = self._consumer = self._reader = None

    async def __aenter__(self) -> KafkaStepClient:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def request(self, request: StepRequest, *, timeout: float | None = None) -> StepReply:
        """Send ``request`` and wait for its reply (any ``ok``).

        Raises:
            ServerError: No reply within the timeout, or the client was closed.
        """
        await self.start()
        assert self._producer is not None
        cid = request.correlation_id or uuid.uuid4().hex
        request = request.model_copy(update={"correlation_id": cid, "reply_to": self.reply_topic})
        future: asyncio.Future[StepReply] = asyncio.get_running_loop().create_future()
        self._waiting[cid] = future
        wait = timeout or request.timeout or self.timeout
        try:
            await self._producer.send_and_wait(
                self.request_topic,
                request.model_dump_json(exclude_none=True).encode(),
                key=request.run_id.encode(),
                headers=[
                    ("authorization", f"Bearer {self.api_key}".encode()),
                    ("correlation_id", cid.encode()),
                    ("content-type", b"application/json"),
                ],
            )
            try:
                return await asyncio.wait_for(future, wait)
            except TimeoutError:
                raise ServerError(
                    f"no reply from the step service within {wait:g} s",
                    step_id=request.step_id,
                    correlation_id=cid,
                ) from None
        finally:
            self._waiting.pop(cid, None)

    async def call(
        self,
        agent: str,
        input: dict[str, Any],
        *,
        run_id: str,
        step_id: str,
        workflow_id: str = "workflow",
        attempt: int = 1,
        context: dict[str, Any] | None = None,
        session_id: str | None = None,
        upstream_loads: Iterable[tuple[str, int]] | None = None,
        timeout: float | None = None,
        resolve_templates: bool = True,
    ) -> StepReply:
        """Run one step remotely; the reply says ``ok`` or carries the error.

        ``resolve_templates`` False sends an input whose templates were resolved already.
        """
        request = StepRequest.model_validate(
            {
                "agent": agent,
                "input": encode_bytes(input),
                "context": encode_bytes(context or {}),
                "run_id": run_id,
                "workflow_id": workflow_id,
                "step_id": step_id,
                "attempt": attempt,
                "session_id": session_id,
                "upstream_loads": None
                if upstream_loads is None
                else [{"artifact_id": a, "version": v} for a, v in upstream_loads],
                "timeout": timeout,
                "resolve_templates": resolve_templates,
            }
        )
        return await self.request(request, timeout=timeout)

    async def _read_replies(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        self._deliver(record.value or b"", header_map(record.headers))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Without a reader no reply can arrive: fail the waiting calls now, not at timeout.
            log.exception("reading step replies from %s failed", self.reply_topic)
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ServerError(f"reading step replies failed: {error}"))
            raise

    def _deliver(self, value: bytes, headers: dict[str, str]) -> None:
        try:
            reply = StepReply.model_validate_json(value)
        except ValidationError:
            return  # not a reply (or not ours to understand): nobody waits for it
        cid = reply.correlation_id or headers.get("correlation_id")
        future = self._waiting.get(cid or "")
        if future is not None and not future.done():
            future.set_result(reply)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(100):
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise ServerError(f"topic {topic} has no partitions")


class RemoteAgentRegistry(AgentRegistry):
    """Agents that run on a step service, behind a :class:`KafkaStepClient`.

    Each agent sends the step (its resolved input, run, step, attempt, session and the loads
    of its upstream steps) and records the loads the reply names, so lineage works as
    in-process. A failed step raises the hub's error for the reply's code.
    """

    def __init__(self, client: KafkaStepClient, names: Sequence[str]) -> None:
        super().__init__()
        self.client = client
        for name in names:
            self.register(name, self._remote(name))

    def _remote(self, name: str) -> Any:
        client = self.client

        async def run(step_input: dict[str, Any], ctx: StepContext) -> Any:
            reply = await client.call(
                name,
                step_input,
                run_id=ctx.run_id,
                workflow_id=ctx.workflow_id,
                step_id=ctx.step_id,
                attempt=ctx.attempt,
                session_id=ctx.session_id,
                upstream_loads=ctx.upstream_loads(),
                resolve_templates=False,  # the runner resolved them
            )
            for load in reply.loads:
                ctx.record_load(load.artifact_id, load.version)
            if not reply.ok:
                body = reply.error or StepErrorBody(
                    code="server_error", message="the step failed", status=500
                )
                raise error_for_code(body.code)(body.message, step_id=ctx.step_id)
            return decode_bytes(reply.output)

        return run

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()

    async def __aenter__(self) -> RemoteAgentRegistry:
        await self.client.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


def remote_registry(
    bootstrap_servers: str | KafkaStepClient,
    names: Sequence[str] = ("data-loader", "artifact-saver"),
    **client_options: Any,
) -> RemoteAgentRegistry:
    """A registry whose agents run on the step service over Kafka.

    Args:
        bootstrap_servers: The Kafka cluster, or a client to use.
        names: The agents the service offers.
        **client_options: :class:`KafkaStepClient` options (``api_key`` is required when a
            cluster address is given; ``topic_prefix``, ``timeout``, ...).

    Example:
        >>> async with remote_registry("kafka:9092", api_key=key) as agents:  # doctest: +SKIP
        ...     report = await Runner(hub.service, caller, registry=agents).run(workflow)
    """
    client = (
        bootstrap_servers
        if isinstance(bootstrap_servers, KafkaStepClient)
        else KafkaStepClient(bootstrap_servers, **client_options)
    )
    return RemoteAgentRegistry(client, names)
