"""Big files once: uploads are hashed while they stream and moved into place, never copied.

On the local store, the hub's presigned ``PUT`` writes the body (hashed) into the blob store's
own folder and ``complete`` hard-links that very file (same inode) under its hash; the direct
multipart ``POST`` streams to a temporary file beside the blobs and renames it. Whatever
happens (success, checksum mismatch, too large, a client that goes away mid-body), no
temporary or staged file is left behind.

On S3 a large presigned upload is a multipart upload the hub starts: the client PUTs each part
to its presigned URL (straight to the bucket, here moto), ``complete`` finishes it and adopts
the object with S3-side copies; the hub never reads the object (no ``GetObject``).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from artifact_hub import AsyncClient
from artifact_hub.adapters.storage import LocalBlobStore, S3BlobStore
from artifact_hub.api import create_app
from artifact_hub.plugin import Hub
from artifact_hub.schemas.identity import Caller

MiB = 1024 * 1024


class Api:
    def __init__(self, hub: Hub, client: httpx.AsyncClient, key: str) -> None:
        self.hub = hub
        self.http = client
        self.key = key
        self.caller = Caller(tenant_id="tenant-a", agent_id="alice")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def on_s3(self) -> bool:
        return self.hub.settings.blob_store == "s3"

    @property
    def local(self) -> LocalBlobStore:
        store = self.hub.service.blobs
        assert isinstance(store, LocalBlobStore)
        return store

    @property
    def s3(self) -> S3BlobStore:
        store = self.hub.service.blobs
        assert isinstance(store, S3BlobStore)
        return store

    async def upload_url(self, size: int, **body: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/v1/artifacts/upload-url",
            json={"filename": "big.bin", "size_bytes": size, **body},
            headers=self.auth,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def complete(self, upload_id: str) -> httpx.Response:
        return await self.http.post(f"/v1/artifacts/{upload_id}/complete", headers=self.auth)


@pytest.fixture
async def api(hub: Hub) -> AsyncIterator[Api]:
    await hub.accounts.create_tenant("tenant-a", plan="enterprise")
    _, key = await hub.accounts.create_key("tenant-a", "alice")
    transport = httpx.ASGITransport(app=create_app(hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(hub, client, key)


def _local_only(api: Api) -> None:
    if api.on_s3:
        pytest.skip("the local blob store's own files")


def _s3_only(api: Api) -> None:
    if not api.on_s3:
        pytest.skip("S3 presigned multipart uploads")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _leftovers(api: Api) -> list[Path]:
    """Files in the store's temporary and staging folders, and in the old staging folder."""
    root = api.local.root
    return (
        _files(root / "tmp")
        + _files(root / "staged")
        + _files(api.hub.settings.data_dir / "uploads")
    )


