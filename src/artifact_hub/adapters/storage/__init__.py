"""Blob storage: the adapters of the ``BlobStore`` port (:mod:`artifact_hub.ports.blobs`).

``LocalBlobStore`` keeps blobs in a folder (the embedded default), ``S3BlobStore`` in an
S3 bucket (AWS, MinIO, moto), and ``MemoryBlobStore`` in a dict for fast tests. All three
pass the same contract suite (``tests/contracts/test_blob_store.py``).
"""

from artifact_hub.adapters.storage.local import LocalBlobStore
from artifact_hub.adapters.storage.memory import MemoryBlobStore
from artifact_hub.adapters.storage.s3 import S3BlobStore

# The port's names, re-exported: this package's public names before the port moved out.
from artifact_hub.ports.blobs import BlobInfo, BlobNotFoundError, BlobStore, HashingReader

__all__ = [
    "BlobInfo",
    "BlobNotFoundError",
    "BlobStore",
    "HashingReader",
    "LocalBlobStore",
    "MemoryBlobStore",
    "S3BlobStore",
]
