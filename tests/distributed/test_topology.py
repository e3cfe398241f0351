"""The topology itself: every process comes up, a push through the balancer is indexed, stored
whole in S3 and published, and the balancer spreads connections over the replicas."""

from __future__ import annotations

import pytest
from tests.distributed.topology import Topology

from artifact_hub.client import AsyncClient

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(180)]


async def test_topology_serves_through_the_balancer(topology: Topology) -> None:
    for key in topology.keys.values():
        async with AsyncClient(key, base_url=topology.url) as client:
            for n in range(4):
                # A fresh connection per push would be needed to see both replicas; one client
                # keeps its connection, so two tenants' clients and a health call suffice.
                await client.push(f"hello {n}".encode(), filename=f"smoke-{n}.txt")
            assert (await client.health())["status"] == "ok"
    assert topology.balancer is not None
    assert all(b.connections > 0 for b in topology.balancer.backends)
    lag = await topology.wait_caught_up()
    assert lag.outbox_pending == 0
    audit = await topology.audit()
    assert audit.partial == []
    assert audit.artifacts == 8
