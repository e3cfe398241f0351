"""Worker processes for the multi-process tests: an index consumer, or an outbox relay.

Run as a script (the tests start it with ``sys.executable``)::

    python tests/integration/workers.py consumer --stats S --database-url URL \\
        --bootstrap HOST:PORT --prefix P --group G
    python tests/integration/workers.py relay --stats S --database-url URL \\
        --bootstrap HOST:PORT --prefix P --data-dir D

``consumer`` is one member of the index consumers' group, as ``artifact-hub consumers`` runs
it (``build_consumer_app`` with ``IndexConsumer``), with a short session timeout so that the
group notices a killed member in seconds. ``relay`` is ``artifact-hub relay``: a hub that runs
only its outbox relay. Each writes its counters as JSON to the ``--stats`` file every 0.1 s
(replaced atomically), stops cleanly on SIGTERM, and dies on SIGKILL, which is the point.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

FAST_GROUP = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 500,
    "rebalance_timeout_ms": 1000,
}


ROOT = Path(__file__).resolve().parents[2]

Worker = tuple["subprocess.Popen[bytes]", Path]
"""A started worker process and its stats file."""


def spawn(tmp_path: Path, name: str, role: str, **options: object) -> Worker:
    """Start this script as ``role`` with ``--option value`` for each option (``_`` -> ``-``).

    Its stderr goes to ``<tmp_path>/<name>.log``, its stats to ``<tmp_path>/<name>.json``.
    """
    stats = tmp_path / f"{name}.json"
    arguments = [sys.executable, __file__, role, "--stats", str(stats)]
    for key, value in options.items():
        arguments += [f"--{key.replace('_', '-')}", str(value)]
    process = subprocess.Popen(
        arguments,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{name}.log", "wb"),  # noqa: SIM115 - the child owns it
    )
    return process, stats


def stop_all(started: Iterable[Worker]) -> None:
    """Kill the workers still running and reap them (a test's clean-up)."""
    for process, _ in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def write_stats(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def read_stats(path: Path) -> dict[str, Any]:
    """The worker's last counters ({} before it wrote any)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


async def run_until_stopped(report: Callable[[], dict[str, Any]], stats: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        write_stats(stats, {"pid": os.getpid(), **report()})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def consumer(args: argparse.Namespace) -> None:
    from artifact_hub.adapters.index import Database
    from artifact_hub.consumers import IndexConsumer, build_consumer_app

    db = Database(args.database_url)
    index_consumer = IndexConsumer(db)
    _, broker = build_consumer_app(
        args.bootstrap,
        index_consumer,
        group_id=args.group,
        topic_prefix=args.prefix,
        **FAST_GROUP,
    )
    await broker.start()

    async def retry() -> None:  # what the maintenance loop of `artifact-hub consumers` does
        while True:
            await asyncio.sleep(1)
            await index_consumer.retry_deferred()

    task = asyncio.create_task(retry())
    try:
        await run_until_stopped(lambda: {"started": True, **vars(index_consumer.stats)}, args.stats)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await broker.stop()  # lets the batch in hand finish
        await db.dispose()
        # The last word: a batch may have committed since the last periodic write.
        write_stats(
            args.stats,
            {"pid": os.getpid(), "started": True, "stopped": True, **vars(index_consumer.stats)},
        )


async def relay(args: argparse.Namespace) -> None:
    from artifact_hub.core.settings import HubSettings
    from artifact_hub.plugin import bootstrap

    settings = HubSettings(
        data_dir=Path(args.data_dir),
        database_url=args.database_url,
        event_bus="kafka",
        kafka_bootstrap_servers=args.bootstrap,
        topic_prefix=args.prefix,
        relay_poll_interval=0.1,
        relay_batch_size=args.batch_size,
        run_relay=False,
        sweep_enabled=False,
    )
    hub = bootstrap(settings)
    await hub.start()
    hub.relay.start()
    try:
        await run_until_stopped(
            lambda: {
                "started": True,
                "published": hub.relay.published,
                "active": hub.relay.active,
                "failures": hub.relay.failures,
            },
            args.stats,
        )
    finally:
        await hub.relay.stop()
        await hub.stop()
    write_stats(args.stats, {"pid": os.getpid(), "stopped": True, "published": hub.relay.published})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["consumer", "relay"])
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--group", default="artifact-hub-index")
    parser.add_argument("--data-dir", default=".")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(consumer(args) if args.role == "consumer" else relay(args))


if __name__ == "__main__":
    main()
