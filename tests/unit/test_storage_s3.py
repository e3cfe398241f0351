"""S3BlobStore without a server: keys, presigned URLs, error mapping, client ownership."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import MagicMock
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError, FlexibleChecksumError

from artifact_hub.adapters.storage import S3BlobStore
from artifact_hub.core.errors import ChecksumMismatchError, StorageUnavailableError
from artifact_hub.ports.blobs import BlobNotFoundError

SHA = hashlib.sha256(b"blob").hexdigest()
ENDPOINT = "http://s3.example.test:9000"
CREDENTIALS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"}


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "HeadObject",
    )


@pytest.fixture
def store() -> S3BlobStore:
    return S3BlobStore("bucket", endpoint_url=ENDPOINT, region_name="us-east-1", **CREDENTIALS)


def test_key_for_puts_the_prefix_before_the_hash(store: S3BlobStore) -> None:
    assert store.key_for(SHA) == f"blobs/{SHA}"
    with pytest.raises(ValueError):
        store.key_for("../" + SHA[3:])


async def test_presigned_get_url_is_path_style_and_sigv4(store: S3BlobStore) -> None:
    url = await store.presigned_get_url(SHA, expires_in=timedelta(minutes=5))

    assert url is not None
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == ENDPOINT
    assert parts.path == f"/bucket/blobs/{SHA}"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]


async def test_without_an_endpoint_urls_go_to_aws() -> None:
    store = S3BlobStore("bucket", region_name="eu-west-1", **CREDENTIALS)

    url = await store.presigned_get_url(SHA, expires_in=timedelta(hours=1))

    assert url is not None
    assert urlsplit(url).netloc == "bucket.s3.eu-west-1.amazonaws.com"
    assert "X-Amz-Signature" in url


async def test_presigned_put_url_targets_the_staging_key(store: S3BlobStore) -> None:
    url = await store.presigned_put_url("upl_abc123", expires_in=timedelta(minutes=1), size=42)

    assert url is not None
    parts = urlsplit(url)
    assert parts.path == "/bucket/staging/upl_abc123"
    # The length is signed, so the upload must be exactly that long.
    assert "content-length" in parse_qs(parts.query)["X-Amz-SignedHeaders"][0]


@pytest.mark.parametrize("name", ["", "../blobs/x", "a/b", ".hidden", "x" * 300, "a b"])
async def test_presigned_put_url_refuses_unsafe_names(store: S3BlobStore, name: str) -> None:
    with pytest.raises(ValueError):
        await store.presigned_put_url(name, expires_in=timedelta(minutes=1))


def fake_store(**client_methods: Any) -> tuple[S3BlobStore, MagicMock]:
    client = MagicMock(**client_methods)
    return S3BlobStore("bucket", client=client), client


async def test_stat_maps_a_404_to_none_but_not_other_errors() -> None:
    store, client = fake_store()
    client.head_object.side_effect = client_error("404", 404)
    assert await store.stat(SHA) is None

    client.head_object.side_effect = client_error("403", 403)
    with pytest.raises(ClientError):
        await store.stat(SHA)


async def test_get_maps_no_such_key_to_blob_not_found() -> None:
    store, client = fake_store()
    client.get_object.side_effect = client_error("NoSuchKey", 404)

    with pytest.raises(BlobNotFoundError):
        await anext(store.get(SHA))


async def test_adopt_maps_a_staged_object_gone_before_the_copy_to_blob_not_found() -> None:
    """A concurrent complete of the same upload removed it between HEAD and CopyObject."""
    store, client = fake_store()
    client.head_object.return_value = {"ContentLength": 4}
    client.copy_object.side_effect = client_error("NoSuchKey", 404)

    with pytest.raises(BlobNotFoundError):
        await store.adopt("upl_gone", expected_size=4)

    client.copy_object.side_effect = client_error("AccessDenied", 403)
    with pytest.raises(ClientError):
        await store.adopt("upl_gone", expected_size=4)


async def test_get_maps_a_failed_s3_checksum_to_checksum_mismatch() -> None:
    def chunks(size: int) -> Iterator[bytes]:
        yield b"partial"
        raise FlexibleChecksumError(error_msg="checksum mismatch")

    body = MagicMock()
    body.iter_chunks.side_effect = chunks
    store, client = fake_store()
    client.get_object.return_value = {"Body": body}

    reader = store.get(SHA)
    assert await anext(reader) == b"partial"
    with pytest.raises(ChecksumMismatchError):
        await anext(reader)
    body.close.assert_called_once()


async def test_close_leaves_a_given_client_open() -> None:
    store, client = fake_store()

    await store.close()

    client.close.assert_not_called()


async def test_the_upload_calls_map_an_s3_outage_to_storage_unavailable() -> None:
    """Presigned and multipart uploads answer 503 ``storage_unavailable`` when S3 is down."""
    store, client = fake_store()
    slow_down = client_error("SlowDown", 503)
    client.create_multipart_upload.side_effect = slow_down
    client.list_multipart_uploads.side_effect = slow_down
    client.list_parts.side_effect = slow_down
    client.delete_object.side_effect = slow_down
    client.head_object.return_value = {"ContentLength": 4}
    client.copy_object.side_effect = slow_down

    with pytest.raises(StorageUnavailableError):
        await store.create_multipart_upload("upl_x")
    with pytest.raises(StorageUnavailableError):
        await store.multipart_upload_ids("upl_x")
    with pytest.raises(StorageUnavailableError):
        await store.complete_multipart_upload("upl_x", "mpu")
    with pytest.raises(StorageUnavailableError):
        await store.discard_staged("upl_x")
    with pytest.raises(StorageUnavailableError):
        await store.adopt("upl_x", expected_size=4)
