"""The storage package's public names."""

from __future__ import annotations

import artifact_hub.adapters.storage as storage


def test_all_names_the_public_api() -> None:
    assert sorted(storage.__all__) == [
        "BlobInfo",
        "BlobNotFoundError",
        "BlobStore",
        "HashingReader",
        "LocalBlobStore",
        "MemoryBlobStore",
        "S3BlobStore",
    ]
    # The port's names are defined by the port, the adapters in this package.
    port = {"BlobInfo", "BlobNotFoundError", "BlobStore", "HashingReader"}
    for name in storage.__all__:
        module = getattr(storage, name).__module__
        if name in port:
            assert module == "artifact_hub.ports.blobs"
        else:
            assert module.startswith("artifact_hub.adapters.storage.")


def test_the_adapters_implement_the_blob_port() -> None:
    from artifact_hub.ports.blobs import BlobStore, DirectUploads

    s3 = storage.S3BlobStore("bucket", region_name="us-east-1")
    for store in (storage.MemoryBlobStore(), s3):
        assert isinstance(store, BlobStore)
    assert issubclass(storage.LocalBlobStore, BlobStore)
    # Only S3 takes uploads straight from clients; the upload service tells by the protocol.
    assert isinstance(s3, DirectUploads)
    assert not isinstance(storage.MemoryBlobStore(), DirectUploads)


def test_memory_store_view_is_read_only() -> None:
    store = storage.MemoryBlobStore()
    view = store.blobs
    assert len(view) == 0
    assert not hasattr(view, "__setitem__") or type(view).__name__ == "mappingproxy"
