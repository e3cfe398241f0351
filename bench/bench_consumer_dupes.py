"""The index consumer on events the hub already applied (a shared database), in one run.

Run from the repository root::

    PYTHONPATH=src python bench/bench_consumer_dupes.py [--events 6000] [--batch 500]
        [--rounds 3] [--postgres-url URL]

In distributed mode with one database the API's write path applies each event in its own
transaction (``SqlEventLog.record``), and the relay publishes it; the consumers then receive
the same event from Kafka. This writes ``--events`` events through the write path's
projection into a fresh PostgreSQL database (``--postgres-url``, default ``DATABASE_URL``, else
``postgresql://postgres@127.0.0.1:5432/postgres``; dropped at the end), encodes and signs them
as the relay does, and hands them to the validating consumer (``IndexConsumer`` with an
``IngestValidator``, as ``artifact-hub consumers`` runs it) in polls of ``--batch`` records:

* ``full path``: the consumer with its up-front lookup switched off: every record is
  decoded, its signature verified, its artifacts locked and the batch projection loaded,
  and only then found applied;
* ``pre-check, id only``: the lookup as it was before issue 15 (a known ``ce_id`` claiming
  the hub's source was dropped, signed or not);
* ``pre-check``: the consumer as it is (the batch's ids looked up in ``processed_events``
  with one query; a known one is dropped once the hub's signature on the raw record checks
  out, see ``artifact_hub.consumers.applied``).

Every record must come out ``DUPLICATE`` in each. The figure is events per second over all
polls (best of ``--rounds``, the order reversed every other round); no Kafka is involved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_core import build_events
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.bus.signing import sign_record
from artifact_hub.adapters.index import Database
from artifact_hub.adapters.index.stores.accounts import SqlAccountStore
from artifact_hub.adapters.index.stores.events import SqlEventLog
from artifact_hub.adapters.storage.local import LocalBlobStore
from artifact_hub.consumers import IndexConsumer, Outcome
from artifact_hub.consumers.applied import Applied, find_applied
from artifact_hub.consumers.validation import IngestValidator
from artifact_hub.schemas.cloudevents import KafkaRecord, encode
from artifact_hub.service.accounts import AccountService

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
WRITE_BATCH = 200


class FullPathConsumer(IndexConsumer):
    """The consumer without the batch's up-front lookup of applied event ids."""

    async def _already_applied(
        self, conn: AsyncConnection, records: Sequence[tuple[str, KafkaRecord]]
    ) -> Applied:
        return Applied()


class IdOnlyConsumer(IndexConsumer):
    """The lookup before issue 15: a known id claiming the hub's source was enough."""

    async def _already_applied(
        self, conn: AsyncConnection, records: Sequence[tuple[str, KafkaRecord]]
    ) -> Applied:
        return await find_applied(conn, records, None)  # every record here is the hub's


KINDS: dict[str, type[IndexConsumer]] = {
    "full path": FullPathConsumer,
    "pre-check, id only": IdOnlyConsumer,
    "pre-check": IndexConsumer,
}


async def _admin(admin: Any, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(
        host=admin.host or "127.0.0.1",
        port=admin.port or 5432,
        user=admin.username or "postgres",
        password=admin.password,
        database=admin.database or "postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def consume(
    consumer: IndexConsumer, records: list[tuple[str, KafkaRecord]], batch: int
) -> float:
    """Events per second through ``handle_batch``; every record must be a duplicate."""
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    for start in range(0, len(records), batch):
        outcomes += await consumer.handle_batch(records[start : start + batch])
    elapsed = time.perf_counter() - started
    wrong = [o for o in outcomes if o is not Outcome.DUPLICATE]
    if wrong:
        raise SystemExit(f"{len(wrong)} records were not duplicates: {wrong[:3]}")
    return len(records) / elapsed


async def run(args: argparse.Namespace) -> None:
    admin = make_url(args.postgres_url)
    name = f"ah_bench_{secrets.token_hex(4)}"
    await _admin(admin, f'CREATE DATABASE "{name}"')
    db = Database(admin.set(database=name))
    try:
        await db.migrate()
        events = build_events(args.events)
        log = SqlEventLog()
        for start in range(0, len(events), WRITE_BATCH):  # the write path's projection
            async with db.begin() as conn:
                for event in events[start : start + WRITE_BATCH]:
                    await log.record(conn, event)
        accounts = AccountService(db, SqlAccountStore())
        secret = await accounts.hub_bus_secret()
        records = [(e.topic, sign_record(encode(e), secret)) for e in events]
        with tempfile.TemporaryDirectory() as folder:
            blobs = LocalBlobStore(Path(folder))
            best: dict[str, float] = {}
            for round_ in range(args.rounds):
                labels = list(KINDS)
                for label in labels if round_ % 2 else labels[::-1]:
                    validator = IngestValidator(db, blobs, accounts=accounts)
                    consumer = KINDS[label](db, validator=validator)
                    rate = await consume(consumer, records, args.batch)
                    print(f"round {round_ + 1}: {label}: {rate:,.0f} events/s", file=sys.stderr)
                    best[label] = max(best.get(label, 0.0), rate)
        print(f"\n{args.events} hub-applied events, polls of {args.batch}, PostgreSQL\n")
        print(f"| consumer path | events/s (best of {args.rounds}) | vs full path |")
        print("| --- | ---: | ---: |")
        for label in KINDS:
            ratio = best[label] / best["full path"]
            print(f"| {label} | {best[label]:,.0f} | {ratio:.1f}x |")
    finally:
        await db.dispose()
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=os.environ.get("DATABASE_URL", DEFAULT_POSTGRES))
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
