"""A downstream subscriber: react to every new artifact and new version an artifact-hub publishes.

The hub publishes CloudEvents 1.0 on Kafka (see ``docs/asyncapi.yaml``). This FastStream app
subscribes to ``artifact.created`` and ``artifact.versioned`` in its own consumer group (so it
gets every event, independently of the hub's own consumers), decodes each record with
``artifact_hub.adapters.bus.decode`` and logs the artifact's name, id, version and size. When
``ARTIFACT_HUB_URL`` and ``ARTIFACT_HUB_API_KEY`` are set it also fetches the artifact's
current metadata through the SDK (``AsyncClient.get``).

Run it (see ``examples/README.md``)::

    KAFKA_BOOTSTRAP_SERVERS=localhost:29092 python examples/downstream_subscriber.py

Delivery is at least once: after a crash or a rebalance the same event may come again. This
example skips event ids it has already seen in this process; a real subscriber records them
(or makes its reaction idempotent) in its own store.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from artifact_hub import ArtifactHubError, AsyncClient
from artifact_hub.adapters.bus import decode, header_map
from artifact_hub.core.errors import EventRejectedError
from artifact_hub.schemas import Artifact, ArtifactCreated, ArtifactVersioned

__all__ = ["NewArtifact", "build_subscriber", "client_from_env", "main"]

log = logging.getLogger("downstream_subscriber")

TOPICS = ("artifact.created", "artifact.versioned")
DEFAULT_GROUP = "downstream-example"


@dataclass(frozen=True)
class NewArtifact:
    """What the subscriber learned about one new artifact or version.

    Attributes:
        event_id: The CloudEvent id (unique; the same id again means a redelivery).
        artifact_id: The artifact.
        tenant_id: Its tenant.
        name: Its name (None for a new version: the event does not repeat it).
        version: 1 for a new artifact, else the new version's number.
        size_bytes: Size of this version.
        sha256: Content hash of this version.
        topic: The topic the event came on.
        details: The artifact's current metadata fetched through the SDK, when a client is
            configured (None otherwise, or when the fetch failed).
    """

    event_id: str
    artifact_id: str
    tenant_id: str
    name: str | None
    version: int
    size_bytes: int
    sha256: str
    topic: str
    details: Artifact | None = None


OnArtifact = Callable[[NewArtifact], Awaitable[None]]


async def log_artifact(new: NewArtifact) -> None:
    """The default reaction: one log line per new artifact or version."""
    name = new.details.name if new.details is not None else new.name
    log.info(
        "new %s: %s (id %s, version %d, %d bytes, tenant %s)%s",
        "artifact" if new.version == 1 else "version",
        name,
        new.artifact_id,
        new.version,
        new.size_bytes,
        new.tenant_id,
        f" metadata={new.details.metadata}" if new.details is not None else "",
    )


def client_from_env() -> AsyncClient | None:
    """An SDK client when ``ARTIFACT_HUB_URL`` and ``ARTIFACT_HUB_API_KEY`` are set."""
    url = os.environ.get("ARTIFACT_HUB_URL")
    key = os.environ.get("ARTIFACT_HUB_API_KEY")
    if not url or not key:
        return None
    return AsyncClient(api_key=key, base_url=url)


class _SeenIds:
    """The last ``size`` event ids, to skip redeliveries within this process."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        """Remember ``event_id`` (forgetting the oldest beyond ``size``)."""
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)


def build_subscriber(
    bootstrap_servers: str,
    *,
    group_id: str = DEFAULT_GROUP,
    topic_prefix: str = "",
    on_artifact: OnArtifact = log_artifact,
    client: AsyncClient | None = None,
    auto_offset_reset: str = "earliest",
    **subscriber_options: Any,
) -> tuple[FastStream, KafkaBroker]:
    """The subscriber as a FastStream app (and its broker, to start and stop it yourself).

    Args:
        bootstrap_servers: The Kafka cluster the hub publishes to.
        group_id: This subscriber's consumer group: every group gets every event; the
            processes of one group share them.
        topic_prefix: The hub's ``ARTIFACT_HUB_TOPIC_PREFIX``.
        on_artifact: Called once per new artifact or version (an exception makes the record
            come again).
        client: An SDK client; when given, each event's artifact is fetched and passed on as
            ``NewArtifact.details``.
        auto_offset_reset: Where a new group starts: ``earliest`` (everything still on the
            topics) or ``latest`` (only what comes after it joined).
        subscriber_options: Further ``broker.subscriber`` options (timeouts, ...).
    """
    broker = KafkaBroker(bootstrap_servers, logger=None)
    seen = _SeenIds()

    @broker.subscriber(  # type: ignore[call-overload, untyped-decorator]
        *(topic_prefix + topic for topic in TOPICS),
        group_id=group_id,
        auto_offset_reset=auto_offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,  # commit after the reaction; redeliver on error
        title="downstream-example",
        decoder=_raw_value,
        **subscriber_options,
    )
    async def on_record(body: bytes, msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message  # the aiokafka ConsumerRecord
        try:
            event = decode(raw.value or b"", header_map(raw.headers))
        except EventRejectedError as error:
            log.warning("skipping a record on %s that is not a hub event: %s", raw.topic, error)
            return
        if isinstance(event, ArtifactCreated):
            name, version = event.name, 1
        elif isinstance(event, ArtifactVersioned):
            name, version = None, event.version
        else:  # another event type on these topics: not ours to react to
            return
        if event.event_id in seen:  # a redelivery: we reacted already
            return
        details = None
        if client is not None:
            try:
                details = await client.get(event.artifact_id)
            except ArtifactHubError as error:  # deleted since, or not shared with this key
                log.warning("cannot fetch %s: %s", event.artifact_id, error)
        new = NewArtifact(
            event_id=event.event_id,
            artifact_id=event.artifact_id,
            tenant_id=event.tenant_id,
            name=name,
            version=version,
            size_bytes=event.size_bytes,
            sha256=event.sha256,
            topic=raw.topic,
            details=details,
        )
        await on_artifact(new)
        seen.add(event.event_id)  # only once it worked: a failure makes the record come again

    return FastStream(broker), broker


async def _raw_value(msg: Any) -> bytes:
    """Hand the handler the record's bytes: ``decode`` reads the CloudEvent itself."""
    body: bytes = msg.body
    return body


async def main() -> None:
    """Run until interrupted, configured from the environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    client = client_from_env()
    app, _ = build_subscriber(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:29092"),
        group_id=os.environ.get("SUBSCRIBER_GROUP_ID", DEFAULT_GROUP),
        topic_prefix=os.environ.get("ARTIFACT_HUB_TOPIC_PREFIX", ""),
        client=client,
    )
    try:
        await app.run()
    finally:
        if client is not None:
            await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
