"""Every example of seeds/artifact-facade-api.txt, in-process and remote, on both stacks.

Each test runs four times: over the service layer of an embedded hub and over the REST API
through the SDK (httpx ASGITransport), each on SQLite + local folder and PostgreSQL + S3. The
same assertions passing in all four is what shows the two bindings behave the same.
The seed's ``/tmp/...`` paths become paths under pytest's ``tmp_path``.

One hub per stack serves the whole module (a PostgreSQL database and migrations per test would
cost seconds each); every test gets its own tenant and API key, so tests cannot see each other.
"""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.conftest import STACKS

from artifact_hub.api import create_app
from artifact_hub.client import AsyncClient
from artifact_hub.core.errors import (
    ChecksumMismatchError,
    InvalidRequestError,
    PermissionDeniedError,
)
from artifact_hub.core.settings import HubSettings
from artifact_hub.facade import MANIFEST_CONTENT_TYPE, ArtifactFacade, RunContext
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.ports.blobs import BlobInfo
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.commands import Scope
from artifact_hub.schemas.identity import Caller

IDS = {
    "org_id": "org_acme",
    "user_id": "u_alice",
    "client_id": "c_web",
    "app_id": "app_lab",
    "session_id": "ses_1",
    "run_id": "run_1",
    "graph_id": "g_train",
    "node_id": "n_fit",
}


@dataclass
class Env:
    """A started hub, the binding under test, and a context maker."""

    hub: Hub
    binding: str
    make: Callable[..., RunContext]
    tmp: Path

    def ctx(self, **ids: Any) -> RunContext:
        """A context with :data:`IDS`, some replaced."""
        return self.make(**{**IDS, **ids})


@pytest.fixture(scope="module", params=STACKS)
async def stack_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Hub]:
    """One hub per stack for the module (each test gets its own tenant, so they stay apart)."""
    data_dir = tmp_path_factory.mktemp("facade-hub")
    extra: dict[str, Any] = {
        "rate_limit_per_second": 100_000,
        "rate_limit_burst": 100_000,
        "signing_secret": "facade-tests-signing-secret",
        "sweep_enabled": False,
        "default_ttl_seconds": None,
    }
    drop: Callable[[], None] | None = None
    if request.param == "sqlite-local":
        settings = HubSettings(data_dir=data_dir, **extra)
    else:
        server = request.getfixturevalue("postgres_server")
        s3_server = request.getfixturevalue("s3_server")
        s3 = request.getfixturevalue("s3_settings")
        name = server.create_database()
        settings = HubSettings(
            data_dir=data_dir,
            database_url=server.url(name),
            blob_store="s3",
            s3_bucket=s3_server.create_bucket(),
            s3_endpoint_url=s3["endpoint_url"],
            s3_region=s3["region_name"],
            s3_access_key_id=s3["aws_access_key_id"],
            s3_secret_access_key=s3["aws_secret_access_key"],
            **extra,
        )
        drop = functools.partial(server.drop_database, name)
    hub = bootstrap(settings)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
        if drop is not None:
            drop()


@pytest.fixture(params=["in-process", "remote"])
async def env(request: pytest.FixtureRequest, stack_hub: Hub, tmp_path: Path) -> AsyncIterator[Env]:
    hub = stack_hub
    tenant = f"t_{uuid.uuid4().hex[:12]}"
    await hub.accounts.create_tenant(tenant, plan="enterprise")
    _, key = await hub.accounts.create_key(tenant, "alice")
    cache = tmp_path / "cache"
    if request.param == "in-process":
        caller = Caller(tenant_id=tenant, agent_id="alice")
        yield Env(
            hub,
            "in-process",
            lambda **ids: RunContext(**ids, hub=hub, caller=caller, cache_dir=cache),
            tmp_path,
        )
        return
    transport = httpx.ASGITransport(app=create_app(hub))
    async with AsyncClient(api_key=key, base_url="http://hub", transport=transport) as client:
        yield Env(
            hub,
            "remote",
            lambda **ids: RunContext(**ids, client=client, cache_dir=cache),
            tmp_path,
        )


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _scope_of(artifact: Artifact) -> dict[str, Any]:
    return {key: artifact.labels.get(key) for key in IDS}


# ----------------------------------------------------------------------------- 1. save


