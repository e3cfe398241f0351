"""Console pages at scale: server time of the list and artifact pages with 100k artifacts.

    PYTHONPATH=src python bench/bench_console.py                 # 100,000 artifacts, SQLite
    PYTHONPATH=src python bench/bench_console.py --rows 5000     # quick
    PYTHONPATH=src python bench/bench_console.py --postgres postgresql://postgres@127.0.0.1/x

A hub (embedded: SQLite index, local blobs) gets ``--rows`` artifacts in one tenant, written
straight into its index with executemany as ``bench_list.py`` does (a tenth in one session,
a tenth tagged, a tenth ``text/csv``), plus a few real ones pushed through the service: a
5 MiB CSV with two versions, a JSON document with two versions and a lineage chain. Each page
is then requested ``--repeat`` times in-process (httpx over ASGI, signed in with a session
cookie): the time from request to the last byte of the response is the server's time, without
the network. Beside each page, the REST call that reads the same data (``GET /v1/...``, JSON)
is the baseline. The budget is 200 ms per page (issue 14).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _common import Latency, machine_facts, print_facts, print_json, progress

from artifact_hub.adapters.index import tables as t
from artifact_hub.api import create_app
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas.lineage import Lineage, LineageInput

BUDGET_MS = 200.0
TENANT = "bench"
AGENT = "agent"


def _rows(offset: int, count: int, start: datetime) -> list[dict[str, Any]]:
    rows = []
    for j in range(count):
        i = offset + j
        created = start + timedelta(milliseconds=i)
        rows.append(
            {
                "artifact_id": f"art_{i:016d}",
                "tenant_id": TENANT,
                "namespace": "default",
                "name": f"f{i}.json",
                "agent_id": AGENT,
                "session_id": "hot" if i % 10 == 0 else f"s{i // 1000}",
                "content_type": "text/csv" if i % 10 == 3 else "application/json",
                "kind": "dataset" if i % 10 == 5 else "report",
                "version": 1,
                "sha256": f"{i:064x}",
                "size_bytes": 4096,
                "metadata": {"i": i},
                "labels": {},
                "tags": ["hot"] if i % 10 == 7 else [],
                "metrics": {},
                "pinned": False,
                "created_at": created,
                "updated_at": created,
                "revision": 1,
            }
        )
    return rows


async def _fill(hub: Hub, count: int) -> None:
    start = datetime.now(UTC) - timedelta(days=1)
    chunk = 20_000
    for offset in range(0, count, chunk):
        rows = _rows(offset, min(chunk, count - offset), start)
        tags = [{"artifact_id": r["artifact_id"], "tag": "hot"} for r in rows if r["tags"]]
        async with hub.db.begin() as conn:
            await conn.execute(t.artifacts.insert(), rows)
            if tags:
                await conn.execute(t.artifact_tags.insert(), tags)
        progress(f"  {offset + len(rows):,} rows")
    sessions = {"hot"} | {f"s{i // 1000}" for i in range(0, count, 1000)}
    async with hub.db.begin() as conn:
        await conn.execute(
            t.sessions.insert(),
            [{"tenant_id": TENANT, "session_id": s, "created_at": start} for s in sessions],
        )
        await conn.exec_driver_sql("ANALYZE")


async def _real(hub: Hub, key: str) -> dict[str, str]:
    caller = await hub.accounts.authenticate(key)
    header = "id,name,value,score\n"
    body = "".join(f"{i},row{i},{i * 7 % 1000},{i / 3:.4f}\n" for i in range(200_000))
    big = (header + body).encode()[: 5 * 1024 * 1024]
    csv = await hub.service.push(caller, big, name="big.csv", content_type="text/csv")
    await hub.service.add_version(caller, csv.artifact_id, big[: len(big) // 2])
    doc = await hub.service.push(
        caller,
        json.dumps({"a": list(range(500))}).encode(),
        name="doc.json",
        content_type="application/json",
    )
    await hub.service.add_version(
        caller, doc.artifact_id, json.dumps({"a": list(range(1, 501))}).encode()
    )
    lineage = Lineage(
        run_id="r1",
        workflow_id="wf",
        step_id="s1",
        inputs=[LineageInput(artifact_id=csv.artifact_id, version=1)],
    )
    made = await hub.service.push(caller, b"model", name="model.bin", lineage=lineage)
    return {"csv": csv.artifact_id, "doc": doc.artifact_id, "made": made.artifact_id}


async def _timed(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code not in (200, 303):
        raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
    return elapsed


async def _bench(settings: HubSettings, rows: int, repeat: int) -> list[Latency]:
    hub = bootstrap(settings)
    await hub.start()
    try:
        task = hub.indexer._reindex_task
        if task is not None:
            await task  # the start-up catch-up, before the bulk rows (which it never sees)
        await hub.accounts.create_tenant(TENANT, plan="enterprise")
        _, key = await hub.accounts.create_key(TENANT, AGENT)
        progress(f"filling the index with {rows:,} artifacts")
        await _fill(hub, rows)
        ids = await _real(hub, key)
        transport = httpx.ASGITransport(app=create_app(hub))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            login = await client.post("/console/login", data={"api_key": key})
            assert login.status_code == 303, login.text
            page = await client.get("/console/")
            cursor = page.text.split("cursor=")[1].split('"')[0].replace("&amp;", "&")
            api = {"Authorization": f"Bearer {key}"}
            cases = [
                ("list, first page", "/console/", "/v1/artifacts?limit=50"),
                (
                    "list, next page",
                    f"/console/?cursor={cursor}",
                    f"/v1/artifacts?limit=50&cursor={cursor}",
                ),
                (
                    "list, session filter",
                    "/console/?session_id=hot",
                    "/v1/artifacts?limit=50&session_id=hot",
                ),
                ("list, tag filter", "/console/?tag=hot", "/v1/artifacts?limit=50&tag=hot"),
                (
                    "list, content type",
                    "/console/?content_type=text/csv",
                    "/v1/artifacts?limit=50&content_type=text/csv",
                ),
                ("list, kind", "/console/?kind=dataset", "/v1/artifacts?limit=50&kind=dataset"),
                (
                    "artifact, 5 MiB CSV grid",
                    f"/console/artifacts/{ids['csv']}",
                    f"/v1/artifacts/{ids['csv']}",
                ),
                (
                    "artifact, CSV grid page 40",
                    f"/console/artifacts/{ids['csv']}?page_no=40",
                    f"/v1/artifacts/{ids['csv']}/versions",
                ),
                (
                    "artifact, JSON tree",
                    f"/console/artifacts/{ids['doc']}",
                    f"/v1/artifacts/{ids['doc']}",
                ),
                (
                    "diff, JSON v1..v2",
                    f"/console/artifacts/{ids['doc']}/diff",
                    f"/v1/artifacts/{ids['doc']}/versions",
                ),
                (
                    "lineage",
                    f"/console/artifacts/{ids['made']}/lineage",
                    f"/v1/artifacts/{ids['made']}/lineage",
                ),
                ("sessions", "/console/sessions", "/v1/sessions/hot"),
                ("events", "/console/events", "/v1/whoami"),
            ]
            results = []
            for label, console_url, api_url in cases:
                row = Latency(label.split(",")[0], label, api_url.split("?")[0])
                for _ in range(2):  # warm up
                    await _timed(client, console_url, {})
                for _ in range(repeat):
                    row.hub_ms.append(await _timed(client, console_url, {}))
                    row.baseline_ms.append(await _timed(client, api_url, api))
                results.append(row)
                progress(f"  {label}: p50 {Latency.quantile(row.hub_ms, 0.5):.1f} ms")
        return results
    finally:
        await hub.stop()


def _print(rows: list[Latency], label: str) -> None:
    print(f"\n{label}: server time per page (in-process, ms); baseline: the REST call")
    header = ("page", "p50", "p99", "max", "REST p50", "budget", "")
    cells = []
    for row in rows:
        p50, p99 = Latency.quantile(row.hub_ms, 0.5), Latency.quantile(row.hub_ms, 0.99)
        verdict = "ok" if p99 < BUDGET_MS else "OVER"
        base = Latency.quantile(row.baseline_ms, 0.5)
        cells.append(
            (
                row.metric,
                f"{p50:.1f}",
                f"{p99:.1f}",
                f"{max(row.hub_ms):.1f}",
                f"{base:.1f}",
                f"{BUDGET_MS:.0f}",
                verdict,
            )
        )
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for cell in cells:
        print("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)))


async def _main(args: argparse.Namespace) -> dict[str, list[Latency]]:
    results: dict[str, list[Latency]] = {}
    common = {
        "default_ttl_seconds": None,
        "signing_secret": "bench-console-signing-secret",
        "rate_limit_per_second": 1_000_000,
        "rate_limit_burst": 1_000_000,
        "sweep_enabled": False,
        "search_embedder": "hashing",
    }
    with tempfile.TemporaryDirectory(prefix="artifact-hub-bench-console-") as folder:
        settings = HubSettings(data_dir=Path(folder) / "hub", **common)
        results["sqlite"] = await _bench(settings, args.rows, args.repeat)
    if args.postgres:
        with tempfile.TemporaryDirectory(prefix="artifact-hub-bench-console-") as folder:
            settings = HubSettings(
                data_dir=Path(folder) / "hub", database_url=args.postgres, **common
            )
            results["postgresql"] = await _bench(settings, args.rows, args.repeat)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--postgres", help="also on this (empty, disposable) PostgreSQL database")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a page's p99 is over the budget (the table marks it OVER either way)",
    )
    args = parser.parse_args(argv)
    facts = machine_facts(Path(tempfile.gettempdir()))
    results = asyncio.run(_main(args))
    print_facts(facts)
    print(f"\n{args.rows:,} artifacts in the tenant, {args.repeat} requests per page")
    over = False
    for label, rows in results.items():
        _print(rows, label)
        over = over or any(Latency.quantile(r.hub_ms, 0.99) >= BUDGET_MS for r in rows)
    if args.json:
        payload = {label: [r.as_dict() for r in rows] for label, rows in results.items()}
        print_json({"facts": facts, "results": payload, "params": vars(args)})
    # Timing is reported, not asserted, unless asked: a loaded machine (CI) must not fail it.
    return 1 if over and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
