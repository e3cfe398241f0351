"""Publishing straight to the hub's topics (message-bus ingestion), for agents.

An agent that writes its blob to the hub's blob store itself (:func:`put_blob_s3` puts a file
at ``<prefix><sha256>`` in the hub's bucket; :func:`put_blob_local` into the hub's folder) can
then announce it with a signed event; the hub's consumers check it (tenant, signature, session,
blob size and sha256, ...) and add it to the index, or send it to ``artifact.dlq`` with the
reason.

It lives beside the SDK, not in it: it needs aiokafka, botocore and the bus adapter, which the
light ``artifact_hub.client`` must not load (tests/unit/test_light_sdk.py).

Example:
    >>> import asyncio, boto3
    >>> from artifact_hub.publisher import AgentPublisher, put_blob_s3
    >>> async def main() -> None:  # doctest: +SKIP
    ...     sha256, size = put_blob_s3(boto3.client("s3"), "artifact-hub", "blobs/", "out.csv")
    ...     async with AgentPublisher("kafka:9092", "acme", secret, agent_id="alice") as bus:
    ...         created = await bus.publish_created(name="out.csv", sha256=sha256,
    ...                                             size_bytes=size, session_id="run_7")
    ...         await bus.publish_shared(created.artifact_id, agents=["bob"])
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from artifact_hub.adapters.bus.publisher import EventPublisher, KafkaPublisher
from artifact_hub.adapters.bus.signing import sign_record
from artifact_hub.schemas.artifacts import Principal
from artifact_hub.schemas.cloudevents import encode
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactShared,
    ArtifactVersioned,
    EventBase,
    SessionSealed,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "DEFAULT_SOURCE",
    "AgentPublisher",
    "file_sha256",
    "new_artifact_id",
    "put_blob_local",
    "put_blob_s3",
]

DEFAULT_SOURCE = "artifact-hub-agent"
"""The ``ce_source`` of agents' events (anything but the hub's own source will do)."""

_CHUNK = 1024 * 1024


def new_artifact_id() -> str:
    """A fresh artifact id in the hub's form (``art_`` and 16 base32 characters)."""
    from artifact_hub.service.artifacts import new_artifact_id as make

    return make()


