"""Failures of the S3 service itself become ``storage_unavailable`` (503); the rest stay."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError

from artifact_hub.adapters.storage import S3BlobStore
from artifact_hub.adapters.storage.s3_client import storage_errors, unavailable_error
from artifact_hub.api.errors import error_response
from artifact_hub.core.errors import ServerError, StorageUnavailableError, error_for_code


def client_error(code: str, status: int, attempts: int = 2) -> ClientError:
    metadata = {"HTTPStatusCode": status, "RetryAttempts": attempts}
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": metadata}, "PutObject"
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [("SlowDown", 503), ("ServiceUnavailable", 503), ("InternalError", 500), ("503", 503)],
)
def test_5xx_and_throttling_answers_are_storage_unavailable(code: str, status: int) -> None:
    error = unavailable_error(client_error(code, status))
    assert isinstance(error, StorageUnavailableError)
    assert "PutObject" in error.message and "3 time(s)" in error.message


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("AccessDenied", 403)])
def test_request_errors_are_left_alone(code: str, status: int) -> None:
    assert unavailable_error(client_error(code, status)) is None
    with pytest.raises(ClientError), storage_errors():
        raise client_error(code, status)


def test_a_failed_transfer_and_an_unreachable_endpoint_map_too() -> None:
    # boto3's transfer manager raises this inside ``except ClientError``: the cause is context.
    wrapped = S3UploadFailedError("Failed to upload")
    wrapped.__context__ = client_error("SlowDown", 503)
    assert isinstance(unavailable_error(wrapped), StorageUnavailableError)
    with pytest.raises(StorageUnavailableError), storage_errors():
        raise EndpointConnectionError(endpoint_url="http://s3.example.test")


def test_the_error_is_a_503_with_retry_after_and_a_server_error_for_old_clients() -> None:
    error = StorageUnavailableError("down", retry_after_seconds=2)
    assert isinstance(error, ServerError) and error_for_code("storage_unavailable") is type(error)
    response = error_response(error)
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert error.to_dict()["error"]["retry_after_seconds"] == 2


def test_the_store_sets_the_total_attempts_of_botocores_standard_retry() -> None:
    store = S3BlobStore("bucket", region_name="us-east-1", max_attempts=5)
    retries = store.client.meta.config.retries
    assert retries == {"mode": "standard", "total_max_attempts": 5}