async def test_save_file_text_json_examples(env: Env) -> None:
    context = env.ctx()
    output = _write(env.tmp / "output.txt", "log line\n")
    artifact = await context.artifacts().save_file(
        path=str(output),
        kind="text",
        labels={"category": "logs"},
    )
    assert artifact.kind == "text" and artifact.labels["category"] == "logs"
    assert artifact.name == "output.txt" and artifact.labels["filename"] == "output.txt"
    assert _scope_of(artifact) == IDS  # the context's scope labels
    assert (artifact.run_id, artifact.graph_id, artifact.node_id) == ("run_1", "g_train", "n_fit")
    assert (artifact.org_id, artifact.user_id, artifact.session_id) == (
        "org_acme",
        "u_alice",
        "ses_1",
    )
    assert artifact.uri == f"artifact://{artifact.id}"
    assert not output.exists()  # cleanup=True by default
    assert await context.artifacts().load_text_by_id(artifact.id) == "log line\n"

    data = _write(env.tmp / "data.csv", "a,b\n1,2\n")
    artifact = await context.artifacts().save_file(
        path=str(data),
        kind="dataset",
        name="data_backup.csv",
        pin=True,
    )
    assert artifact.name == "data_backup.csv" and artifact.pinned
    assert artifact.content_type == "text/csv"

    # name wins over suggested_uri for the file name; suggested_uri alone names it.
    kept = _write(env.tmp / "kept.bin", b"\x00\x01")
    both = await context.artifacts().save_file(
        kept, kind="blob", name="n.bin", suggested_uri="s3://bucket/dir/s.bin", cleanup=False
    )
    assert both.name == "n.bin" and both.labels["suggested_uri"] == "s3://bucket/dir/s.bin"
    assert kept.exists()  # cleanup=False
    only_uri = await context.artifacts().save_file(
        kept, kind="blob", suggested_uri="s3://bucket/dir/s.bin", cleanup=False
    )
    assert only_uri.name == "s.bin"
    with pytest.raises(FileNotFoundError):
        await context.artifacts().save_file(env.tmp / "nope.txt", kind="text")

    hello = await context.artifacts().save_text("Hello, world!")
    assert hello.kind == "text" and hello.content_type == "text/plain"
    assert await context.artifacts().load_text_by_id(hello.id) == "Hello, world!"
    results = await context.artifacts().save_text(
        "Experiment results",
        name="results.txt",
        labels={"experiment": "A1"},
        metrics={"accuracy": 0.98},
        pin=True,
    )
    assert (results.name, results.labels["experiment"], results.metrics, results.pinned) == (
        "results.txt",
        "A1",
        {"accuracy": 0.98},
        True,
    )

    foo = await context.artifacts().save_json({"foo": "bar", "count": 42})
    assert foo.kind == "json" and foo.content_type == "application/json"
    assert await context.artifacts().load_json_by_id(foo.id) == {"foo": "bar", "count": 42}
    res = await context.artifacts().save_json(
        {"results": [1, 2, 3]},
        name="results.json",
        labels={"experiment": "A1"},
        metrics={"accuracy": 0.98},
        pin=True,
    )
    assert res.name == "results.json" and res.pinned and res.metrics == {"accuracy": 0.98}
    assert await context.artifacts().load_json_by_id(res.id) == {"results": [1, 2, 3]}
    with pytest.raises(TypeError):
        await context.artifacts().save_json({"not": object()})


async def test_writer_examples(env: Env) -> None:
    context = env.ctx()
    async with context.artifacts().writer(kind="binary") as w:
        await w.write(b"some data")
    assert w.artifact is not None and w.artifact.kind == "binary"
    assert await context.artifacts().load_bytes_by_id(w.artifact.id) == b"some data"

    async with context.artifacts().writer(kind="log", planned_ext=".log", pin=True) as w:
        await w.write(b"Log entry 1\n")
        w.add_labels({"source": "app"})
        w.add_metrics({"lines": 1})
        w.add_labels({"tags": ["nightly"]})
        assert w.artifact is None  # nothing is recorded before the block exits
    log = w.artifact
    assert log is not None and log.pinned and log.name == "log.log"
    assert log.labels["source"] == "app" and log.metrics == {"lines": 1}
    assert log.tags == ["nightly"] and "tags" not in log.labels
    assert log.labels["run_id"] == "run_1"  # scope labels added when recording
    assert await context.artifacts().load_text_by_id(log.id) == "Log entry 1\n"

    before = len(await context.artifacts().list())
    with pytest.raises(RuntimeError, match="node failed"):
        async with context.artifacts().writer(kind="log") as w:
            await w.write(b"half")
            raise RuntimeError("node failed")
    assert w.artifact is None and not w.path.exists()
    assert len(await context.artifacts().list()) == before  # nothing visible


