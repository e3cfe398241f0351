"""Listing 1,000 artifacts page by page while others are written returns each exactly once,
in the contract order (``created_at DESC, artifact_id DESC``)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

from tests.integration.api_support import Api, api  # noqa: F401 - the fixture

from artifact_hub.adapters.index import IndexProjector
from artifact_hub.schemas import ArtifactCreated
from artifact_hub.service import new_artifact_id

START = datetime.now(UTC) - timedelta(hours=1)


async def test_pages_over_concurrent_writes_return_each_artifact_once_in_order(api: Api) -> None:  # noqa: F811
    # 1,000 artifacts, applied in one transaction through the projection the consumers use
    # (their blobs do not matter to a listing; pushes through the API are tested elsewhere).
    caller = await api.hub.accounts.authenticate(api.keys["owner"])
    events = [
        ArtifactCreated(
            tenant_id=caller.tenant_id,
            artifact_id=new_artifact_id(),
            name=f"before-{n}.txt",
            agent_id=caller.agent_id,
            sha256=hashlib.sha256(str(n).encode()).hexdigest(),
            size_bytes=len(str(n)),
            # Ties on created_at are broken by artifact_id: the order must still hold.
            occurred_at=START + timedelta(milliseconds=n // 3),
        )
        for n in range(1000)
    ]
    async with api.hub.db.begin() as conn:
        for event in events:
            await IndexProjector().apply(conn, event)
    before = [e.artifact_id for e in events]
    writing = True

    async def writer() -> int:
        written = 0
        while writing:
            await api.push("owner", b"during", name=f"during-{written}.txt")
            written += 1
            await asyncio.sleep(0)
        return written

    task = asyncio.create_task(writer())
    seen: list[dict[str, object]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 37}
        if cursor:
            params["cursor"] = cursor
        response = await api.request("owner", "GET", "/v1/artifacts", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        await asyncio.sleep(0.01)  # let the writer get some artifacts in between pages
    writing = False
    written = await task

    assert written > 0 and pages >= 1000 // 37
    ids = [a["id"] for a in seen]
    assert len(ids) == len(set(ids)), "an artifact came twice"
    assert set(before) <= set(ids), "an artifact that existed before the listing is missing"
    keys = [(datetime.fromisoformat(str(a["created_at"])), str(a["id"])) for a in seen]
    assert keys == sorted(keys, reverse=True), "not in created_at DESC, artifact_id DESC order"
