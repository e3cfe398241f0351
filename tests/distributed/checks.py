"""What the fault tests check after the dust settles: index against S3, and the events lag.

:func:`audit_index` reads the index tables straight from PostgreSQL and the bucket straight
from S3, and pulls a sample through the API with each tenant's key, so that "0 partial
artifacts" means: every live version's blob exists with its recorded size and sha256 (the
bytes are hashed), and every artifact the API lists is in the index and reads back whole.
:func:`events_lag` counts outbox rows not yet published and the consumer group's lag.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Audit", "EventsLag", "audit_index", "events_lag"]

BLOB_PREFIX = "blobs/"
STAGING_PREFIX = "staging/"


@dataclass
class Audit:
    """Index against bucket. ``partial`` lists what is broken; the rest are counts."""

    artifacts: int = 0
    """Live artifacts in the index (all tenants)."""
    versions: int = 0
    """Live versions of live artifacts."""
    blobs: int = 0
    """Objects under the blob prefix."""
    missing: list[str] = field(default_factory=list)
    """Versions (``artifact_id@version``) whose blob is not in the bucket."""
    corrupt: list[str] = field(default_factory=list)
    """Versions whose blob has another size or sha256 than recorded."""
    unlisted: list[str] = field(default_factory=list)
    """Artifacts the index holds that the API does not list, or the other way round."""
    unreadable: list[str] = field(default_factory=list)
    """Sampled artifacts whose pull through the API failed or did not match."""
    unreferenced_blobs: int = 0
    """Blobs no version points at (a crash between upload and commit; the sweeper's)."""
    staging_objects: int = 0
    """Objects under ``staging/`` (presigned uploads not completed)."""
    multipart_uploads: int = 0
    """Unfinished S3 multipart uploads."""
    open_uploads: int = 0
    """Upload rows not completed."""

    @property
    def partial(self) -> list[str]:
        """Everything that would be a partial or phantom artifact to a client."""
        return self.missing + self.corrupt + self.unlisted + self.unreadable


@dataclass
class EventsLag:
    """Events not yet where they are going."""

    outbox_pending: int
    """Outbox rows the relay has not published."""
    consumer_lag: int
    """Records on the index topics the group has not committed (-1: unknown)."""

    @property
    def total(self) -> int:
        """Both together (an unknown consumer lag counts as not caught up)."""
        return self.outbox_pending + (self.consumer_lag if self.consumer_lag >= 0 else 1)


async def _index_rows(database_url: str) -> tuple[list[Any], list[Any], int]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            artifacts = (
                await conn.execute(
                    text(
                        "SELECT artifact_id, tenant_id FROM artifacts "
                        "WHERE deleted_at IS NULL AND purged_at IS NULL"
                    )
                )
            ).all()
            versions = (
                await conn.execute(
                    text(
                        "SELECT v.artifact_id, v.version, v.sha256, v.size_bytes "
                        "FROM artifact_versions v JOIN artifacts a USING (artifact_id) "
                        "WHERE v.deleted_at IS NULL AND a.deleted_at IS NULL "
                        "AND a.purged_at IS NULL"
                    )
                )
            ).all()
            open_uploads = (
                await conn.execute(text("SELECT count(*) FROM uploads WHERE completed_at IS NULL"))
            ).scalar_one()
    finally:
        await engine.dispose()
    return list(artifacts), list(versions), int(open_uploads)


def _bucket_state(s3: dict[str, Any], bucket: str) -> tuple[Any, dict[str, int], int, int]:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **s3)
    blobs: dict[str, int] = {}
    staging = 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=BLOB_PREFIX):
        for item in page.get("Contents", []):
            blobs[item["Key"][len(BLOB_PREFIX) :]] = int(item["Size"])
    for page in paginator.paginate(Bucket=bucket, Prefix=STAGING_PREFIX):
        staging += len(page.get("Contents", []))
    multipart = len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
    return client, blobs, staging, multipart


