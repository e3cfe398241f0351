"""Message-bus ingestion on the real Kafka-protocol broker, S3 and PostgreSQL.

An agent process uploads its blob to S3 itself and publishes signed events; the hub's
validating index consumer adds them to the index, and the REST API lists, pulls and shares
the artifact. Bad events, interleaved with good ones, each end in ``artifact.dlq`` with their
original headers and a reason, while every good one is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from faststream.kafka import KafkaBroker as FastStreamKafkaBroker
from sqlalchemy import select
from tests.integration.conftest import stack_settings
from tests.integration.test_kafka_events import FAST_GROUP, read_topics

from artifact_hub.adapters.bus import KafkaPublisher, all_topics, encode, ensure_topics, header_map
from artifact_hub.adapters.bus.signing import sign_record
from artifact_hub.adapters.index import tables as t
from artifact_hub.api import create_app
from artifact_hub.consumers import IndexConsumer, build_validated_consumer, subscribe_index_consumer
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.publisher import AgentPublisher, new_artifact_id, put_blob_s3
from artifact_hub.schemas import Caller
from artifact_hub.schemas.artifacts import Principal
from artifact_hub.schemas.cloudevents import KafkaRecord
from artifact_hub.schemas.events import (
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactShared,
    ArtifactVersioned,
    EventBase,
    SessionSealed,
)
from artifact_hub.schemas.search import SearchRequest

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

TENANT = "acme"
ALICE = Caller(tenant_id=TENANT, agent_id="alice", plan="enterprise")


@dataclass
class Env:
    hub: Hub
    consumer: IndexConsumer
    bootstrap: str
    prefix: str
    secret: str
    s3: Any
    s3_settings: dict[str, Any]
    bucket: str
    tmp_path: Path

    def upload(self, data: bytes) -> tuple[str, int]:
        path = self.tmp_path / f"blob-{uuid.uuid4().hex}"
        path.write_bytes(data)
        return put_blob_s3(self.s3, self.bucket, self.hub.settings.s3_prefix, path)

    def publisher(self, secret: str | None = None, tenant: str = TENANT) -> AgentPublisher:
        return AgentPublisher(
            self.bootstrap,
            tenant,
            secret or self.secret,
            agent_id="alice",
            topic_prefix=self.prefix,
        )

    async def wait(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            assert asyncio.get_running_loop().time() < deadline, f"stalled: {self.consumer.stats}"
            await asyncio.sleep(0.1)


@pytest.fixture
async def env(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    kafka_bootstrap_servers: str,
    s3_settings: dict[str, Any],
) -> AsyncIterator[Env]:
    prefix = f"i{uuid.uuid4().hex[:8]}."
    settings, cleanup = stack_settings(
        request,
        tmp_path,
        "postgres-s3",
        event_bus="kafka",
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        topic_prefix=prefix,
        relay_poll_interval=0.1,
        sweep_enabled=False,
        rate_limit_per_second=100_000,
        rate_limit_burst=100_000,
    )
    await ensure_topics(kafka_bootstrap_servers, all_topics(prefix))
    hub = bootstrap(settings)
    await hub.start()
    broker = FastStreamKafkaBroker(kafka_bootstrap_servers, logger=None)
    try:
        await hub.accounts.create_tenant(TENANT, plan="enterprise")
        secret = await hub.accounts.create_ingestion_secret(TENANT)
        # The consumer process's validator, on the hub's database and bucket.
        consumer = build_validated_consumer(
            settings,
            hub.db,
            blobs=hub.blobs,
            max_wait=timedelta(seconds=1),
            after_apply=hub.indexer.on_event,  # as run_consumers wires it
        )
        subscribe_index_consumer(
            broker, consumer, group_id=f"g-{prefix}", topic_prefix=prefix, **FAST_GROUP
        )
        await broker.start()
        yield Env(
            hub=hub,
            consumer=consumer,
            bootstrap=kafka_bootstrap_servers,
            prefix=prefix,
            secret=secret,
            s3=boto3.client("s3", **s3_settings),
            s3_settings=s3_settings,
            bucket=settings.s3_bucket,
            tmp_path=tmp_path,
        )
    finally:
        # Bounded: a consumer leaving its group on a busy shared broker must not hang the run.
        for closing in (broker.stop(), hub.stop()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing, timeout=30)
        if cleanup:
            cleanup()


AGENT = """
import asyncio, json, os, sys
import boto3
from artifact_hub.publisher import AgentPublisher, put_blob_s3

