"""The step service on Kafka: the FastStream subscriber and ``artifact-hub steps``.

:func:`subscribe_step_service` attaches a
:class:`~artifact_hub.workflow_steps.service.StepService` to a broker: each record of
``<prefix>steps.requests`` is handed to the service, its reply is published on the reply topic
it names, and a malformed request goes to ``<prefix>steps.dlq``.
:func:`run_step_service` builds the service on the hub and runs it until the process stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from artifact_hub.adapters.bus.topics import ensure_topics, step_topics
from artifact_hub.core.settings import HubSettings
from artifact_hub.schemas.cloudevents import header_map
from artifact_hub.workflow_steps.registry import import_agents
from artifact_hub.workflow_steps.service import StepService

__all__ = [
    "DEFAULT_STEP_GROUP",
    "build_step_app",
    "run_step_service",
    "subscribe_step_service",
]

DEFAULT_STEP_GROUP = "artifact-hub-steps"
"""The consumer group of the step service's processes."""


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
    for spec in agent_modules:
        import_agents(spec)
    await ensure_topics(settings.kafka_bootstrap_servers, step_topics(settings.topic_prefix))
    async with _wired_step_service(settings, work_dir=work_dir) as steps:
        stream, _ = build_step_app(settings.kafka_bootstrap_servers, steps, group_id=group_id)
        await stream.run()


@contextlib.asynccontextmanager
async def _wired_step_service(
    settings: HubSettings, *, work_dir: Path | None
) -> AsyncIterator[StepService]:
    """The step service over a started hub, stopped on exit.

    Building the hub is the composition root's job (:func:`artifact_hub.plugin.bootstrap`);
    this is the one place the step service reaches for it.
    """
    from artifact_hub.plugin.bootstrap import bootstrap

    async with bootstrap(settings) as hub:
        yield StepService(
            hub.service, hub.accounts, topic_prefix=settings.topic_prefix, work_dir=work_dir
        )
