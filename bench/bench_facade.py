"""ArtifactFacade benchmark: each facade figure beside the service calls it is built on.

Run from the repository root::

    PYTHONPATH=src python bench/bench_facade.py [--count 500] [--files 500]
        [--changed 0.1] [--workdir DIR] [--json]

One embedded hub (local blobs, SQLite, in-process events, search without an embedder), one
in-process ``RunContext`` over it. Every figure is a rate (higher is better); the baseline is
the raw ``ArtifactService`` call doing the same storage work, in the same run:

1. Small artifacts (``--count`` distinct texts of about 1 KiB):
   - ``save_text`` (scope labels, filename, content type) vs ``ArtifactService.push(bytes)``;
   - ``load_bytes_by_id`` vs ``ArtifactService.pull_bytes``.
2. A directory of ``--files`` files of 4 KiB:
   - ``ingest_dir`` (hash every file, look up each content, push the new ones, push the
     manifest) vs pushing every file with ``ArtifactService.push`` (8 at once, as the
     facade does), counted in files per second;
   - ``ingest_dir`` again after ``--changed`` of the files changed (only those are stored;
     the rest are found by their sha256) vs the same push-every-file baseline;
   - ``as_local_dir`` into an empty cache (every content downloaded, verified, linked) vs
     ``ArtifactService.pull_to`` of every file (8 at once);
   - ``as_local_dir`` again (the cache answers) vs the same pull-every-file baseline.

Page caches are not dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from _common import Row, machine_facts, print_facts, print_json, print_table, progress, stopwatch

from artifact_hub.facade import RunContext
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas.identity import Caller

ROW_KEYS = (
    "save_text",
    "load_bytes_by_id",
    "ingest_dir_new",
    "ingest_dir_changed",
    "as_local_dir_cold",
    "as_local_dir_warm",
)
FILE_SIZE = 4096
PARALLEL = 8  # the facade moves directory files 8 at a time; the baselines do the same


def hub_at(data_dir: Path) -> Hub:
    """The embedded hub; every backend setting passed so the environment cannot change it."""
    return bootstrap(
        data_dir=data_dir,
        default_ttl_seconds=None,
        database_url=None,
        blob_store="local",
        blob_dir=None,
        event_bus="inprocess",
        run_relay=True,
        search_embedder="none",
        sweep_enabled=False,
    )


async def limited(calls: Sequence[Callable[[], Awaitable[object]]]) -> None:
    """Run the calls, ``PARALLEL`` at once."""
    gate = asyncio.Semaphore(PARALLEL)

    async def run(call: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(run(call) for call in calls))


def make_tree(root: Path, files: int, salt: bytes) -> list[Path]:
    """``files`` files of 4 KiB in 10 sub-folders, contents unique to ``salt``."""
    paths = []
    for i in range(files):
        path = root / f"d{i % 10}" / f"f{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(salt + i.to_bytes(4, "big") + secrets.token_bytes(FILE_SIZE - 36))
        paths.append(path)
    return paths


async def run(workdir: Path, count: int, files: int, changed: float, notes: list[str]) -> list[Row]:
    rows: list[Row] = []
    async with hub_at(workdir / "hub") as hub:
        caller = Caller(tenant_id="bench", agent_id="bench")
        context = RunContext(
            org_id="o",
            user_id="u",
            session_id="s",
            run_id="r",
            graph_id="g",
            node_id="n",
            hub=hub,
            caller=caller,
            cache_dir=workdir / "cache",
        )
        facade = context.artifacts()
        service = hub.service

        # 1. small artifacts, one at a time (a node saving results). The two sides take
        # turns, operation by operation, so drift in the machine's speed hits both alike.
        progress(f"save_text x{count} / service.push x{count}, alternating")
        raw_ids: list[str] = []
        ids: list[str] = []
        raw_seconds = our_seconds = 0.0
        for _ in range(count):
            with stopwatch() as raw:
                pushed = await service.push(
                    caller,
                    secrets.token_hex(512).encode(),
                    name="payload.txt",
                    content_type="text/plain",
                    kind="text",
                )
            with stopwatch() as ours:
                saved = await facade.save_text(secrets.token_hex(512))
            raw_ids.append(pushed.id)
            ids.append(saved.id)
            raw_seconds += raw.seconds
            our_seconds += ours.seconds
        rows.append(
            Row(
                "save_text",
                "save_text",
                "ops/s",
                count / our_seconds,
                "service.push(same bytes, type, kind)",
                count / raw_seconds,
            )
        )
        progress(f"load_bytes_by_id x{count} / service.pull_bytes x{count}, alternating")
        raw_seconds = our_seconds = 0.0
        for raw_id, our_id in zip(raw_ids, ids, strict=True):
            with stopwatch() as raw:
                await service.pull_bytes(caller, raw_id)
            with stopwatch() as ours:
                await facade.load_bytes_by_id(our_id)
            raw_seconds += raw.seconds
            our_seconds += ours.seconds
        rows.append(
            Row(
                "load_bytes_by_id",
                "load_bytes_by_id",
                "ops/s",
                count / our_seconds,
                "service.pull_bytes",
                count / raw_seconds,
            )
        )

        # 2. directories.
        tree = workdir / "tree"
        baseline_tree = workdir / "baseline-tree"
        make_tree(tree, files, b"facade-tree-" + secrets.token_bytes(20))
        baseline_paths = make_tree(baseline_tree, files, b"raw-tree----" + secrets.token_bytes(20))

        async def push_every_file(paths: list[Path]) -> list[str]:
            pushed: dict[int, str] = {}

            async def push(i: int, path: Path) -> None:
                pushed[i] = (await service.push(caller, path)).id

            await limited([lambda i=i, p=p: push(i, p) for i, p in enumerate(paths)])
            return [pushed[i] for i in range(len(paths))]

        progress(f"ingest_dir of {files} files / service.push of each")
        with stopwatch() as raw_first:
            raw_files = await push_every_file(baseline_paths)
        with stopwatch() as ours:
            first = await facade.ingest_dir(tree)
        rows.append(
            Row(
                "ingest_dir_new",
                "ingest_dir, new files",
                "files/s",
                files / ours.seconds,
                "service.push each file",
                files / raw_first.seconds,
            )
        )

        to_change = max(1, int(files * changed))
        for i, path in enumerate(sorted(tree.rglob("*.bin"))[:to_change]):
            path.write_bytes(
                b"changed-" + i.to_bytes(4, "big") + secrets.token_bytes(FILE_SIZE - 12)
            )
        for i, path in enumerate(baseline_paths[:to_change]):
            path.write_bytes(
                b"changed-raw-" + i.to_bytes(4, "big") + secrets.token_bytes(FILE_SIZE - 16)
            )
        progress(f"ingest_dir again, {to_change} of {files} files changed")
        with stopwatch() as raw_again:
            await push_every_file(baseline_paths)
        with stopwatch() as ours:
            second = await facade.ingest_dir(tree)
        rows.append(
            Row(
                "ingest_dir_changed",
                f"ingest_dir, {changed:.0%} changed",
                "files/s",
                files / ours.seconds,
                "service.push each file",
                files / raw_again.seconds,
            )
        )
        notes.append(
            f"first ingest_dir: {first.size_bytes} B manifest; second: {second.size_bytes} B "
            f"manifest, {to_change} files uploaded, {files - to_change} found by sha256"
        )

        progress(f"as_local_dir of {files} files / service.pull_to of each")
        pulled = workdir / "pulled"
        pulled.mkdir()

        async def pull_every_file() -> None:
            await limited(
                [
                    lambda i=i, a=a: service.pull_to(caller, a, pulled / f"{i}.bin")
                    for i, a in enumerate(raw_files)
                ]
            )

        with stopwatch() as raw_pull:
            await pull_every_file()
        with stopwatch() as ours:
            local = await facade.as_local_dir(second)
        downloads = facade.cache.downloads
        rows.append(
            Row(
                "as_local_dir_cold",
                "as_local_dir, empty cache",
                "files/s",
                files / ours.seconds,
                "service.pull_to each file",
                files / raw_pull.seconds,
            )
        )
        with stopwatch() as raw_pull_again:
            await pull_every_file()
        with stopwatch() as ours:
            again = await facade.as_local_dir(second)
        if again != local or facade.cache.downloads != downloads:
            raise RuntimeError("the second as_local_dir downloaded again")
        rows.append(
            Row(
                "as_local_dir_warm",
                "as_local_dir, cached",
                "files/s",
                files / ours.seconds,
                "service.pull_to each file",
                files / raw_pull_again.seconds,
            )
        )
        notes.append(f"as_local_dir downloaded {downloads} contents once; the second call none")
        notes.append(
            "save_text writes 8 scope labels + filename per artifact (label rows in the index); "
            "the baseline push has none"
        )
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500, help="small artifacts saved/loaded")
    parser.add_argument("--files", type=int, default=500, help="files in the directory")
    parser.add_argument("--changed", type=float, default=0.1, help="share changed before re-ingest")
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the work folder")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    parent: Path = args.workdir if args.workdir is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="artifact-hub-bench-", dir=parent))
    try:
        facts = machine_facts(workdir)
        notes: list[str] = []
        rows = asyncio.run(run(workdir, args.count, args.files, args.changed, notes))
    finally:
        # The cache's files are read-only; their folders are not, so rmtree removes them.
        shutil.rmtree(workdir, ignore_errors=True)
    if tuple(row.key for row in rows) != ROW_KEYS:
        raise RuntimeError(f"rows {[row.key for row in rows]} differ from ROW_KEYS")

    print("artifact-hub facade benchmark: every figure beside the raw service calls it is built")
    print("on, measured in this same run on this same machine. One pass each; compare ratios.")
    print_facts(facts)
    print(
        f"sizes:   {args.count} small artifacts (~1 KiB), a directory of {args.files} files of "
        f"4 KiB, {args.changed:.0%} changed before the second ingest; in-process facade"
    )
    print("caches:  page cache NOT dropped.")
    print("ratio = artifact-hub facade / baseline (all figures are rates; 1.00x = as fast).")
    print()
    print_table(rows)
    print()
    print("notes:")
    for note in notes:
        print(f"  - {note}")
    if args.json:
        print_json(
            {
                "bench": "facade",
                "machine": facts,
                "params": {"count": args.count, "files": args.files, "changed": args.changed},
                "rows": [row.as_dict() for row in rows],
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
