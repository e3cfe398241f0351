"""S3 answering 503 on put and get, through a fault proxy, to one in-process hub (no topology).

A burst shorter than botocore's retry budget (``s3_max_attempts``) is retried and the push or
pull succeeds; a longer one answers 503 ``storage_unavailable`` with ``Retry-After``, and
nothing is half-visible: no artifact listed, no version without its blob, the last good
version still readable. After the store heals, the same push succeeds.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.distributed.s3_faults import S3FaultProxy
from tests.integration.conftest import stop_within

from artifact_hub.adapters.index import tables as t
from artifact_hub.api import create_app
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap

pytestmark = [pytest.mark.s3, pytest.mark.timeout(120)]

ATTEMPTS = 3
"""The hub's ``s3_max_attempts`` here: a burst of ATTEMPTS - 1 faults is absorbed."""


@dataclass
class FaultyHub:
    """A hub whose blobs go through the fault proxy, its API client, and the real bucket."""

    hub: Hub
    api: httpx.AsyncClient
    proxy: S3FaultProxy
    bucket: str
    s3: Any
    """A boto3 client on the real endpoint (not through the proxy)."""

    async def push(self, data: bytes, name: str = "a.txt") -> httpx.Response:
        body = {"name": name, "content_base64": base64.b64encode(data).decode()}
        return await self.api.post("/v1/artifacts", json=body)

    async def add_version(self, artifact_id: str, data: bytes) -> httpx.Response:
        body = {"content_base64": base64.b64encode(data).decode()}
        return await self.api.post(f"/v1/artifacts/{artifact_id}/versions", json=body)

    async def listed(self) -> list[str]:
        response = await self.api.get("/v1/artifacts")
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["data"]]

    def stored_blobs(self) -> set[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="blobs/")
        return {o["Key"].removeprefix("blobs/") for o in listing.get("Contents", [])}

    async def versions_without_blob(self) -> list[tuple[str, int]]:
        """Version rows whose content is not in the bucket (must always be none)."""
        stored = self.stored_blobs()
        columns = t.artifact_versions.c
        query = select(columns.artifact_id, columns.version, columns.sha256)
        async with self.hub.db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.artifact_id, r.version) for r in rows if r.sha256 not in stored]


@pytest.fixture
def proxy(s3_endpoint_url: str) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(s3_endpoint_url) as instance:
        yield instance


@pytest.fixture
async def faulty(
    tmp_path: Path, proxy: S3FaultProxy, s3_bucket: str, s3_settings: dict[str, Any], s3_server: Any
) -> AsyncIterator[FaultyHub]:
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        blob_store="s3",
        s3_bucket=s3_bucket,
        s3_endpoint_url=proxy.endpoint_url,
        s3_region=s3_settings["region_name"],
        s3_access_key_id=s3_settings["aws_access_key_id"],
        s3_secret_access_key=s3_settings["aws_secret_access_key"],
        s3_max_attempts=ATTEMPTS,
        signing_secret="s3-faults-signing-secret",
        rate_limit_per_second=100_000,
        rate_limit_burst=100_000,
        sweep_enabled=False,
        default_ttl_seconds=None,
    )
    hub = bootstrap(settings)
    await hub.start()
    try:
        await hub.accounts.create_tenant("acme", plan="enterprise")
        _, key = await hub.accounts.create_key("acme", "alice")
        transport = httpx.ASGITransport(app=create_app(hub))
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://hub", headers=headers
        ) as api:
            yield FaultyHub(hub, api, proxy, s3_bucket, s3_server.client())
    finally:
        await stop_within(hub, 60)


def assert_unavailable(response: httpx.Response) -> None:
    """A clear answer: 503, code storage_unavailable, and when to retry."""
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "storage_unavailable" and error["status"] == 503
    assert float(response.headers["Retry-After"]) >= 1
    assert error["retry_after_seconds"] > 0


async def test_a_503_burst_within_the_retry_budget_is_retried_and_the_push_and_pull_succeed(
    faulty: FaultyHub,
) -> None:
    faulty.proxy.fail_next(ATTEMPTS - 1, methods={"PUT"})
    pushed = await faulty.push(b"through the burst")
    assert pushed.status_code == 201, pushed.text
    assert faulty.proxy.faults["PUT"] == ATTEMPTS - 1
    assert faulty.proxy.counts["PUT"] == ATTEMPTS  # the last attempt went through
    artifact_id = pushed.json()["id"]

    await faulty.hub.indexer.flush()  # its reads of the content would take the faults
    faulty.proxy.fail_next(ATTEMPTS - 1, methods={"GET"})
    pulled = await faulty.api.get(f"/v1/artifacts/{artifact_id}/content")
    assert pulled.status_code == 200 and pulled.content == b"through the burst"
    assert faulty.proxy.faults["GET"] == ATTEMPTS - 1
    assert await faulty.versions_without_blob() == []


async def test_a_longer_burst_on_put_answers_503_and_leaves_nothing_half_visible(
    faulty: FaultyHub,
) -> None:
    first = await faulty.push(b"version one")
    assert first.status_code == 201, first.text
    artifact_id = first.json()["id"]
    faulty.proxy.fail_for(60, methods={"PUT"})

    assert_unavailable(await faulty.push(b"never stored", name="lost.txt"))
    assert_unavailable(await faulty.add_version(artifact_id, b"version two, never stored"))
    assert faulty.proxy.faults["PUT"] == 2 * ATTEMPTS  # each call used its whole budget

    # Nothing half-visible: one artifact, still at version 1, every version's blob stored.
    assert await faulty.listed() == [artifact_id]
    current = await faulty.api.get(f"/v1/artifacts/{artifact_id}")
    assert current.json()["version"] == 1
    versions = await faulty.api.get(f"/v1/artifacts/{artifact_id}/versions")
    assert [v["version"] for v in versions.json()["data"]] == [1]
    assert await faulty.versions_without_blob() == []
    assert len(faulty.stored_blobs()) == 1
    pulled = await faulty.api.get(f"/v1/artifacts/{artifact_id}/content")
    assert pulled.content == b"version one"

    faulty.proxy.heal()
    again = await faulty.push(b"never stored", name="lost.txt")
    assert again.status_code == 201, again.text
    assert (await faulty.add_version(artifact_id, b"version two")).status_code == 201
    assert sorted(await faulty.listed()) == sorted([artifact_id, again.json()["id"]])
    assert await faulty.versions_without_blob() == []


async def test_a_longer_burst_on_get_answers_503_not_a_truncated_200(faulty: FaultyHub) -> None:
    pushed = await faulty.push(b"x" * 100_000)
    artifact_id = pushed.json()["id"]
    await faulty.hub.indexer.flush()
    faulty.proxy.fail_for(60, methods={"GET"})
    assert_unavailable(await faulty.api.get(f"/v1/artifacts/{artifact_id}/content"))
    assert faulty.proxy.faults["GET"] == ATTEMPTS
    faulty.proxy.heal()
    pulled = await faulty.api.get(f"/v1/artifacts/{artifact_id}/content")
    assert pulled.status_code == 200 and pulled.content == b"x" * 100_000
