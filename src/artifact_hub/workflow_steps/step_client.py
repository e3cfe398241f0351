"""Calling the step service over Kafka: :class:`KafkaStepClient` and :func:`remote_registry`.

The client sends :class:`~artifact_hub.schemas.steps.StepRequest` records to
``<prefix>steps.requests`` and waits for the matching
:class:`~artifact_hub.schemas.steps.StepReply`; :class:`RemoteAgentRegistry` turns it into
agents the workflow runner can use as if they ran in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from artifact_hub.adapters.bus.topics import (
    STEP_REPLIES_TOPIC,
    STEP_REQUESTS_TOPIC,
    ensure_topics,
    step_topics,
)
from artifact_hub.core.errors import ServerError, error_for_code
from artifact_hub.schemas.cloudevents import header_map
from artifact_hub.schemas.steps import (
    StepErrorBody,
    StepReply,
    StepRequest,
    decode_bytes,
    encode_bytes,
)
from artifact_hub.workflow_steps.registry import AgentRegistry, StepContext

__all__ = ["KafkaStepClient", "RemoteAgentRegistry", "remote_registry"]

log = logging.getLogger(__name__)


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
