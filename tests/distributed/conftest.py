"""The distributed topology as a module fixture, on the session's Kafka, PostgreSQL and S3.

Redis comes from ``REDIS_URL``, else ``redis://127.0.0.1:6379/0``; without one the tests are
skipped visibly (failed with ``ARTIFACT_HUB_REQUIRE_SERVICES=1``), as for the other services.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.distributed.topology import Services, Topology
from tests.services import unavailable


def find_redis() -> str:
    """The Redis URL, checked with a PING (raises on failure)."""
    import redis

    url = os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        return find_redis()
    except Exception as exc:
        reason = f"no Redis (REDIS_URL or 127.0.0.1:6379): {exc!r}"
    unavailable(reason)


@pytest.fixture(scope="module")
def topology_bucket(s3_server: Any) -> Iterator[str]:
    """A bucket for the module's topology (the ``s3_bucket`` fixture is per test)."""
    yield s3_server.create_bucket("ah-dist-")


@pytest.fixture(scope="module")
def topology_database(postgres_server: Any) -> Iterator[str]:
    """A fresh database for the module's topology."""
    name = postgres_server.create_database("ah_dist_")
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="module")
async def topology(
    kafka_bootstrap_servers: str,
    topology_database: str,
    s3_settings: dict[str, Any],
    topology_bucket: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Topology]:
    """2 API replicas behind the balancer, 2 consumers in one group, 2 relays."""
    services = Services(
        kafka=kafka_bootstrap_servers,
        database_url=topology_database,
        s3=s3_settings,
        bucket=topology_bucket,
        redis_url=redis_url,
    )
    run_dir: Path = tmp_path_factory.mktemp("topology")
    async with Topology(services, run_dir) as topo:
        yield topo