async def main() -> None:
    e = os.environ
    s3 = boto3.client("s3", **json.loads(e["AGENT_S3"]))
    sha1, size1 = put_blob_s3(s3, e["AGENT_BUCKET"], e["AGENT_S3_PREFIX"], e["AGENT_FILE1"])
    sha2, size2 = put_blob_s3(s3, e["AGENT_BUCKET"], e["AGENT_S3_PREFIX"], e["AGENT_FILE2"])
    async with AgentPublisher(
        e["AGENT_KAFKA"], e["AGENT_TENANT"], e["AGENT_SECRET"],
        agent_id="alice", topic_prefix=e["AGENT_PREFIX"], source="agents/alice",
    ) as bus:
        created = await bus.publish_created(
            name="report.csv", sha256=sha1, size_bytes=size1, session_id="run-1",
            content_type="text/csv", metadata={"rows": 2},
        )
        await bus.publish_versioned(
            created.artifact_id, sha256=sha2, size_bytes=size2, metadata={"rows": 3}
        )
        await bus.publish_shared(created.artifact_id, agents=["bob"])
    print(json.dumps({"artifact_id": created.artifact_id, "sha1": sha1, "sha2": sha2}))

asyncio.run(main())
"""


async def test_an_agent_uploads_to_s3_publishes_and_the_api_serves_the_artifact(
    env: Env,
) -> None:
    hub = env.hub
    keys = {
        agent: (await hub.accounts.create_key(TENANT, agent))[1]
        for agent in ("alice", "bob", "carol")
    }
    first, second = b"a,b\n1,2\n", b"a,b\n1,2\n3,4\n"
    (env.tmp_path / "v1.csv").write_bytes(first)
    (env.tmp_path / "v2.csv").write_bytes(second)
    agent_env = {
        **os.environ,
        "AGENT_S3": json.dumps(env.s3_settings),
        "AGENT_BUCKET": env.bucket,
        "AGENT_S3_PREFIX": hub.settings.s3_prefix,
        "AGENT_FILE1": str(env.tmp_path / "v1.csv"),
        "AGENT_FILE2": str(env.tmp_path / "v2.csv"),
        "AGENT_KAFKA": env.bootstrap,
        "AGENT_TENANT": TENANT,
        "AGENT_SECRET": env.secret,
        "AGENT_PREFIX": env.prefix,
    }
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        AGENT,
        env=agent_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(agent.communicate(), timeout=60)
    assert agent.returncode == 0, err.decode()
    published = json.loads(out.decode().strip().splitlines()[-1])
    artifact_id = published["artifact_id"]
    assert published["sha1"] == hashlib.sha256(first).hexdigest()

    await env.wait(lambda: env.consumer.stats.applied >= 3)
    assert env.consumer.stats.dead_lettered == 0
    # Search indexed what the consumer applied (the agent's events never met the service).
    hits = await hub.search.search(ALICE, SearchRequest(query="report", mode="lexical"))
    assert [hit.artifact.artifact_id for hit in hits] == [artifact_id]

    transport = httpx.ASGITransport(app=create_app(hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:

        def auth(agent: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {keys[agent]}"}

        listed = await client.get("/v1/artifacts", headers=auth("alice"))
        assert listed.status_code == 200, listed.text
        (item,) = [a for a in listed.json()["data"] if a["id"] == artifact_id]
        assert item["name"] == "report.csv" and item["version"] == 2
        assert item["metadata"] == {"rows": 3}

        pulled = await client.get(f"/v1/artifacts/{artifact_id}/content", headers=auth("alice"))
        assert pulled.status_code == 200 and pulled.content == second
        assert pulled.headers["x-content-sha256"] == published["sha2"]
        old = await client.get(
            f"/v1/artifacts/{artifact_id}/content?version=1", headers=auth("alice")
        )
        assert old.status_code == 200 and old.content == first

        # bob: shared by the agent's own artifact.shared event.
        by_bob = await client.get(f"/v1/artifacts/{artifact_id}/content", headers=auth("bob"))
        assert by_bob.status_code == 200 and by_bob.content == second
        # carol: not until alice shares it through the API.
        denied = await client.get(f"/v1/artifacts/{artifact_id}", headers=auth("carol"))
        assert denied.status_code in (403, 404)
        shared = await client.post(
            f"/v1/artifacts/{artifact_id}/share", json={"agents": ["carol"]}, headers=auth("alice")
        )
        assert shared.status_code == 200, shared.text
        by_carol = await client.get(f"/v1/artifacts/{artifact_id}/content", headers=auth("carol"))
        assert by_carol.status_code == 200 and by_carol.content == second

        session = await client.get("/v1/sessions/run-1", headers=auth("alice"))
        assert session.status_code == 200, session.text

    # The API's share went through the outbox and the relay, signed by the hub: the consumer
    # takes it as the hub's own (already applied) event, not as a forgery.
    await hub.relay.drain()
    await env.wait(lambda: env.consumer.stats.duplicate >= 1)
    assert env.consumer.stats.dead_lettered == 0
    dead = await read_topics(env.bootstrap, [env.prefix + "artifact.dlq"], 0, timeout=1)
    assert dead == []
    # The ingested events joined the hub's event log (for rebuilds), already marked sent.
    async with hub.db.connect() as conn:
        log = (
            await conn.execute(
                select(t.outbox.c.event_type, t.outbox.c.sent_at)
                .where(t.outbox.c.key == artifact_id)
                .order_by(t.outbox.c.id)
            )
        ).all()
    assert [row.event_type for row in log] == [
        "artifact.created",
        "artifact.versioned",
        "artifact.shared",
        "artifact.shared",
    ]
    assert all(row.sent_at is not None for row in log)


def _signed(event: EventBase, secret: str) -> KafkaRecord:
    return sign_record(encode(event), secret)


async def test_bad_events_go_to_the_dlq_with_a_reason_and_good_ones_are_applied(
    env: Env,
) -> None:
    hub, secret = env.hub, env.secret
    accounts = hub.accounts
    await accounts.create_tenant("globex", plan="enterprise")  # no ingestion secret
    await accounts.create_tenant("tiny", plan="free")
    tiny_secret = await accounts.create_ingestion_secret("tiny")
    globex_artifact = await hub.service.push(
        Caller(tenant_id="globex", agent_id="g"), b"globex data", name="g.txt"
    )
    blob_a, blob_b, blob_c = (env.upload(f"blob {n}".encode()) for n in "abc")
    blob_a2, blob_c2, blob_d, blob_e = (env.upload(f"more {n}".encode()) for n in "acde")

    def created(blob: tuple[str, int], **fields: Any) -> ArtifactCreated:
        values: dict[str, Any] = {
            "artifact_id": new_artifact_id(),
            "tenant_id": TENANT,
            "source": "agents/alice",
            "agent_id": "alice",
            "name": "f.txt",
            "sha256": blob[0],
            "size_bytes": blob[1],
            **fields,
        }
        return ArtifactCreated(**values)

    # Phase 1, good: three artifacts, one in a session that is then sealed.
    a = created(blob_a, session_id="s1")
    b = created(blob_b, session_id="sealed")
    c = created(blob_c)
    seal = SessionSealed(session_id="sealed", tenant_id=TENANT, source="agents/alice")
    async with env.publisher() as bus:
        await bus.publish(a, b, c)
        await env.wait(lambda: env.consumer.stats.applied == 3)
        await bus.publish(seal)  # after b: the topics are not ordered between each other
    await env.wait(lambda: env.consumer.stats.applied == 4)

    # Phase 2: bad events, each with the reason code it must get, between good ones.
    def ingest_event(**overrides: Any) -> ArtifactCreated:
        return created(blob_a, **overrides)

    def on(topic: str, record: KafkaRecord) -> tuple[str, KafkaRecord]:
        return env.prefix + topic, record

    def with_id(record: KafkaRecord, ce_id: str) -> KafkaRecord:
        return replace(record, headers={**record.headers, "ce_id": ce_id})

    # A blob stored under the wrong content address: same size, other bytes.
    claimed = b"x" * 32
    claimed_sha = hashlib.sha256(claimed).hexdigest()
    env.s3.put_object(Bucket=env.bucket, Key=hub.settings.s3_prefix + claimed_sha, Body=b"y" * 32)
    missing_sha = hashlib.sha256(b"never uploaded").hexdigest()

    good_json = _signed(ingest_event(), secret)
    not_json = sign_record(with_id(replace(good_json, value=b"{nope"), "bad-not-json"), secret)
    invalid = ingest_event(size_bytes=1)
    bad_schema_value = json.loads(encode(invalid).value)
    bad_schema_value["sha256"] = "not-a-sha"
    bad_schema = sign_record(
        replace(encode(invalid), value=json.dumps(bad_schema_value).encode()), secret
    )
    unknown_type = encode(ingest_event())
    unknown_type = sign_record(
        replace(unknown_type, headers={**unknown_type.headers, "ce_type": "artifact.exploded.v1"}),
        secret,
    )
    tampered = _signed(ingest_event(name="original.txt"), secret)
    tampered = replace(tampered, value=tampered.value.replace(b"original.txt", b"evil.txtxxxx"))
    undefined_id = new_artifact_id()
    key_mismatch = _signed(ingest_event(), secret)
    key_mismatch = replace(key_mismatch, key=new_artifact_id())
    reused = ingest_event(event_id=a.event_id, name="reused-id.txt")
    too_big = ingest_event(tenant_id="tiny", size_bytes=11 * 2**20)  # the free plan: 10 MB

    created_t, versioned_t, shared_t = "artifact.created", "artifact.versioned", "artifact.shared"

    def sig(event: EventBase, key: str = secret) -> KafkaRecord:
        return _signed(event, key)

    def versioned(artifact_id: str, seq: int, blob: tuple[str, int], **kw: Any) -> EventBase:
        return ArtifactVersioned(
            artifact_id=artifact_id,
            seq=seq,
            version=kw.pop("version", 2),
            tenant_id=TENANT,
            source="agents/alice",
            sha256=blob[0],
            size_bytes=blob[1],
            **kw,
        )

    def shared(artifact_id: str, seq: int, principal: Principal) -> EventBase:
        return ArtifactShared(
            artifact_id=artifact_id,
            seq=seq,
            tenant_id=TENANT,
            source="agents/alice",
            grants=[principal],
        )

    deleted = ArtifactDeleted(artifact_id=c.artifact_id, seq=2, tenant_id=TENANT, source="x/y")
    alice, bob, ml = (Principal(type="agent", id="alice"), Principal(type="agent", id="bob"),
                      Principal(type="group", id="ml"))  # fmt: skip
    bad: list[tuple[str, tuple[str, KafkaRecord]]] = [
        ("invalid_event", on(created_t, bad_schema)),
        ("invalid_event", on(created_t, not_json)),
        ("unknown_type", on(created_t, unknown_type)),
        ("unknown_tenant", on(created_t, sig(ingest_event(tenant_id="nobody")))),
        ("missing_signature", on(created_t, encode(ingest_event()))),
        ("bad_signature", on(created_t, sig(ingest_event(), "ahis_wrong-secret"))),
        ("bad_signature", on(created_t, tampered)),
        ("no_ingestion_secret", on(created_t, sig(ingest_event(tenant_id="globex")))),
        ("bad_signature", on(created_t, sig(ingest_event(source="artifact-hub")))),  # forged
        ("sha256_mismatch", on(created_t, sig(created((claimed_sha, 32))))),
        ("blob_missing", on(created_t, sig(created((missing_sha, 14))))),
        ("size_mismatch", on(created_t, sig(created((blob_a[0], 999))))),
        ("session_sealed", on(created_t, sig(ingest_event(session_id="sealed")))),
        ("metadata_too_large", on(created_t, sig(ingest_event(metadata={"t": "x" * 9000})))),
        ("type_not_ingestible", on("artifact.deleted", sig(deleted))),
        ("duplicate_event_id", on(created_t, sig(reused))),
        ("predecessor_missing", on(versioned_t, sig(versioned(undefined_id, 2, blob_a)))),
        ("key_mismatch", on(created_t, key_mismatch)),
        ("conflict", on(created_t, sig(created(blob_c, artifact_id=c.artifact_id)))),
        ("conflict", on(shared_t, sig(shared(globex_artifact.id, 2, alice)))),  # not acme's
        ("invalid_artifact_id", on(created_t, sig(ingest_event(artifact_id="my-artifact")))),
        ("wrong_topic", on(shared_t, sig(ingest_event()))),
        ("file_too_large", on(created_t, sig(too_big, tiny_secret))),
        ("session_sealed", on(versioned_t, sig(versioned(b.artifact_id, 2, blob_a2)))),
    ]
    assert len({topic_record[1].headers.get("ce_id") for _, topic_record in bad}) == len(bad)

    d = created(blob_d, metadata={"text": "x" * 8000})  # just under the 8 KB limit
    e = created(blob_e, session_id="s1")
    good: list[tuple[str, KafkaRecord]] = [
        on(versioned_t, sig(versioned(a.artifact_id, 2, blob_a2, metadata={"v": 2}))),
        on(shared_t, sig(shared(a.artifact_id, 3, bob))),
        on(shared_t, sig(shared(c.artifact_id, 2, ml))),
        on(created_t, sig(d)),
        on(created_t, sig(a)),  # the same event again: a harmless duplicate
        on(created_t, sig(e)),
        on(versioned_t, sig(versioned(c.artifact_id, 3, blob_c2))),
    ]
    interleaved: list[tuple[str, KafkaRecord]] = []
    for n, (_, item) in enumerate(bad):
        interleaved.append(item)
        if n % 3 == 2 and good:
            interleaved.append(good.pop(0))
    interleaved += good
    raw = KafkaPublisher(env.bootstrap)
    await raw.publish_many(interleaved)
    await raw.stop()

    stats = env.consumer.stats
    await env.wait(lambda: stats.applied == 4 + 6 and stats.dead_lettered == len(bad) - 1)
    assert await env.consumer.pending() == 1  # the version of an artifact never created
    await asyncio.sleep(1.1)  # max_wait
    assert await env.consumer.expire_deferred() == 1
    assert stats.dead_lettered == len(bad)
    assert stats.duplicate >= 1  # the event sent twice (and the hub's own, relayed)

    dead = await read_topics(env.bootstrap, [env.prefix + "artifact.dlq"], len(bad))
    assert len(dead) == len(bad)
    by_id = {header_map(r.headers)["ce_id"]: r for r in dead}
    for code, (topic, sent) in bad:
        record = by_id[sent.headers["ce_id"]]
        headers = header_map(record.headers)
        assert headers["x-dlq-reason"].startswith(f"{code}: "), (code, headers["x-dlq-reason"])
        assert headers["x-dlq-topic"] == topic
        # Every original header, the signature included (FastStream adds a correlation id).
        assert {name: headers.get(name) for name in sent.headers} == sent.headers
        assert record.value == sent.value and record.key == sent.key.encode()

    # Every good event was applied.
    service = hub.service
    assert (await service.get(ALICE, a.artifact_id)).version == 2
    assert "bob" in (await service.access(ALICE, a.artifact_id)).agents
    assert "ml" in (await service.access(ALICE, c.artifact_id)).groups
    assert (await service.get(ALICE, c.artifact_id)).version == 2
    assert (await service.get(ALICE, d.artifact_id)).metadata == {"text": "x" * 8000}
    assert (await service.get(ALICE, e.artifact_id)).session_id == "s1"
    assert (await service.get(ALICE, b.artifact_id)).version == 1  # its session is sealed
    # Nothing of the bad events reached the index.
    async with hub.db.connect() as conn:
        names = (await conn.execute(select(t.artifacts.c.name))).scalars().all()
    assert sorted(names) == ["f.txt"] * 5 + ["g.txt"]