# ----------------------------------------------------------------------------- 2. query


async def test_get_list_pin_examples(env: Env) -> None:
    facade = env.ctx().artifacts()
    mine = await facade.save_text("weekly", kind="report", tags=["report", "weekly"])
    other_node = await env.ctx(node_id="n_eval").artifacts().save_text("eval")
    other_run = await env.ctx(run_id="run_2").artifacts().save_text("run 2")
    other_session = await env.ctx(session_id="ses_2", run_id="run_9").artifacts().save_text("s2")
    other_user = (
        await env.ctx(user_id="u_bob", session_id="ses_3", run_id="run_3")
        .artifacts()
        .save_text("bob")
    )

    artifact = await facade.get_by_id(mine.id)
    if artifact:
        print(artifact.name)
    assert artifact is not None and artifact.id == mine.id and artifact.uri == mine.uri
    assert await facade.get_by_id("art_missingmissing00") is None

    artifacts = await facade.list()
    for a in artifacts:
        print(a.artifact_id, a.kind)
    assert [a.id for a in artifacts] == [mine.id]  # this run, this node
    graph_artifacts = await facade.list(include_node=False)
    assert {a.id for a in graph_artifacts} == {mine.id, other_node.id}
    tagged = await facade.list(tags=["report"])
    assert [a.id for a in tagged] == [mine.id]
    assert await facade.list(tags=["report", "monthly"]) == []

    def ids(found: list[Artifact]) -> set[str]:
        return {a.id for a in found}

    session = ids(await facade.list(level="session", include_node=False))
    assert session == {mine.id, other_node.id, other_run.id}
    user = ids(await facade.list(level="user", include_node=False))
    assert user == session | {other_session.id}
    org = ids(await facade.list(level="org", include_node=False))
    assert org == user | {other_user.id}
    assert ids(await facade.list(level="scope", include_node=False)) == user
    assert ids(
        await facade.list(level="org", include_node=False, filters={"user_id": "u_bob"})
    ) == {other_user.id}
    assert len(await facade.list(level="org", include_node=False, limit=2)) == 2
    with pytest.raises(InvalidRequestError):
        await env.ctx(run_id=None).artifacts().list()
    with pytest.raises(InvalidRequestError):
        await facade.list(level="galaxy")  # type: ignore[arg-type]

    # Ids that read as JSON numbers or booleans stay strings on every path.
    numeric = env.ctx(run_id="42", node_id="true").artifacts()
    saved = await numeric.save_text("n")
    assert [a.id for a in await numeric.list()] == [saved.id]
    assert [a.id for a in await numeric.search()] == [saved.id]

    await facade.pin(mine.id, pinned=True)
    assert (await facade.get_by_id(mine.id)).pinned  # type: ignore[union-attr]
    await facade.pin(mine.id, pinned=False)
    assert not (await facade.get_by_id(mine.id)).pinned  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- 3. stage/ingest


