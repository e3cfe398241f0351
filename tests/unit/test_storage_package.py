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
    for name in storage.__all__:
        assert getattr(storage, name).__module__.startswith("artifact_hub.adapters.storage.")


def test_memory_store_view_is_read_only() -> None:
    store = storage.MemoryBlobStore()
    view = store.blobs
    assert len(view) == 0
    assert not hasattr(view, "__setitem__") or type(view).__name__ == "mappingproxy"