def file_sha256(path: str | Path) -> tuple[str, int]:
    """The file's sha256 (hex) and size."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def put_blob_s3(client: S3Client, bucket: str, prefix: str, path: str | Path) -> tuple[str, int]:
    """Upload a file to the hub's bucket under its content address; return (sha256, size).

    The key is ``prefix + sha256`` (the hub's ``s3_prefix``, ``blobs/`` by default). The upload
    asks S3 to check a SHA-256 checksum, and is skipped when an object of that size is there
    already (same address, same bytes). Blocking (boto3): run it in a thread from async code.
    """
    sha256, size = file_sha256(path)
    key = prefix + sha256
    try:
        head = client.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] == size:
            return sha256, size
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
            raise
    client.upload_file(str(path), bucket, key, ExtraArgs={"ChecksumAlgorithm": "SHA256"})
    return sha256, size


async def put_blob_local(root: str | Path, path: str | Path) -> tuple[str, int]:
    """Store a file in the hub's local blob folder (``blob_dir``); return (sha256, size).

    Uses the hub's own :class:`~artifact_hub.adapters.storage.local.LocalBlobStore`, so the blob
    appears under its hash atomically, once complete.
    """
    from artifact_hub.adapters.storage.local import LocalBlobStore

    async def chunks() -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(Path(path).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                yield chunk
        finally:
            handle.close()

    store = LocalBlobStore(root)
    try:
        info = await store.put(chunks())
    finally:
        await store.close()
    return info.sha256, info.size


class AgentPublisher:
    """Signs and publishes an agent's events to the hub's topics.

    Remembers the revision (``seq``) and version of each artifact it created or changed, so
    ``publish_versioned`` and ``publish_shared`` need no ``seq``; pass ``seq`` (and
    ``version``) for an artifact that also changed elsewhere (e.g. through the REST API): it
    is the artifact's ``revision`` + 1.

    Args:
        bootstrap_servers: The hub's Kafka.
        tenant_id: The tenant the events belong to.
        ingestion_secret: The tenant's ingestion secret (``ahis_...``).
        source: The events' ``ce_source``; never the hub's own.
        agent_id: The default ``agent_id`` (owner) of artifacts and ``actor`` of events.
        topic_prefix: The hub's topic prefix.
        publisher: Where records go (default: Kafka, acks from all replicas).
        kafka_options: Further ``KafkaBroker`` options (security, client id, ...).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        tenant_id: str,
        ingestion_secret: str,
        *,
        source: str = DEFAULT_SOURCE,
        agent_id: str | None = None,
        topic_prefix: str = "",
        publisher: EventPublisher | None = None,
        **kafka_options: Any,
    ) -> None:
        if not ingestion_secret:
            raise ValueError("an ingestion secret is required to sign events")
        self.tenant_id = tenant_id
        self.source = source
        self.agent_id = agent_id
        self.topic_prefix = topic_prefix
        self._secret = ingestion_secret
        self._publisher = publisher or KafkaPublisher(bootstrap_servers, **kafka_options)
        self._state: dict[str, tuple[int, int]] = {}  # artifact id -> (revision, version)

    def __repr__(self) -> str:  # never show the secret
        return f"AgentPublisher(tenant_id={self.tenant_id!r}, source={self.source!r})"

    async def __aenter__(self) -> AgentPublisher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect from Kafka."""
        await self._publisher.stop()

    async def publish(self, *events: EventBase) -> None:
        """Sign and publish events as they are, in order; return once Kafka acknowledged all."""
        items = [
            (self.topic_prefix + event.topic, sign_record(encode(event), self._secret))
            for event in events
        ]
        await self._publisher.publish_many(items)

    async def publish_created(
        self,
        *,
        name: str,
        sha256: str,
        size_bytes: int,
        artifact_id: str | None = None,
        session_id: str | None = None,
        namespace: str = "default",
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
        **fields: Any,
    ) -> ArtifactCreated:
        """Announce a new artifact whose blob is in the store; return the event sent.

        ``fields`` are further :class:`~artifact_hub.schemas.events.ArtifactCreated` fields
        (``kind``, ``labels``, ``tags``, ``metrics``, ``run_id``, ``expires_at``, ...).
        """
        agent = agent_id or self.agent_id
        event = ArtifactCreated(
            artifact_id=artifact_id or new_artifact_id(),
            tenant_id=self.tenant_id,
            source=self.source,
            actor=agent,
            agent_id=agent,
            name=name,
            namespace=namespace,
            session_id=session_id,
            content_type=content_type,
            sha256=sha256,
            size_bytes=size_bytes,
            metadata=metadata or {},
            **fields,
        )
        await self.publish(event)
        self._state[event.artifact_id] = (1, 1)
        return event

    async def publish_versioned(
        self,
        artifact_id: str,
        *,
        sha256: str,
        size_bytes: int,
        version: int | None = None,
        seq: int | None = None,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
    ) -> ArtifactVersioned:
        """Announce a new version (its blob in the store); ``metadata`` None keeps the last."""
        revision, current = self._known(artifact_id, seq, version)
        if version is None and not current:
            raise ValueError(f"pass version= for {artifact_id} (its current version + 1)")
        agent = agent_id or self.agent_id
        event = ArtifactVersioned(
            artifact_id=artifact_id,
            tenant_id=self.tenant_id,
            source=self.source,
            actor=agent,
            agent_id=agent,
            seq=seq or revision + 1,
            version=version or current + 1,
            sha256=sha256,
            size_bytes=size_bytes,
            content_type=content_type,
            metadata=metadata,
        )
        await self.publish(event)
        self._state[artifact_id] = (event.seq, event.version)
        return event

    async def publish_shared(
        self,
        artifact_id: str,
        *,
        agents: Iterable[str] = (),
        groups: Iterable[str] = (),
        revoke_agents: Iterable[str] = (),
        revoke_groups: Iterable[str] = (),
        seq: int | None = None,
    ) -> ArtifactShared:
        """Grant (and/or revoke) read access to agents and groups."""
        revision, current = self._known(artifact_id, seq, None)
        event = ArtifactShared(
            artifact_id=artifact_id,
            tenant_id=self.tenant_id,
            source=self.source,
            actor=self.agent_id,
            seq=seq or revision + 1,
            grants=_principals(agents, groups),
            revokes=_principals(revoke_agents, revoke_groups),
        )
        await self.publish(event)
        self._state[artifact_id] = (event.seq, current)
        return event

    async def publish_sealed(self, session_id: str) -> SessionSealed:
        """Seal a session: the hub refuses every later write to it."""
        event = SessionSealed(
            session_id=session_id, tenant_id=self.tenant_id, source=self.source, actor=self.agent_id
        )
        await self.publish(event)
        return event

    def _known(self, artifact_id: str, seq: int | None, version: int | None) -> tuple[int, int]:
        state = self._state.get(artifact_id)
        if state is not None:
            return state
        if seq is None:
            raise ValueError(
                f"{artifact_id} was not created or changed by this publisher: pass seq= "
                "(the artifact's revision + 1)"
            )
        return seq - 1, (version - 1 if version is not None else 0)


def _principals(agents: Iterable[str], groups: Iterable[str]) -> list[Principal]:
    return [Principal(type="agent", id=a) for a in agents] + [
        Principal(type="group", id=g) for g in groups
    ]
