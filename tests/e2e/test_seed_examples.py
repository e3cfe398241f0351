"""Every SDK code example of the seeds, run against a live ``artifact-hub serve``.

The examples of ``seeds/artifacta-python-sdk.txt`` (``Client``), ``artifact-hub-overview.txt``
and ``artifact-hub-file-sharing-guide.txt`` (``AcentaClient``/``client.artifact``) are copied
as closely as Python allows: the module is ``artifact_hub``, placeholder ids (``art_xxx``) are
real ids, and files the examples assume exist are written first. Deviations are commented.

The hub runs as a subprocess on loopback, once per module and stack: the local blob store with
SQLite, and S3 with PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from artifact_hub import (
    AcentaClient,
    ArtifactDeletedError,
    ArtifactExpiredError,
    ArtifactNotFoundError,
    Client,
    QuotaExceededError,
    RateLimitedError,
    SessionSealedError,
)

CLI = str(Path(sys.executable).parent / "artifact-hub")
AGENT = "earnings_bot"


@dataclass
class LiveHub:
    url: str
    key: str
    other_key: str
    """A key of ``agent-a`` in the same tenant, to see what is shared with it."""
    stack: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"artifact-hub {' '.join(args)}: {result.stderr}"
    return result.stdout.strip().splitlines()[-1]


def _stack_env(request: pytest.FixtureRequest, stack: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")}
    # The MiniLM model would take ~13 s of CPU to load per hub; search has its own tests.
    env["ARTIFACT_HUB_SEARCH_EMBEDDER"] = "hashing"
    env["ARTIFACT_HUB_DATA_DIR"] = str(data_dir)
    env["ARTIFACT_HUB_SIGNING_SECRET"] = secrets.token_hex(32)
    if stack == "s3-postgres":
        postgres = request.getfixturevalue("postgres_server")
        s3_server = request.getfixturevalue("s3_server")
        s3: dict[str, Any] = request.getfixturevalue("s3_settings")
        database = postgres.create_database()
        request.addfinalizer(lambda: postgres.drop_database(database))
        env |= {
            "ARTIFACT_HUB_DATABASE_URL": postgres.url(database),
            "ARTIFACT_HUB_BLOB_STORE": "s3",
            # one bucket for the module's server (the s3_bucket fixture is per test)
            "ARTIFACT_HUB_S3_BUCKET": s3_server.create_bucket(),
            "ARTIFACT_HUB_S3_ENDPOINT_URL": s3["endpoint_url"],
            "ARTIFACT_HUB_S3_REGION": s3["region_name"],
            "ARTIFACT_HUB_S3_ACCESS_KEY_ID": s3["aws_access_key_id"],
            "ARTIFACT_HUB_S3_SECRET_ACCESS_KEY": s3["aws_secret_access_key"],
        }
    return env


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("local-sqlite"),
        pytest.param("s3-postgres", marks=[pytest.mark.s3, pytest.mark.postgres]),
    ],
)
def live_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveHub]:
    stack: str = request.param
    data_dir = tmp_path_factory.mktemp(f"hub-{stack}")
    env = _stack_env(request, stack, data_dir)
    _cli(env, "admin", "create-tenant", "acme", "--plan", "enterprise")
    key = _cli(env, "admin", "create-key", "--tenant", "acme", "--agent", AGENT)
    other = _cli(
        env,
        "admin",
        "create-key",
        "--tenant",
        "acme",
        "--agent",
        "agent-a",
        "--group",
        "data-science-team",
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env |= {"ARTIFACT_HUB_PUBLIC_URL": url}
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        [CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"serve did not start:\n{(data_dir / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield LiveHub(url=url, key=key, other_key=other, stack=stack)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def sdk_env(
    live_hub: LiveHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveHub]:
    """The environment an agent runs in: key and URL in env, cwd a scratch folder."""
    for name in list(os.environ):
        if name.startswith("ARTIFACT_HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARTIFACT_HUB_API_KEY", live_hub.key)
    monkeypatch.setenv("ARTIFACT_HUB_URL", live_hub.url)
    monkeypatch.chdir(tmp_path)
    yield live_hub


@pytest.fixture
async def acenta(sdk_env: LiveHub) -> Any:
    client = AcentaClient(api_key=sdk_env.key)
    yield client
    await client.aclose()


async def _fetch(url: str) -> httpx.Response:
    """GET a URL without the API key, as an external system would.

    Redirects are followed: on S3 a download URL longer than the store's cap is the hub's,
    which answers 307 to a short presigned GET once it has checked the artifact.
    """
    async with httpx.AsyncClient(follow_redirects=True) as http:
        return await http.get(url)


def _pdf(path: str = "report.pdf", size: int = 250_880) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"%PDF-1.7\n" + os.urandom(size - 9))
    return target


# =============================================================== artifacta-python-sdk.txt


def test_sdk_initialize_the_client(sdk_env: LiveHub) -> None:
    # Option 1: Auto-detect from environment or config file
    client = Client()
    assert client.whoami().agent_id == AGENT

    # Option 2: Explicit API key
    client = Client(api_key="ak_live_abc123")
    assert client.config.api_key == "ak_live_abc123"

    # Option 3: Custom base URL
    client = Client(base_url="https://api.artifacta.dev")
    assert client.base_url == "https://api.artifacta.dev"


def test_sdk_zero_config_for_agents(sdk_env: LiveHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_HUB_SESSION_ID", "ses_zero_config")
    monkeypatch.setenv("ARTIFACT_HUB_AGENT_ID", AGENT)
    client = Client()
    artifact = client.push(b"inherits the session", filename="note.txt")
    assert artifact.session_id == "ses_zero_config"
    assert [a.id for a in client.list()] == [artifact.id]  # list() defaults to it too


def test_sdk_quick_example(sdk_env: LiveHub, capsys: pytest.CaptureFixture[str]) -> None:
    _pdf()
    client = Client()

    # Push a file
    artifact = client.push(
        "report.pdf",
        session_id="run_q4",
        agent_id="earnings_bot",
        metadata={"model": "claude-sonnet-4-6"},
    )
    print(artifact.id)  # art_2xk9f7v3m1p0
    print(artifact.size_bytes)  # 250880
    assert artifact.id.startswith("art_") and artifact.size_bytes == 250880
    pdf_id = artifact.id

    # Push structured data
    artifact = client.push_dict(
        {"results": [1, 2, 3], "score": 0.95}, filename="results.json", session_id="run_q4"
    )

    # Pull to disk
    client.pull(artifact.id, output="./downloads/")
    assert Path("downloads/results.json").exists()

    # Pull as bytes (no disk I/O)
    content = client.pull_bytes(artifact.id)
    assert b'"score"' in content

    # Pull as dict
    data = client.pull_dict(artifact.id)
    assert data == {"results": [1, 2, 3], "score": 0.95}

    # List with filters
    for a in client.list(session_id="run_q4", metadata={"model": "claude-sonnet-4-6"}):
        print(f"{a.id}: {a.filename}")
    out = capsys.readouterr().out
    assert f"{pdf_id}: report.pdf" in out and "results.json" not in out

    # Create a shareable link
    link = client.create_link(artifact.id, expires_in=86400)
    print(link.url)  # https://dl.artifacta.dev/lnk_xxx
    assert httpx.get(link.url).json() == data  # the link works without the key

    # Seal a session
    client.seal_session("run_q4")
    assert client.get_session("run_q4").sealed


def test_sdk_error_handling(sdk_env: LiveHub, capsys: pytest.CaptureFixture[str]) -> None:
    Path("output.json").write_text("{}")
    client = Client()
    client.push_dict({}, filename="first.json", session_id="run_42")
    client.seal_session("run_42")

    try:
        artifact = client.push("output.json", session_id="run_42")
    except SessionSealedError:
        print("Session is finalized — use a new session")
    except QuotaExceededError:
        print("Storage or request limit reached — delete artifacts or upgrade")
    except RateLimitedError as e:
        print(f"Throttled — retry in {e.retry_after_seconds}s")
    else:  # pragma: no cover
        pytest.fail(f"pushed into a sealed session: {artifact}")
    assert "Session is finalized" in capsys.readouterr().out


def test_sdk_methods_at_a_glance(sdk_env: LiveHub) -> None:
    client = Client()
    session = Client.session_new()
    assert session.startswith("ses_")
    me = client.whoami()
    assert me.agent_id == AGENT and me.tenant_id == "acme"
    artifact = client.push(b"x" * 10, filename="glance.bin", session_id=session, ttl=3600)
    assert client.get(artifact.id).filename == "glance.bin"
    longer = client.extend_ttl(artifact.id, 7 * 86400)
    assert longer.expires_at is not None and artifact.expires_at is not None
    assert longer.expires_at > artifact.expires_at
    assert client.extend_ttl(artifact.id, "never").expires_at is None
    assert client.delete(artifact.id).deleted
    with pytest.raises((ArtifactDeletedError, ArtifactNotFoundError, ArtifactExpiredError)):
        client.pull_bytes(artifact.id)
    with pytest.raises(ArtifactDeletedError):
        client.delete(artifact.id)


# ========================================= artifact-hub-overview.txt (Acenta, async namespace)


async def test_overview_upload_a_file(acenta: AcentaClient) -> None:
    client = acenta
    pdf_bytes = _pdf().read_bytes()
    # Upload from bytes
    artifact = await client.artifact.create(
        name="report.pdf",
        content_type="application/pdf",
        data=pdf_bytes,
        metadata={"author": "document-agent", "category": "quarterly-reports"},
    )
    print(f"Created artifact: {artifact.id}")
    assert artifact.content_type == "application/pdf"
    assert artifact.metadata == {"author": "document-agent", "category": "quarterly-reports"}


async def test_overview_upload_from_path_and_snippet(acenta: AcentaClient) -> None:
    client = acenta
    _pdf("path/to/large-file.zip", size=3_000_000)
    artifact = await client.artifact.upload_file(
        path="path/to/large-file.zip",  # the seed's /path/to/..., under the test's folder
        name="backup.zip",
        metadata={"backup_date": "2026-01-02"},
    )
    assert artifact.name == "backup.zip" and artifact.size_bytes == 3_000_000

    # Store small JSON data as a snippet
    artifact = await client.artifact.create_snippet(
        name="config.json",
        content={"model": "gpt-4", "temperature": 0.7},
        metadata={"version": "1.0"},
    )
    assert artifact.content_type == "application/json"


async def test_overview_retrieve_metadata_and_signed_url(
    acenta: AcentaClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = acenta
    pdf = _pdf()
    art_xxx = (await client.artifact.create(name="report.pdf", data=pdf.read_bytes())).id
    # Download to memory
    data = await client.artifact.download(artifact_id=art_xxx)
    assert data == pdf.read_bytes()
    # Download to file
    await client.artifact.download_file(artifact_id=art_xxx, path="path/to/output.pdf")
    assert Path("path/to/output.pdf").read_bytes() == data

    artifact = await client.artifact.get(artifact_id=art_xxx)
    print(f"Name: {artifact.name}")
    print(f"Size: {artifact.size_bytes}")
    print(f"Created: {artifact.created_at}")
    assert f"Size: {len(data)}" in capsys.readouterr().out

    # Get a signed download URL (valid for 1 hour)
    url = await client.artifact.get_signed_url(artifact_id=art_xxx, expires_in=3600)
    print(f"Download URL: {url}")
    assert (await _fetch(url)).content == data  # no API key needed


async def test_overview_versioning(acenta: AcentaClient) -> None:
    client = acenta
    model_bytes_v1, model_bytes_v2 = b"weights v1", b"weights v2, longer"
    # Create initial version
    artifact = await client.artifact.create(name="model.pt", data=model_bytes_v1)
    # Update creates a new version
    artifact = await client.artifact.update(artifact_id=artifact.id, data=model_bytes_v2)
    assert artifact.version == 2
    # List all versions
    versions = await client.artifact.list_versions(artifact_id=artifact.id)
    for v in versions:
        print(f"Version {v.version}: {v.created_at}")
    assert [v.version for v in versions] == [1, 2]
    # Download specific version
    data = await client.artifact.download(artifact_id=artifact.id, version=1)
    assert data == model_bytes_v1
    assert await client.artifact.download(artifact_id=artifact.id) == model_bytes_v2


async def test_overview_sharing(acenta: AcentaClient, sdk_env: LiveHub) -> None:
    client = acenta
    art_xxx = (await client.artifact.create(name="shared.txt", data=b"for the team")).id
    await client.artifact.share(artifact_id=art_xxx, with_agents=["agent-a", "agent-b"])
    await client.artifact.share(artifact_id=art_xxx, with_groups=["data-team", "ml-team"])
    access = await client.artifact.get_access(artifact_id=art_xxx)
    assert sorted(access.agents) == ["agent-a", "agent-b"]
    assert sorted(access.groups) == ["data-team", "ml-team"]
    await client.artifact.unshare(artifact_id=art_xxx, agents=["agent-a"])
    assert (await client.artifact.get_access(artifact_id=art_xxx)).agents == ["agent-b"]


async def test_overview_listing_and_deleting(acenta: AcentaClient) -> None:
    client = acenta
    tagged = await client.artifact.create(
        name="q.txt", data=b"q", metadata={"category": "quarterly-reports"}
    )
    # List all artifacts in namespace
    artifacts = await client.artifact.list()
    assert tagged.id in [a.id for a in artifacts]
    # Filter by metadata
    artifacts = await client.artifact.list(metadata_filter={"category": "quarterly-reports"})
    assert tagged.id in [a.id for a in artifacts]
    assert all(a.metadata.get("category") == "quarterly-reports" for a in artifacts)
    # List artifacts shared with you
    artifacts = await client.artifact.list_shared()
    assert all(a.owner != AGENT for a in artifacts)

    art_xxx = tagged.id
    await client.artifact.update(artifact_id=art_xxx, data=b"q2")
    # Delete specific version
    await client.artifact.delete_version(artifact_id=art_xxx, version=1)
    assert [v.version for v in await client.artifact.list_versions(artifact_id=art_xxx)] == [2]
    # Delete an artifact (all versions)
    await client.artifact.delete(artifact_id=art_xxx)
    with pytest.raises((ArtifactDeletedError, ArtifactNotFoundError)):
        await client.artifact.download(artifact_id=art_xxx)


# =================================== artifact-hub-file-sharing-guide.txt (AcentaClient)


async def test_guide_upload_from_bytes(sdk_env: LiveHub) -> None:
    _pdf()
    client = AcentaClient(api_key=sdk_env.key)
    # Upload from bytes
    with open("report.pdf", "rb") as f:  # noqa: ASYNC230 (the guide's code)
        data = f.read()
    artifact = await client.artifact.create(
        name="quarterly-report.pdf",
        content_type="application/pdf",
        data=data,
        metadata={"quarter": "Q4", "year": 2025, "department": "engineering"},
    )
    print(f"Created: {artifact.id}")
    assert artifact.metadata["year"] == 2025

    _pdf("path/to/large-file.zip", size=1_000_000)
    artifact = await client.artifact.upload_file(
        path="path/to/large-file.zip", name="backup.zip", metadata={"type": "backup"}
    )
    assert artifact.size_bytes == 1_000_000
    artifact = await client.artifact.create_snippet(
        name="config.json", content={"model": "gpt-4", "temperature": 0.7, "max_tokens": 2000}
    )
    assert artifact.name == "config.json"
    await client.aclose()


async def test_guide_download_get_and_signed_url(
    acenta: AcentaClient, sdk_env: LiveHub, capsys: pytest.CaptureFixture[str]
) -> None:
    client = acenta
    art_xxx = (await client.artifact.create_snippet(name="input.json", content=[1, 2, 3])).id

    def process(data: bytes) -> int:
        return len(data)

    data = await client.artifact.download(artifact_id=art_xxx)
    # Process the data
    result = process(data)
    assert result == len(b"[1, 2, 3]")
    await client.artifact.download_file(artifact_id=art_xxx, path="path/to/output.pdf")
    assert Path("path/to/output.pdf").read_bytes() == data

    artifact = await client.artifact.get(artifact_id=art_xxx)
    print(f"Name: {artifact.name}")
    print(f"Size: {artifact.size_bytes}")
    print(f"Type: {artifact.content_type}")
    print(f"Created: {artifact.created_at}")
    assert "Type: application/json" in capsys.readouterr().out

    # Get download URL (valid for 1 hour by default)
    url = await client.artifact.get_signed_url(artifact_id=art_xxx, expires_in=3600)
    # Use in external systems
    print(f"Download URL: {url}")
    assert (await _fetch(url)).content == data
    if sdk_env.stack == "local-sqlite":  # moto's S3 server does not check signatures
        assert (await _fetch(url + "0")).status_code == 403  # altered URL


async def test_guide_presigned_upload(acenta: AcentaClient) -> None:
    client = acenta
    Path("large-file.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    size = Path("large-file.bin").stat().st_size
    upload = await client.artifact.get_upload_url(
        name="large-file.bin",
        content_type="application/octet-stream",
        size_bytes=size,  # the guide says 1073741824 (1 GB); the real size keeps the test fast
    )
    # Upload directly to the URL
    async with httpx.AsyncClient() as http:
        with open("large-file.bin", "rb") as f:  # noqa: ASYNC230 (the guide's code)
            # The guide passes the file object (``content=f``); httpx.AsyncClient refuses sync
            # iterables ("Attempted to send an sync request with an AsyncClient instance"), so
            # the bytes are read first. Nothing our SDK can change.
            response = await http.put(upload.url, content=f.read(), headers=upload.headers)
            assert response.status_code < 300, response.text
    # Confirm upload
    artifact = await client.artifact.confirm_upload(upload.id)
    assert artifact.size_bytes == size and artifact.name == "large-file.bin"
    assert await client.artifact.download(artifact.id) == Path("large-file.bin").read_bytes()


async def test_guide_versioning(acenta: AcentaClient) -> None:
    client = acenta
    model_v1_bytes, model_v2_bytes = b"v1" * 100, b"v2" * 150
    # Original version
    artifact = await client.artifact.create(name="model.pt", data=model_v1_bytes)
    # Update creates a new version
    artifact = await client.artifact.update(
        artifact_id=artifact.id, data=model_v2_bytes, metadata={"version": "2.0"}
    )
    assert artifact.version == 2 and artifact.metadata == {"version": "2.0"}
    versions = await client.artifact.list_versions(artifact_id=artifact.id)
    for v in versions:
        print(f"Version {v.version}")
        print(f" Created: {v.created_at}")
        print(f" Size: {v.size_bytes}")
    assert [v.size_bytes for v in versions] == [200, 300]
    data = await client.artifact.download(
        artifact_id=artifact.id,
        version=1,  # Get version 1
    )
    assert data == model_v1_bytes


async def test_guide_sharing_and_access(
    acenta: AcentaClient, sdk_env: LiveHub, capsys: pytest.CaptureFixture[str]
) -> None:
    client = acenta
    art_xxx = (await client.artifact.create(name="team.csv", data=b"a,b\n1,2\n")).id
    await client.artifact.share(artifact_id=art_xxx, with_agents=["agent-a", "agent-b", "agent-c"])
    await client.artifact.share(artifact_id=art_xxx, with_groups=["data-science-team", "ml-team"])
    access = await client.artifact.get_access(artifact_id=art_xxx)
    print(f"Shared with agents: {access.agents}")
    print(f"Shared with groups: {access.groups}")
    assert sorted(access.agents) == ["agent-a", "agent-b", "agent-c"]

    # agent-a sees it among what is shared with it, with the owner
    other = AcentaClient(api_key=sdk_env.other_key)
    shared = await other.artifact.list_shared()
    for a in shared:
        print(f"{a.name} (from {a.owner})")
    assert "team.csv (from earnings_bot)" in capsys.readouterr().out
    assert await other.artifact.download(art_xxx) == b"a,b\n1,2\n"

    await client.artifact.unshare(
        artifact_id=art_xxx, agents=["agent-a"], groups=["data-science-team"]
    )
    access = await client.artifact.get_access(artifact_id=art_xxx)
    assert sorted(access.agents) == ["agent-b", "agent-c"] and access.groups == ["ml-team"]
    assert art_xxx not in [a.id for a in await other.artifact.list_shared()]
    await other.aclose()


async def test_guide_listing(acenta: AcentaClient, capsys: pytest.CaptureFixture[str]) -> None:
    client = acenta
    session = AcentaClient.session_new()  # keeps this test's artifacts apart
    for n in range(25):
        await client.artifact.create(
            name=f"doc{n}.pdf" if n % 2 else f"doc{n}.txt",
            data=b"x",
            metadata={"department": "engineering" if n < 5 else "sales"},
            session_id=session,
        )
    artifacts = await client.artifact.list(session_id=session)
    for a in artifacts:
        print(f"{a.id}: {a.name} ({a.size_bytes} bytes)")
    assert len(artifacts) == 25 and "(1 bytes)" in capsys.readouterr().out
    # Filter by metadata
    artifacts = await client.artifact.list(
        metadata_filter={"department": "engineering"}, session_id=session
    )
    assert len(artifacts) == 5
    # Filter by content type
    artifacts = await client.artifact.list(content_type="application/pdf", session_id=session)
    assert len(artifacts) == 12
    # Pagination
    artifacts = await client.artifact.list(limit=10, offset=20, session_id=session)
    assert len(artifacts) == 5
    everything = await client.artifact.list(session_id=session)
    assert [a.id for a in artifacts] == [a.id for a in everything[20:]]


async def test_guide_deleting(acenta: AcentaClient) -> None:
    client = acenta
    art_xxx = (await client.artifact.create(name="old.txt", data=b"1")).id
    await client.artifact.update(artifact_id=art_xxx, data=b"2")
    await client.artifact.delete_version(artifact_id=art_xxx, version=1)
    await client.artifact.delete(artifact_id=art_xxx)
    with pytest.raises(ArtifactDeletedError):
        await client.artifact.delete(artifact_id=art_xxx)


# ====================================================== beyond the seeds: the SDK's own paths


def test_sdk_large_push_goes_through_presigned_flow_and_pull_verifies(sdk_env: LiveHub) -> None:
    source = Path("big.bin")
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    seen: list[tuple[int, int | None]] = []
    with Client(presigned_threshold=1024 * 1024) as client:
        artifact = client.push(
            source, session_id=Client.session_new(), progress=lambda d, t: seen.append((d, t))
        )
        assert artifact.size_bytes == source.stat().st_size
        assert seen[-1] == (source.stat().st_size, source.stat().st_size)
        target = client.pull(artifact.id, output="out/")
        assert target == Path("out/big.bin") and target.read_bytes() == source.read_bytes()
        assert [p.name for p in Path("out").iterdir()] == ["big.bin"]


async def test_async_client_list_follows_cursors_on_the_live_hub(sdk_env: LiveHub) -> None:
    from artifact_hub import AsyncClient

    session = AsyncClient.session_new()
    async with AsyncClient(session_id=session) as client:
        ids = [(await client.push(f"{n}".encode(), filename=f"{n}.txt")).id for n in range(7)]
        listed = [a.id async for a in client.list(page_size=3)]
        assert listed == ids[::-1]
        page = await client.list_page(limit=3)
        assert len(page.data) == 3 and page.next_cursor