def _sha256_of(client: Any, bucket: str, sha: str) -> str:
    body = client.get_object(Bucket=bucket, Key=BLOB_PREFIX + sha)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


async def audit_index(
    database_url: str,
    s3: dict[str, Any],
    bucket: str,
    *,
    url: str,
    api_keys: list[str],
    pull_sample: int = 20,
) -> Audit:
    """Compare the index with the bucket and with what the API lists and serves.

    Args:
        database_url: The index.
        s3: boto3 client kwargs.
        bucket: The hub's bucket.
        url: The API (the balancer).
        api_keys: One admin key per tenant (each lists its whole tenant).
        pull_sample: Artifacts per tenant pulled through the API and checked.
    """
    from artifact_hub.client import ALL_SESSIONS, AsyncClient

    artifacts, versions, open_uploads = await _index_rows(database_url)
    client, blobs, staging, multipart = await asyncio.to_thread(_bucket_state, s3, bucket)
    audit = Audit(
        artifacts=len(artifacts),
        versions=len(versions),
        blobs=len(blobs),
        staging_objects=staging,
        multipart_uploads=multipart,
        open_uploads=open_uploads,
    )
    referenced = {row.sha256 for row in versions}
    audit.unreferenced_blobs = len(set(blobs) - referenced)
    by_sha: dict[str, list[str]] = {}
    for row in versions:
        name = f"{row.artifact_id}@{row.version}"
        if row.sha256 not in blobs:
            audit.missing.append(name)
        elif blobs[row.sha256] != row.size_bytes:
            audit.corrupt.append(f"{name}: {blobs[row.sha256]} bytes, not {row.size_bytes}")
        else:
            by_sha.setdefault(row.sha256, []).append(name)
    # Hash every referenced blob: a blob under its sha256's name with other bytes is partial.
    shas = sorted(by_sha)

    def hash_all() -> list[str]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda sha: _sha256_of(client, bucket, sha), shas))

    hashed = await asyncio.to_thread(hash_all)
    for sha, actual in zip(shas, hashed, strict=True):
        if actual != sha:
            audit.corrupt += [f"{name}: bytes hash to {actual}" for name in by_sha[sha]]
    indexed = {row.artifact_id for row in artifacts}
    listed: set[str] = set()
    for key in api_keys:
        async with AsyncClient(key, base_url=url, max_retries=5) as api:
            tenant = [a async for a in api.list(session_id=ALL_SESSIONS)]
            listed |= {a.artifact_id for a in tenant}
            for artifact in random.sample(tenant, min(pull_sample, len(tenant))):
                try:
                    data = await api.pull_bytes(artifact.artifact_id)
                except Exception as exc:
                    audit.unreadable.append(f"{artifact.artifact_id}: {exc!r}")
                    continue
                if hashlib.sha256(data).hexdigest() != artifact.sha256:
                    audit.unreadable.append(f"{artifact.artifact_id}: sha256 differs")
    audit.unlisted = sorted(indexed ^ listed)
    return audit


async def events_lag(database_url: str, kafka: str, prefix: str) -> EventsLag:
    """Outbox rows not yet sent, and the index group's lag on its topics."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            pending = (
                await conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
            ).scalar_one()
    finally:
        await engine.dispose()
    try:
        lag = await consumer_lag(kafka, f"{prefix}index", prefix)
    except Exception:
        lag = -1
    return EventsLag(int(pending), lag)


async def consumer_lag(kafka: str, group: str, prefix: str) -> int:
    """Records on the index topics past the group's committed offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from artifact_hub.consumers import ARTIFACT_TOPICS

    topics = [prefix + suffix for suffix in ARTIFACT_TOPICS]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, request_timeout_ms=5000)
    await admin.start()
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            await consumer.topics()  # a metadata refresh, then once more
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await consumer.stop()
        await admin.close()
    total = 0
    for tp, end in ends.items():
        done = committed.get(tp)
        offset = done.offset if done is not None and done.offset >= 0 else 0
        total += max(0, end - offset)
    return total
