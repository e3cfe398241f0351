"""Presigned uploads: request a URL, PUT the bytes, complete into an artifact.

A package of one module per job (see :mod:`.service` for the map); every name importable
from ``artifact_hub.service.uploads`` before the split still is.
"""

from artifact_hub.service.uploads.naming import new_upload_id, upload_path
from artifact_hub.service.uploads.service import UploadService
from artifact_hub.service.uploads.sizes import (
    MAX_UPLOAD_BYTES,
    MULTIPART_THRESHOLD,
    PART_SIZE,
    MiB,
    part_sizes,
)

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MULTIPART_THRESHOLD",
    "PART_SIZE",
    "MiB",
    "UploadService",
    "new_upload_id",
    "part_sizes",
    "upload_path",
]
