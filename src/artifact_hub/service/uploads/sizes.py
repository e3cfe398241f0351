"""Upload sizes: the presigned path's limit, when to go multipart, and the parts' sizes."""

from __future__ import annotations

MiB = 1024 * 1024

MAX_UPLOAD_BYTES = 5 * 1024**3
"""The presigned path's limit (5 GB): S3 accepts at most this in one PUT or ``CopyObject``."""

MULTIPART_THRESHOLD = 64 * MiB
"""On S3, uploads larger than this get presigned part URLs instead of one PUT URL."""

PART_SIZE = 64 * MiB
"""The size of each part but the last (5 GB in 80 parts; S3 takes 5 MiB to 5 GiB)."""


def part_sizes(size: int, part_size: int) -> list[int]:
    """The sizes of the parts of a ``size``-byte upload in parts of ``part_size``."""
    full, rest = divmod(size, part_size)
    return [part_size] * full + ([rest] if rest or not full else [])
