"""examples/downstream_subscriber.py against the real broker: it hears what a Kafka-mode hub
publishes after an API write, fetches the artifact through the SDK, and skips redeliveries."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from tests.integration.test_kafka_events import FAST_GROUP, read_topics

from artifact_hub import AsyncClient
from artifact_hub.adapters.bus import all_topics, ensure_topics
from artifact_hub.api import create_app
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas import Caller

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "downstream_subscriber.py"
TENANT = "acme"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("downstream_subscriber", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def prefix() -> str:
    return f"ex{uuid.uuid4().hex[:8]}."


@pytest.fixture
async def kafka_hub(
    tmp_path: Path, kafka_bootstrap_servers: str, prefix: str
) -> AsyncIterator[Hub]:
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        default_ttl_seconds=None,
        event_bus="kafka",
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        topic_prefix=prefix,
        relay_poll_interval=0.2,
        signing_secret="examples-test-signing-secret",
        rate_limit_per_second=100_000,
        rate_limit_burst=100_000,
        sweep_enabled=False,
    )
    await ensure_topics(kafka_bootstrap_servers, all_topics(prefix))
    async with bootstrap(settings) as hub:
        await hub.accounts.create_tenant(TENANT, plan="enterprise")
        yield hub


async def wait_for(condition: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_subscriber_reacts_to_api_writes_and_fetches_metadata(
    kafka_hub: Hub, kafka_bootstrap_servers: str, prefix: str
) -> None:
    example = load_example()
    _, key = await kafka_hub.accounts.create_key(TENANT, "alice")
    transport = httpx.ASGITransport(app=create_app(kafka_hub))
    received: list[Any] = []

    async def on_artifact(new: Any) -> None:
        received.append(new)

    async with AsyncClient(api_key=key, base_url="http://hub", transport=transport) as client:
        _, broker = example.build_subscriber(
            kafka_bootstrap_servers,
            group_id=f"downstream-{uuid.uuid4().hex[:8]}",
            topic_prefix=prefix,
            on_artifact=on_artifact,
            client=client,
            **FAST_GROUP,
        )
        await broker.start()
        try:
            artifact = await client.push(
                b"col\n1\n", filename="report.csv", metadata={"run": "r1"}, session_id="s1"
            )
            await client.push_version(artifact.id, b"col\n1\n2\n", metadata={"run": "r2"})
            # Not ours to react to: sharing and sealing travel on other topics.
            await client.share(artifact.id, agents=["bob"])
            await wait_for(lambda: len(received) >= 2)

            created, versioned = sorted(received, key=lambda n: n.version)
            assert created.artifact_id == versioned.artifact_id == artifact.id
            assert created.topic == prefix + "artifact.created"
            assert versioned.topic == prefix + "artifact.versioned"
            assert (created.name, created.version, created.size_bytes) == ("report.csv", 1, 6)
            assert (versioned.name, versioned.version, versioned.size_bytes) == (None, 2, 8)
            assert created.sha256 == artifact.sha256
            assert created.tenant_id == TENANT
            # Fetched through the SDK: the artifact as it is when the event is handled.
            assert created.details is not None and created.details.name == "report.csv"
            assert created.details.metadata in ({"run": "r1"}, {"run": "r2"})
            assert versioned.details is not None and versioned.details.version == 2
            assert versioned.details.metadata == {"run": "r2"}

            # A redelivery of the same record is skipped.
            (record,) = await read_topics(kafka_bootstrap_servers, [prefix + "artifact.created"], 1)
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
            await producer.start()
            try:
                await producer.send_and_wait(
                    record.topic, record.value, key=record.key, headers=list(record.headers)
                )
                await producer.send_and_wait(record.topic, b"not json", key=record.key)
            finally:
                await producer.stop()
            await asyncio.sleep(2.0)
            assert len(received) == 2
        finally:
            await broker.stop()


async def test_the_example_runs_as_a_script(
    kafka_hub: Hub, kafka_bootstrap_servers: str, prefix: str
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "ARTIFACT_HUB_TOPIC_PREFIX": prefix,
        "SUBSCRIBER_GROUP_ID": f"script-{uuid.uuid4().hex[:8]}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("ARTIFACT_HUB_URL", None)
    env.pop("ARTIFACT_HUB_API_KEY", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []
    try:
        artifact = await kafka_hub.service.push(
            Caller(tenant_id=TENANT, agent_id="alice"), b"hello", name="hello.txt"
        )
        wanted = f"new artifact: hello.txt (id {artifact.id}, version 1, 5 bytes, tenant {TENANT})"

        async def read_until_seen() -> None:
            assert process.stdout is not None
            while not any(wanted in line for line in lines):
                line = await process.stdout.readline()
                assert line, "the example exited:\n" + "".join(lines)
                lines.append(line.decode(errors="replace"))

        await asyncio.wait_for(read_until_seen(), timeout=60)
    except TimeoutError:
        pytest.fail("the example never logged the new artifact:\n" + "".join(lines))
    finally:
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=15)
            if process.returncode is None:
                process.kill()
                await process.wait()