async def test_stage_and_ingest_examples(env: Env) -> None:
    facade = env.ctx().artifacts()
    staged_path = await facade.stage_path(".txt")
    assert staged_path.endswith(".txt") and Path(staged_path).is_file()
    log_path = await facade.stage_path(".log")
    assert log_path.endswith(".log") and log_path != staged_path
    staged_dir = await facade.stage_dir()
    assert Path(staged_dir).is_dir()
    images = await facade.stage_dir("_images")
    assert images.endswith("_images") and Path(images).is_dir()
    with pytest.raises(InvalidRequestError):
        await facade.stage_dir("/../../etc")

    model = _write(Path(await facade.stage_path(".bin")), b"weights")
    artifact = await facade.ingest_file(
        staged_path=str(model),
        kind="model",
        labels={"domain": "vision"},
        pin=True,
    )
    assert artifact.kind == "model" and artifact.pinned and artifact.labels["domain"] == "vision"
    assert not model.exists()  # staged files are cleaned up once ingested
    outside = _write(env.tmp / "data.csv", "x\n")
    artifact = await facade.ingest_file(
        staged_path=str(outside),
        kind="dataset",
        suggested_uri="s3://bucket/data.csv",
    )
    assert (
        artifact.name == "data.csv" and artifact.labels["suggested_uri"] == "s3://bucket/data.csv"
    )
    assert outside.exists()  # not ours to remove

    output_dir = Path(await facade.stage_dir())
    _write(output_dir / "a.png", b"png-a")
    _write(output_dir / "sub" / "b.png", b"png-b")
    artifact = await facade.ingest_dir(
        staged_dir=str(output_dir),
        kind="directory",
        labels={"type": "images"},
    )
    assert artifact.kind == "directory" and artifact.labels["type"] == "images"
    assert artifact.content_type == MANIFEST_CONTENT_TYPE
    assert artifact.metrics == {"file_count": 2, "total_bytes": 10}
    assert not output_dir.exists()
    local = Path(await facade.as_local_dir(artifact))
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()) == [
        "a.png",
        "sub/b.png",
    ]
    assert (local / "sub" / "b.png").read_bytes() == b"png-b"

    logs = _write(env.tmp / "logs" / "one.log", "1\n").parent
    artifact = await facade.ingest_dir(
        staged_dir=str(logs),
        kind="log_dir",
        metrics={"file_count": 12},
    )
    assert artifact.kind == "log_dir" and artifact.metrics["file_count"] == 12  # given wins
    assert artifact.name == "logs" and logs.exists()
    with pytest.raises(FileNotFoundError):
        await facade.ingest_dir(staged_dir=str(env.tmp / "missing"))
    # Ingesting the staging folder itself does not remove it (only what was staged in it).
    await facade.ingest_dir(staged_dir=str(facade.cache.staging), kind="staging")
    assert facade.cache.staging.is_dir() and Path(images).is_dir()


