"""The facade's parts that need no hub: context, scope levels, URIs, manifests, cache."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from artifact_hub.core.errors import ChecksumMismatchError, InvalidRequestError
from artifact_hub.facade.cache import DirEntry, LocalCache
from artifact_hub.facade.context import RunContext, default_cache_dir
from artifact_hub.facade.facade import _filename
from artifact_hub.facade.manifest import Manifest, ManifestEntry, safe_relative_path
from artifact_hub.facade.uris import parse_uri
from artifact_hub.schemas.identity import Caller

SHA = "a" * 64


def _context(**ids: str | None) -> RunContext:
    # A stand-in hub object: the context only stores it until artifacts() is called.
    return RunContext(**ids, hub=object(), caller=Caller(tenant_id="t"))  # type: ignore[arg-type]


def test_context_needs_exactly_one_binding() -> None:
    with pytest.raises(InvalidRequestError):
        RunContext(run_id="r")
    with pytest.raises(InvalidRequestError):
        RunContext(caller=Caller(tenant_id="t"))
    with pytest.raises(InvalidRequestError):
        RunContext(hub=object(), caller=Caller(tenant_id="t"), client=object())  # type: ignore[arg-type]


def test_scope_levels_nest_and_skip_missing_ids() -> None:
    ctx = _context(
        org_id="o", user_id="u", app_id="a", session_id="s", run_id="r", graph_id="g", node_id="n"
    )
    assert ctx.scope_labels() == {
        "org_id": "o",
        "user_id": "u",
        "app_id": "a",
        "session_id": "s",
        "run_id": "r",
        "graph_id": "g",
        "node_id": "n",
    }
    assert ctx.level_labels("org") == {"org_id": "o"}
    assert ctx.level_labels("user") == {"org_id": "o", "user_id": "u"}
    assert ctx.level_labels("scope") == {"org_id": "o", "user_id": "u", "app_id": "a"}
    assert ctx.level_labels("session") == {
        "org_id": "o",
        "user_id": "u",
        "app_id": "a",
        "session_id": "s",
    }
    run = ctx.level_labels(None)  # the default level is run
    assert run == {**ctx.level_labels("session"), "run_id": "r"}
    assert ctx.level_labels("run", include_graph=True) == {**run, "graph_id": "g"}
    assert ctx.level_labels("run", include_node=True) == {**run, "graph_id": "g", "node_id": "n"}
    # Without node ids a node-narrowed query is just the run's.
    assert _context(run_id="r").level_labels("run", include_node=True) == {"run_id": "r"}


@pytest.mark.parametrize(
    ("level", "missing"), [("run", "run_id"), ("session", "session_id"), ("user", "user_id")]
)
def test_a_level_without_its_id_is_refused(level: str, missing: str) -> None:
    ids = {"org_id": "o", "user_id": "u", "session_id": "s", "run_id": "r"}
    ids.pop(missing)
    with pytest.raises(InvalidRequestError, match=missing):
        _context(**ids).level_labels(level)  # type: ignore[arg-type]


def test_unknown_level() -> None:
    with pytest.raises(InvalidRequestError, match="unknown scope level"):
        _context(run_id="r").level_labels("planet")  # type: ignore[arg-type]


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARTIFACT_HUB_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ARTIFACT_HUB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "artifact-hub" / "facade"


@pytest.mark.parametrize(
    ("uri", "scheme", "where"),
    [
        ("file:///tmp/model.bin", "file", "/tmp/model.bin"),
        ("file://localhost/tmp/a%20b.txt", "file", "/tmp/a b.txt"),
        ("/tmp/data.csv", "file", "/tmp/data.csv"),
        ("relative/x.txt", "file", "relative/x.txt"),
        ("s3://bucket/data.bin", "s3", "bucket/data.bin"),
        ("s3://bucket/dir/", "s3", "bucket/dir/"),
        ("artifact://art_abc", "artifact", "art_abc"),
    ],
)
def test_parse_uri(uri: str, scheme: str, where: str) -> None:
    parsed = parse_uri(uri)
    assert parsed.scheme == scheme
    if scheme == "file":
        assert str(parsed.path) == where
    elif scheme == "s3":
        assert f"{parsed.bucket}/{parsed.key}" == where
    else:
        assert parsed.key == where


@pytest.mark.parametrize(
    "uri",
    ["http://x/y", "file://otherhost/etc/passwd", "s3:///key", "artifact://", "artifact://a/b"],
)
def test_parse_uri_refuses(uri: str) -> None:
    with pytest.raises(InvalidRequestError):
        parse_uri(uri)


def test_name_wins_over_suggested_uri() -> None:
    assert _filename("n.csv", "s3://b/dir/s.csv", "fallback") == "n.csv"
    assert _filename(None, "s3://b/dir/s.csv", "fallback") == "s.csv"
    assert _filename(None, "s3://bucket", "fallback") == "fallback"
    assert _filename(None, "reports/q4.pdf?x=1", "fallback") == "q4.pdf"
    assert _filename(None, None, "fallback") == "fallback"


@pytest.mark.parametrize("path", ["a.txt", "dir/sub/b.bin", "ünï/c0de.txt", "a..b/c"])
def test_safe_paths(path: str) -> None:
    assert safe_relative_path(path) == PurePosixPath(path)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a/./b",
        "a//b",
        "a/",
        "C:/x",
        "c:x",
        "a\\..\\b",
        "a\x00b",
    ],
)
def test_unsafe_paths(path: str) -> None:
    with pytest.raises(InvalidRequestError):
        safe_relative_path(path)


def test_manifest_refuses_duplicates_and_files_under_files() -> None:
    entry = {"sha256": SHA, "size": 1, "artifact_id": "art_x"}
    twice = Manifest(files=[ManifestEntry(path="a", **entry), ManifestEntry(path="a", **entry)])
    with pytest.raises(InvalidRequestError, match="twice"):
        twice.checked()
    nested = Manifest(files=[ManifestEntry(path="a", **entry), ManifestEntry(path="a/b", **entry)])
    with pytest.raises(InvalidRequestError, match="under another file"):
        nested.checked()
    fine = Manifest(files=[ManifestEntry(path="a/b", **entry), ManifestEntry(path="a/c", **entry)])
    assert fine.checked().total_bytes == 2


async def test_cache_verifies_and_fetches_once(tmp_path: Path) -> None:
    import hashlib

    cache = LocalCache(tmp_path)
    data = b"content"
    sha = hashlib.sha256(data).hexdigest()
    calls: list[Path] = []

    async def fetch(target: Path) -> None:
        calls.append(target)
        target.write_bytes(data)

    first = await cache.file(sha, "x.txt", sha, fetch)
    assert first.read_bytes() == data and first.name == "x.txt"
    assert await cache.file(sha, "x.txt", sha, fetch) == first
    other_name = await cache.file(sha, "y.txt", sha, fetch)  # same content: linked
    assert other_name.read_bytes() == data
    assert len(calls) == 1 and cache.downloads == 1

    async def corrupt(target: Path) -> None:
        target.write_bytes(b"tampered")

    with pytest.raises(ChecksumMismatchError):
        await cache.file("b" * 64, "z", "b" * 64, corrupt)
    assert not any((tmp_path / "blobs" / "bb").rglob("*.part-*"))
    assert not (tmp_path / "blobs" / "bb" / ("b" * 64) / "z").exists()


async def test_cache_directory_stays_inside(tmp_path: Path) -> None:
    """Defence in depth: even an unchecked path cannot place a file outside the directory."""
    cache = LocalCache(tmp_path / "cache")

    async def fetch(target: Path) -> None:
        target.write_bytes(b"x")

    evil = DirEntry(
        path=PurePosixPath("../../outside.txt"), cache_key="k", sha256=None, fetch=fetch
    )
    with pytest.raises(ValueError, match="leaves the directory"):
        await cache.directory("d", [evil])
    assert not (tmp_path / "outside.txt").exists()
    assert not (tmp_path / "cache" / "dirs" / "d").exists()


@pytest.mark.parametrize(
    ("value", "sent"),
    [("x", "x"), ("42", '"42"'), ("true", '"true"'), (42, "42"), (True, "true"), ([1], "[1]")],
)
def test_list_label_values_keep_their_type(value: object, sent: str) -> None:
    """``label.<k>=v`` is JSON-read by the server: strings that would parse go quoted."""
    from artifact_hub.client._base import _label_value

    assert _label_value(value) == sent