def _data(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    return (block * (size // len(block) + 1))[:size]


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _broken(data: bytes) -> AsyncIterator[bytes]:
    """Half the body, then the client goes away."""
    yield data[: len(data) // 2]
    raise ConnectionResetError("the client went away")


# ------------------------------------------------------------------------- local: presigned


async def test_complete_links_the_uploaded_file_without_reading_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_only(api)
    data = _data(3 * MiB + 17)
    digest = hashlib.sha256(data).hexdigest()
    upload = await api.upload_url(len(data), sha256=digest)
    put = await api.http.put(upload["url"], content=_chunks(data), headers=upload["headers"])
    assert put.status_code == 200, put.text
    assert put.json() == {"id": upload["id"], "size_bytes": len(data)}

    # Staged in the store's own folder, named by the hash computed while it streamed.
    staged = api.local.root / "staged" / upload["id"] / digest
    assert _files(api.local.root / "staged") == [staged]
    assert _files(api.local.root / "tmp") == []
    inode = staged.stat().st_ino

    # complete must neither read the bytes back nor write them again.
    opened: list[str] = []
    real_open = Path.open

    def spy_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self))
        return real_open(self, *args, **kwargs)

    async def no_put(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("complete wrote the bytes through BlobStore.put")

    monkeypatch.setattr(Path, "open", spy_open)
    monkeypatch.setattr(api.local, "put", no_put)
    done = await api.complete(upload["id"])
    monkeypatch.undo()
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == digest
    assert not [p for p in opened if upload["id"] in p or digest in p]

    blob = api.local.path_for(digest)
    assert blob.stat().st_ino == inode  # the uploaded file itself, moved into place
    assert blob.stat().st_nlink == 1  # and its staging name is gone
    assert _leftovers(api) == []
    artifact_id = done.json()["artifact_id"]
    assert await api.hub.service.pull_bytes(api.caller, artifact_id) == data


async def test_a_second_put_replaces_the_staged_bytes(api: Api) -> None:
    _local_only(api)
    first, second = _data(1000, 1), _data(1000, 2)
    upload = await api.upload_url(1000)
    assert (await api.http.put(upload["url"], content=first)).status_code == 200
    assert (await api.http.put(upload["url"], content=second)).status_code == 200
    assert _files(api.local.root / "staged") == [
        api.local.root / "staged" / upload["id"] / hashlib.sha256(second).hexdigest()
    ]
    done = await api.complete(upload["id"])
    assert done.json()["sha256"] == hashlib.sha256(second).hexdigest()
    assert _leftovers(api) == []


async def test_presigned_failures_leave_no_file(api: Api) -> None:
    _local_only(api)
    data = _data(2 * MiB)
    # A checksum mismatch at complete drops the staged bytes.
    wrong = await api.upload_url(len(data), sha256="0" * 64)
    assert (await api.http.put(wrong["url"], content=_chunks(data))).status_code == 200
    assert (await api.complete(wrong["id"])).status_code == 422
    assert _leftovers(api) == []
    assert _files(api.local.root / "blobs") == []

    # Too large, by Content-Length or by counting a chunked body.
    small = await api.upload_url(len(data) - 1)
    refused = await api.http.put(small["url"], content=data)
    assert refused.status_code == 413
    refused = await api.http.put(small["url"], content=_chunks(data))
    assert refused.status_code == 413
    assert _leftovers(api) == []

    # The client goes away in the middle of the body.
    gone = await api.upload_url(len(data))
    with pytest.raises(ConnectionResetError):
        await api.http.put(gone["url"], content=_broken(data))
    assert _leftovers(api) == []
    assert (await api.complete(gone["id"])).status_code == 400  # nothing was uploaded
    assert _files(api.local.root / "blobs") == []


async def test_a_failed_write_keeps_the_staged_bytes_for_a_retry(api: Api) -> None:
    _local_only(api)
    data = _data(5000)
    upload = await api.upload_url(len(data), session_id="ses_sealed_later")
    assert (await api.http.put(upload["url"], content=data)).status_code == 200
    await api.hub.service.seal_session(api.caller, "ses_sealed_later")
    assert (await api.complete(upload["id"])).status_code == 409
    # The write failed after the adoption: the blob it made is removed, the upload is not.
    assert _files(api.local.root / "blobs") == []
    assert await api.hub.uploads._staged_size(upload["id"]) == len(data)


# ---------------------------------------------------------------------- local: direct POST


async def test_direct_upload_streams_once_and_leaves_nothing(api: Api) -> None:
    _local_only(api)
    data = _data(3 * MiB)
    digest = hashlib.sha256(data).hexdigest()
    files = {"file": ("a.bin", data, "application/octet-stream")}
    response = await api.http.post(
        "/v1/artifacts", data={"sha256": digest}, files=files, headers=api.auth
    )
    assert response.status_code == 201, response.text
    assert _leftovers(api) == []
    assert _files(api.local.root / "blobs") == [api.local.path_for(digest)]


async def test_direct_upload_failures_leave_no_file(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_only(api)
    data = _data(2 * MiB)
    files = {"file": ("a.bin", data, "application/octet-stream")}
    mismatch = await api.http.post(
        "/v1/artifacts", data={"sha256": "0" * 64}, files=files, headers=api.auth
    )
    assert mismatch.status_code == 422
    assert _leftovers(api) == []

    monkeypatch.setattr("artifact_hub.api.ingest.MULTIPART_MAX_BYTES", MiB)
    monkeypatch.setattr("artifact_hub.api.ingest._FORM_OVERHEAD", 2 * MiB)  # read it first
    large = await api.http.post("/v1/artifacts", files=files, headers=api.auth)
    assert large.status_code == 413
    assert _leftovers(api) == []
    monkeypatch.undo()

    # A multipart body whose client goes away in the middle of the file part.
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    with pytest.raises(ConnectionResetError):
        await api.http.post(
            "/v1/artifacts",
            content=_broken(head + data),
            headers={**api.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert _leftovers(api) == []
    assert _files(api.local.root / "blobs") == []


# ------------------------------------------------------------------------ S3: multipart


@pytest.fixture
def small_parts(api: Api) -> Iterator[None]:
    uploads = api.hub.uploads
    saved = uploads.multipart_threshold, uploads.part_size
    uploads.multipart_threshold, uploads.part_size = 5 * MiB, 5 * MiB
    yield
    uploads.multipart_threshold, uploads.part_size = saved


class _S3Calls:
    """Counts the S3 operations the hub's boto3 client makes."""

    def __init__(self, store: S3BlobStore) -> None:
        self.names: list[str] = []
        store.client.meta.events.register("before-call.s3", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


async def _put_parts(upload: dict[str, Any], data: bytes) -> None:
    async with httpx.AsyncClient() as outside:  # straight to the bucket, not the hub
        for part in upload["parts"]:
            chunk = data[part["offset"] : part["offset"] + part["size"]]
            response = await outside.put(part["url"], content=chunk)
            assert response.status_code == 200, response.text


async def test_s3_multipart_presigned_upload_end_to_end(api: Api, small_parts: None) -> None:
    _s3_only(api)
    data = _data(12 * MiB + 3)
    digest = hashlib.sha256(data).hexdigest()
    upload = await api.upload_url(len(data), sha256=digest)
    parts = upload["parts"]
    assert [p["part_number"] for p in parts] == [1, 2, 3]
    assert [p["size"] for p in parts] == [5 * MiB, 5 * MiB, 2 * MiB + 3]
    assert [p["offset"] for p in parts] == [0, 5 * MiB, 10 * MiB]
    for part in parts:
        assert f"/staging/{upload['id']}" in part["url"]
        assert f"partNumber={part['part_number']}" in part["url"]
        assert "X-Amz-Signature=" in part["url"]

    calls = _S3Calls(api.s3)
    await _put_parts(upload, data)
    assert calls.names == []  # the bytes did not pass through the hub
    done = await api.complete(upload["id"])
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == digest
    assert done.json()["size_bytes"] == len(data)
    # Finished and adopted with S3-side operations only: nothing read back, nothing re-sent.
    assert "CompleteMultipartUpload" in calls.names
    assert "CopyObject" in calls.names
    assert not {"GetObject", "PutObject", "UploadPart"} & set(calls.names)

    client, bucket = api.s3.client, api.s3.bucket
    head = client.head_object(Bucket=bucket, Key=api.s3.key_for(digest))
    assert head["ContentLength"] == len(data)
    assert head["Metadata"] == {"sha256": digest}
    assert await api.hub.uploads._staged_size(upload["id"]) is None  # staging removed
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    pulled = await api.hub.service.pull_bytes(api.caller, done.json()["artifact_id"])
    assert hashlib.sha256(pulled).hexdigest() == digest

    again = await api.complete(upload["id"])
    assert again.status_code == 201
    assert again.json()["artifact_id"] == done.json()["artifact_id"]


async def test_s3_multipart_wrong_sha256_or_missing_parts(api: Api, small_parts: None) -> None:
    _s3_only(api)
    data = _data(11 * MiB, 7)
    client, bucket = api.s3.client, api.s3.bucket

    wrong = await api.upload_url(len(data), sha256="0" * 64)
    await _put_parts(wrong, data)
    done = await api.complete(wrong["id"])
    assert done.status_code == 422
    assert done.json()["error"]["code"] == "checksum_mismatch"
    assert await api.hub.uploads._staged_size(wrong["id"]) is None
    assert client.list_objects_v2(Bucket=bucket, Prefix=api.s3.prefix).get("KeyCount") == 0

    # Nothing uploaded yet: 400, and the multipart upload stays open for the parts.
    short = await api.upload_url(len(data))
    assert (await api.complete(short["id"])).status_code == 400
    # Only the first two parts: the object is too short.
    await _put_parts({"parts": short["parts"][:2]}, data)
    done = await api.complete(short["id"])
    assert done.status_code == 422
    assert await api.hub.uploads._staged_size(short["id"]) is None
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")

    # A first part under S3's 5 MiB minimum (real S3 refuses the PUT, being signed for
    # 5 MiB; moto takes it): CompleteMultipartUpload refuses it, complete answers 422.
    tiny = await api.upload_url(len(data))
    async with httpx.AsyncClient() as outside:
        for part in tiny["parts"]:
            response = await outside.put(part["url"], content=b"t" * MiB)
            assert response.status_code == 200
    done = await api.complete(tiny["id"])
    assert done.status_code == 422, done.text
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


async def test_s3_sweep_aborts_unfinished_multipart_uploads(api: Api, small_parts: None) -> None:
    _s3_only(api)
    from datetime import UTC, datetime, timedelta

    data = _data(6 * MiB, 3)
    upload = await api.upload_url(len(data))
    await _put_parts({"parts": upload["parts"][:1]}, data)
    client, bucket = api.s3.client, api.s3.bucket
    assert len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
    assert await api.hub.uploads.sweep(datetime.now(UTC) + timedelta(hours=3)) == 1
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


async def test_sdk_push_uses_presigned_parts_on_s3(
    api: Api, small_parts: None, tmp_path: Path
) -> None:
    _s3_only(api)
    data = _data(11 * MiB + 5, 9)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    app_transport = httpx.ASGITransport(app=create_app(api.hub))
    network = httpx.AsyncHTTPTransport()

    class Routed(httpx.AsyncBaseTransport):
        """The hub's URLs to the app, the bucket's over the network; records the parts."""

        def __init__(self) -> None:
            self.part_puts: list[str] = []

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == "testserver":
                return await app_transport.handle_async_request(request)
            if request.method == "PUT":
                self.part_puts.append(str(request.url))
            return await network.handle_async_request(request)

    routed = Routed()
    seen: list[tuple[int, int | None]] = []
    calls = _S3Calls(api.s3)
    async with AsyncClient(
        api.key, base_url="http://testserver", transport=routed, presigned_threshold=MiB
    ) as sdk:
        artifact = await sdk.push(source, progress=lambda done, total: seen.append((done, total)))
        assert artifact.sha256 == hashlib.sha256(data).hexdigest()
        assert len(routed.part_puts) == 3
        assert all("partNumber=" in url for url in routed.part_puts)
        assert seen[-1] == (len(data), len(data))
        pulled = tmp_path / "pulled.bin"
        await sdk.pull(artifact.id, pulled)
    assert pulled.read_bytes() == data
    assert not {"PutObject", "UploadPart"} & set(calls.names)
    await network.aclose()


def test_part_sizes() -> None:
    from artifact_hub.service.uploads import part_sizes

    assert part_sizes(0, 5) == [0]
    assert part_sizes(5, 5) == [5]
    assert part_sizes(11, 5) == [5, 5, 1]
    assert sum(part_sizes(5 * 1024**3, 64 * MiB)) == 5 * 1024**3


async def test_s3_upload_id_too_long_for_its_column_is_looked_up(
    api: Api, small_parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _s3_only(api)
    monkeypatch.setattr("artifact_hub.service.uploads.service._STAGING_KEY_MAX", 30)
    data = _data(6 * MiB, 4)
    upload = await api.upload_url(len(data))
    await _put_parts(upload, data)
    done = await api.complete(upload["id"])
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert not api.s3.client.list_multipart_uploads(Bucket=api.s3.bucket).get("Uploads")