async def test_unchanged_directory_files_are_not_stored_twice(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blob store records what it really stores: a second ingest adds only the change."""
    stored: list[BlobInfo] = []
    put = env.hub.blobs.put

    async def counting_put(*args: Any, **kwargs: Any) -> BlobInfo:
        info = await put(*args, **kwargs)
        if info.created:
            stored.append(info)
        return info

    monkeypatch.setattr(env.hub.blobs, "put", counting_put)
    facade = env.ctx().artifacts()
    tree = env.tmp / "tree"
    salt = uuid.uuid4().hex.encode()  # the hub is shared: contents unique to this test
    files = {
        "a.txt": salt + b"A" * 968,
        "b/c.txt": salt + b"C" * 1968,
        "b/d.txt": salt + b"D" * 2968,
    }
    for relative, data in files.items():
        _write(tree / relative, data)
    _write(tree / "copy-of-a.txt", files["a.txt"])  # same content twice in one directory

    first = await facade.ingest_dir(tree)
    manifest_one = await facade.load_json_by_id(first.id)
    assert len(manifest_one["files"]) == 4
    assert entry_id(manifest_one, "a.txt") == entry_id(manifest_one, "copy-of-a.txt")
    # 3 distinct contents + the manifest; a.txt's copy is not stored again.
    assert len(stored) == 4
    assert sum(info.size for info in stored) == 6000 + first.size_bytes

    stored.clear()
    _write(tree / "b/d.txt", salt + b"E" * 2968)  # one file changed
    second = await facade.ingest_dir(tree)
    assert len(stored) == 2  # the changed file and the new manifest, nothing else
    assert sum(info.size for info in stored) == 3000 + second.size_bytes
    manifest_two = await facade.load_json_by_id(second.id)
    assert entry_id(manifest_two, "a.txt") == entry_id(manifest_one, "a.txt")  # reused
    assert entry_id(manifest_two, "b/d.txt") != entry_id(manifest_one, "b/d.txt")

    # Materialised once, verified, from the cache the second time.
    local = Path(await facade.as_local_dir(second))
    downloads = facade.cache.downloads
    assert downloads == 3  # one per distinct content of the second manifest
    assert (local / "b" / "d.txt").read_bytes() == salt + b"E" * 2968
    assert await facade.as_local_dir(f"artifact://{second.id}") == str(local)
    assert facade.cache.downloads == downloads
    # The first version shares two of its contents with the cache.
    old = Path(await facade.as_local_dir(first))
    assert (old / "b" / "d.txt").read_bytes() == salt + b"D" * 2968
    assert facade.cache.downloads == downloads + 1


def entry_id(manifest: dict[str, Any], path: str) -> str:
    return next(f["artifact_id"] for f in manifest["files"] if f["path"] == path)


async def test_manifest_paths_cannot_leave_the_cache(env: Env) -> None:
    """A hand-written manifest naming ``../`` paths is refused before anything is written."""
    facade = env.ctx().artifacts()
    target = await facade.save_text("payload")
    # One forged manifest per binding and stack; every kind of bad path is in the unit tests.
    for evil in ("../escaped.txt",):
        manifest = {
            "format": "artifact-hub.dir-manifest/1",
            "files": [{"path": evil, "sha256": target.sha256, "size": 7, "artifact_id": target.id}],
        }
        forged = await facade.backend.push(
            json.dumps(manifest).encode(),
            name="forged",
            content_type=MANIFEST_CONTENT_TYPE,
            kind="directory",
            labels={},
            tags=(),
            metrics={},
            pinned=False,
            session_id=None,
            scope=Scope(),
        )
        with pytest.raises(InvalidRequestError):
            await facade.as_local_dir(forged)
    assert not (facade.cache.root / "dirs").exists()  # refused before any file was placed


# ----------------------------------------------------------------------------- 4. load


async def test_load_examples(env: Env, s3_server: Any, s3_settings: dict[str, Any]) -> None:
    context = env.make(**IDS, s3_options=s3_settings)
    facade: ArtifactFacade = context.artifacts()
    model = await facade.save_text("binary-ish", name="model.bin")

    data = await context.artifacts().load_bytes_by_id(model.id)
    assert data == b"binary-ish"
    try:
        data = await context.artifacts().load_bytes_by_id("art_456missing00000")
    except FileNotFoundError:
        print("Artifact not found.")
    else:
        pytest.fail("a missing artifact must raise FileNotFoundError")
    text = await context.artifacts().load_text_by_id(model.id)
    print(text)
    assert text == "binary-ish"

    utf16 = await facade.save_file(
        _write(env.tmp / "u16.txt", "héllo".encode("utf-16")), kind="text"
    )
    text = await context.artifacts().load_text_by_id(utf16.id, encoding="utf-16", errors="ignore")
    assert text == "héllo"
    with pytest.raises(UnicodeDecodeError):
        await facade.load_text_by_id(utf16.id)

    doc = await facade.save_json({"foo": 1})
    data = await context.artifacts().load_json_by_id(doc.id)
    print(data["foo"])
    assert data == {"foo": 1}
    utf16_json = await facade.save_file(
        _write(env.tmp / "j16.json", '{"foo": "bär"}'.encode("utf-16")), kind="json"
    )
    data = await context.artifacts().load_json_by_id(
        utf16_json.id, encoding="utf-16", errors="ignore"
    )
    assert data == {"foo": "bär"}
    with pytest.raises(json.JSONDecodeError):
        await facade.load_json_by_id(model.id)
    with pytest.raises(FileNotFoundError):
        await facade.load_json_by_id("art_456missing00000")
    deleted = await facade.save_text("gone")
    await _delete(env, context, deleted.id)
    with pytest.raises(FileNotFoundError):
        await facade.load_bytes_by_id(deleted.id)
    assert await facade.get_by_id(deleted.id) is None

    # By URI: file://, the hub's artifact:// (Artifact.uri), s3://.
    local = _write(env.tmp / "model.bin", b"\x00weights")
    assert await facade.load_bytes(f"file://{local}") == b"\x00weights"
    assert await facade.load_bytes(str(local)) == b"\x00weights"
    _write(env.tmp / "output.txt", "out")
    text = await context.artifacts().load_text(f"file://{env.tmp}/output.txt")
    assert text == "out"
    _write(env.tmp / "path/to/data.json", json.dumps({"a": [1]}))
    data = await context.artifacts().load_json(f"file://{env.tmp}/path/to/data.json")
    assert data == {"a": [1]}
    _write(env.tmp / "path/to/u16.json", json.dumps({"b": 2}).encode("utf-16"))
    data = await context.artifacts().load_json(
        f"file://{env.tmp}/path/to/u16.json", encoding="utf-16"
    )
    assert data == {"b": 2}
    assert await facade.load_text(model.uri or "") == "binary-ish"
    with pytest.raises(FileNotFoundError):
        await facade.load_bytes(f"file://{env.tmp}/missing.bin")
    with pytest.raises(json.JSONDecodeError):
        await facade.load_json(f"file://{local}")
    with pytest.raises(InvalidRequestError):
        await facade.load_bytes("ftp://example.com/x")

    bucket = s3_server.create_bucket()
    s3 = s3_server.client()
    s3.put_object(Bucket=bucket, Key="data.bin", Body=b"s3-bytes")
    s3.put_object(Bucket=bucket, Key="data.txt", Body="s3 text".encode("utf-16"))
    data = await context.artifacts().load_bytes(f"s3://{bucket}/data.bin")
    assert data == b"s3-bytes"
    text = await context.artifacts().load_text(f"s3://{bucket}/data.txt", encoding="utf-16")
    assert text == "s3 text"
    with pytest.raises(FileNotFoundError):
        await facade.load_bytes(f"s3://{bucket}/missing.bin")
    if env.binding == "in-process" and env.hub.settings.blob_store == "s3":
        # Without s3_options an embedded hub's own S3 settings are used.
        assert await env.ctx().artifacts().load_bytes(f"s3://{bucket}/data.bin") == b"s3-bytes"


async def _delete(env: Env, context: RunContext, artifact_id: str) -> None:
    if context.client is not None:
        await context.client.delete(artifact_id)
    else:
        assert context.caller is not None
        await env.hub.service.delete(context.caller, artifact_id)


async def test_hub_blob_storage_is_not_readable_by_uri(env: Env) -> None:
    """In-process, the hub's own blobs are read through artifacts (tenant checks), not paths."""
    facade = env.ctx().artifacts()
    secret = await facade.save_text("another tenant's secret")
    settings = env.hub.settings
    if env.binding == "remote":
        pytest.skip("a remote facade cannot reach the hub's storage at all")
    if settings.blob_store == "s3":
        uri = f"s3://{settings.s3_bucket}/{settings.s3_prefix}{secret.sha256}"
    else:
        blob = next(p for p in settings.resolved_blob_dir.rglob("*") if secret.sha256 in p.name)
        uri = f"file://{blob}"
    with pytest.raises(PermissionDeniedError):
        await facade.load_bytes(uri)


# ----------------------------------------------------------------------------- 5. helpers


async def test_local_path_examples(env: Env, s3_server: Any, s3_settings: dict[str, Any]) -> None:
    context = env.make(**IDS, s3_options=s3_settings)
    facade = context.artifacts()
    data_csv = _write(env.tmp / "data.csv", "a\n")
    local_path = await context.artifacts().as_local_file(str(data_csv))
    assert local_path == str(data_csv)
    with pytest.raises(FileNotFoundError):
        await facade.as_local_file(str(env.tmp / "missing.csv"))
    assert await facade.as_local_file(str(env.tmp / "missing.csv"), must_exist=False)

    artifact = await facade.save_text("col\n1\n", name="table.csv")
    local_path = await context.artifacts().as_local_file(artifact)
    assert Path(local_path).read_text() == "col\n1\n" and local_path.endswith("table.csv")
    assert facade.cache.downloads == 1
    assert await facade.as_local_file(artifact) == local_path  # cached: no second download
    assert await facade.as_local_file(f"artifact://{artifact.id}") == local_path
    assert facade.cache.downloads == 1
    with pytest.raises(FileNotFoundError):
        await facade.as_local_file("artifact://art_missingmissing00")
    # A new version: the Artifact held still means its own version; the URI means the latest.
    if context.client is not None:
        await context.client.push_version(artifact.id, b"col\n2\n")
    else:
        assert context.caller is not None
        await env.hub.service.add_version(context.caller, artifact.id, b"col\n2\n")
    assert Path(await facade.as_local_file(artifact)).read_text() == "col\n1\n"
    latest = await facade.as_local_file(f"artifact://{artifact.id}")
    assert Path(latest).read_text() == "col\n2\n" and facade.cache.downloads == 2

    bucket = s3_server.create_bucket()
    s3 = s3_server.client()
    s3.put_object(Bucket=bucket, Key="key.csv", Body=b"k,v\n")
    s3.put_object(Bucket=bucket, Key="data_dir/x.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="data_dir/deep/y.txt", Body=b"y")
    local_path = await context.artifacts().as_local_file(f"s3://{bucket}/key.csv")
    assert Path(local_path).read_bytes() == b"k,v\n" and local_path.endswith("key.csv")
    assert await facade.as_local_file(f"s3://{bucket}/key.csv") == local_path

    output_dir = env.tmp / "output_dir"
    output_dir.mkdir()
    local_dir = await context.artifacts().as_local_dir(f"file://{output_dir}")
    print(local_dir)
    assert local_dir == str(output_dir)
    try:
        local_dir = await context.artifacts().as_local_dir(f"s3://{bucket}/no_such_dir")
    except FileNotFoundError:
        print("Directory not found.")
    else:
        pytest.fail("a missing S3 prefix must raise FileNotFoundError")
    local_dir = await context.artifacts().as_local_dir(f"s3://{bucket}/data_dir")
    assert (Path(local_dir) / "deep" / "y.txt").read_bytes() == b"y"
    assert (Path(local_dir) / "x.txt").read_bytes() == b"x"
    with pytest.raises(FileNotFoundError):
        await facade.as_local_dir(str(env.tmp / "nothing"))
    with pytest.raises(FileNotFoundError):
        await facade.as_local_dir(artifact)  # a file artifact is not a directory

    folder = _write(env.tmp / "d" / "f.txt", "f").parent
    directory = await facade.ingest_dir(folder)
    with pytest.raises(FileNotFoundError):
        await facade.as_local_file(directory)  # a directory artifact is not a file


# ----------------------------------------------------------------------------- 2. search/best


async def test_search_and_best_examples(env: Env) -> None:
    """search/best go through the hub's SearchService (in-process) or GET /v1/search."""
    context = env.ctx()
    facade = context.artifacts()
    weekly = await facade.save_text(
        "weekly sales report", kind="report", tags=["weekly"], name="weekly.txt"
    )
    await facade.save_text("monthly report", kind="report", tags=["monthly"])
    elsewhere = (
        await env.ctx(run_id="run_2")
        .artifacts()
        .save_text("weekly report of another run", kind="report", tags=["weekly"])
    )
    other_node = (
        await env.ctx(node_id="n_eval")
        .artifacts()
        .save_text("weekly report of another node", kind="report", tags=["weekly"])
    )
    f1_model = await facade.save_text(
        "classifier model card: f1 0.91, the highest f1 of the sweep",
        kind="model",
        name="model_card.txt",
        metrics={"accuracy": 0.90, "f1_score": 0.91},
        labels={"domain": "finance"},
    )
    await facade.save_text(
        "banana bread recipe with walnuts",
        kind="model",
        metrics={"accuracy": 0.95, "f1_score": 0.70},
        labels={"domain": "retail"},
    )
    await facade.save_text(
        "a model kept from an older run", kind="model", metrics={"accuracy": 0.99}
    )
    await facade.save_json({"rows": 10}, kind="dataset", metrics={"loss": 0.30})
    low_loss = await facade.save_json({"rows": 20}, kind="dataset", metrics={"loss": 0.10})
    await (
        env.ctx(run_id="run_2")
        .artifacts()
        .save_json({"rows": 30}, kind="dataset", metrics={"loss": 0.01})
    )

    rows = await context.artifacts().search(kind="report", tags=["weekly"])
    assert {r.id for r in rows} == {weekly.id, other_node.id}  # this run; any node
    assert rows[0].uri == f"artifact://{rows[0].id}"
    rows = await facade.search(kind="report", tags=["weekly"], include_node=True)
    assert [r.id for r in rows] == [weekly.id]
    rows = await facade.search(kind="report", tags=["weekly"], level="session")
    assert {r.id for r in rows} == {weekly.id, other_node.id, elsewhere.id}
    rows = await facade.search(
        kind="report", tags=["weekly"], level="session", extra_scope_labels={"run_id": "run_2"}
    )
    assert [r.id for r in rows] == [elsewhere.id]
    rows = await facade.search(kind="model", labels={"domain": "finance"}, time_window="1h")
    assert [r.id for r in rows] == [f1_model.id]
    rows = await facade.search(kind="model", metric="f1_score", metric_mode="min")
    assert [r.metrics["f1_score"] for r in rows] == [0.70, 0.91]

    rows = await context.artifacts().search(
        query="model with highest f1",
        mode="semantic",
        limit=10,
    )
    assert rows and rows[0].id == f1_model.id
    assert all(r.labels.get("run_id") == "run_1" for r in rows)  # scoped like the rest
    rows = await facade.search(query="banana walnuts", mode="lexical")
    assert rows[0].labels.get("domain") == "retail"
    with pytest.raises(InvalidRequestError):
        await facade.search(mode="semantic")  # a semantic search needs a query

    best_model = await context.artifacts().best(kind="model", metric="accuracy", metric_mode="max")
    assert best_model is not None and best_model.metrics["accuracy"] == 0.99
    best_dataset = await context.artifacts().best(
        kind="dataset", metric="loss", metric_mode="min", level="run"
    )
    assert best_dataset is not None and best_dataset.id == low_loss.id  # run_2's 0.01 is out
    session_best = await facade.best(
        kind="dataset", metric="loss", metric_mode="min", level="session"
    )
    assert session_best is not None and session_best.metrics["loss"] == 0.01
    best_artifact = await context.artifacts().best(
        kind="model",
        metric="f1_score",
        metric_mode="max",
        filters={"domain": "finance"},
    )
    assert best_artifact is not None and best_artifact.id == f1_model.id
    assert await facade.best(kind="model", metric="latency", metric_mode="min") is None


@pytest.mark.parametrize("binding", ["in-process", "remote"])
async def test_directory_files_live_as_long_as_their_manifest(binding: str, tmp_path: Path) -> None:
    """With a default TTL, no file of a directory expires before its manifest."""
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        default_ttl_seconds=3600,
        signing_secret="facade-tests-signing-secret",
        sweep_enabled=False,
    )
    async with bootstrap(settings) as hub:
        await hub.accounts.create_tenant("ttl", plan="enterprise")
        _, key = await hub.accounts.create_key("ttl", "alice")
        async with contextlib.AsyncExitStack() as stack:
            if binding == "remote":
                transport = httpx.ASGITransport(app=create_app(hub))
                client = await stack.enter_async_context(
                    AsyncClient(api_key=key, base_url="http://hub", transport=transport)
                )
                context = RunContext(**IDS, client=client, cache_dir=tmp_path / "cache")
            else:
                caller = Caller(tenant_id="ttl", agent_id="alice")
                context = RunContext(**IDS, hub=hub, caller=caller, cache_dir=tmp_path / "cache")
            facade = context.artifacts()
            tree = _write(tmp_path / "tree" / "a.txt", "a").parent
            _write(tree / "b.txt", "b")
            first = await facade.ingest_dir(tree)
            second = await facade.ingest_dir(tree)  # reuses both files, later deadline
            for manifest in (first, second):
                assert manifest.expires_at is not None
                for entry in (await facade.load_json_by_id(manifest.id))["files"]:
                    stored = await facade.get_by_id(entry["artifact_id"])
                    assert stored is not None and stored.expires_at is not None
                    assert stored.expires_at >= manifest.expires_at

            pinned = await facade.ingest_dir(tree, pin=True)
            files = (await facade.load_json_by_id(pinned.id))["files"]
            assert pinned.pinned
            for entry in files:
                stored = await facade.get_by_id(entry["artifact_id"])
                assert stored is not None and stored.pinned


async def test_a_file_changed_while_ingesting_is_refused(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub checks each file against the hash the manifest will name; nothing is saved."""
    from artifact_hub.facade import facade as facade_module

    tree = _write(env.tmp / "tree" / "a.txt", "before").parent
    real_scan = facade_module.scan_directory

    def scan_then_change(root: Path) -> list[Any]:
        found = real_scan(root)
        _write(tree / "a.txt", "after!")  # changed between hashing and uploading
        return found

    monkeypatch.setattr(facade_module, "scan_directory", scan_then_change)
    facade = env.ctx().artifacts()
    with pytest.raises(ChecksumMismatchError):
        await facade.ingest_dir(tree)
    assert await facade.backend.list() == []  # no manifest, no file entry: nothing at all
