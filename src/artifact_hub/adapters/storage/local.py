"""Blobs as files in a local folder: the embedded mode's blob store.

Layout under ``root``::

    blobs/ab/cd/abcd…   one file per blob, named by its sha256, sharded by its first 4 hex
    tmp/                streams being written; a file moves to blobs/ only when complete
    staged/<name>/<sha256>
                        the bytes of a presigned upload (``stage``), named by the hash
                        computed while they were written, until ``adopt`` links them into
                        blobs/ and ``discard_staged`` drops the slot

``tmp``, ``staged`` and ``blobs`` share a file system, so every move is an atomic
``os.replace`` (or a hard link): a byte is written once and never copied.

What a killed process leaves is found by the sweeper: spool files in ``tmp/`` whose writer
is gone (:meth:`LocalBlobStore.remove_stale_spool`, also at every start), old slots in
``staged/`` (:meth:`LocalBlobStore.remove_stale_staging`) and blobs nothing references
(:meth:`LocalBlobStore.list_blobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from artifact_hub.adapters.storage.base import (
    check_sha256,
    check_staged,
    check_staging_name,
    remove_stale_spool,
    spool_to_temp_file,
)
from artifact_hub.ports.blobs import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    HashingReader,
    StagedBlob,
    StoredBlob,
    SweptBytes,
)

__all__ = ["LocalBlobStore"]


class LocalBlobStore(BlobStore):
    """Content-addressed blobs in a local folder, written atomically and durably.

    Args:
        root: The folder; created (with ``blobs/`` and ``tmp/``) if missing.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"
        self._staged = self.root / "staged"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._staged.mkdir(parents=True, exist_ok=True)
        # Serialises the installs of one slot in this process (two PUTs of one upload).
        self._slot_locks: dict[str, asyncio.Lock] = {}

    def path_for(self, sha256: str) -> Path:
        """The file a blob is (or would be) stored in.

        Raises:
            ValueError: ``sha256`` is not 64 lowercase hex characters.
        """
        check_sha256(sha256)
        return self._blobs / sha256[:2] / sha256[2:4] / sha256

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> BlobInfo:
        """Stream the bytes to ``tmp/``, verify them, then move them under their hash.

        See :meth:`BlobStore.put`. The file is fsynced before the move and its directory
        after it, so a blob that ``put`` returned survives a crash.

        Raises:
            ChecksumMismatchError: The bytes do not hash to ``expected_sha256``.
            FileTooLargeError: More than ``max_size`` bytes arrived.
            ValueError: ``expected_sha256`` is not a lowercase hex sha256.
        """
        if expected_sha256 is not None:
            check_sha256(expected_sha256)
        reader = HashingReader(expected_sha256=expected_sha256, max_size=max_size)
        async with spool_to_temp_file(chunks, self._tmp, reader, durable=True) as temp:
            created = await asyncio.to_thread(self._publish, temp, reader.sha256, reader.size)
        return BlobInfo(sha256=reader.sha256, size=reader.size, created=created)

    def _publish(self, temp: Path, sha256: str, size: int, *, keep: bool = False) -> bool:
        """Move (or with ``keep``, hard-link) the verified file ``temp`` under its hash."""
        target = self.path_for(sha256)
        new_dirs = _make_dirs(target.parent)
        try:
            # Same hash, same bytes: keep the copy that is there. A size that disagrees can
            # only mean the stored file was damaged, and the verified new one repairs it.
            if target.stat().st_size == size:
                return False
            existed = True
        except FileNotFoundError:
            existed = False
        source = temp
        if keep:
            # A second name for the same inode, made in tmp/ and then renamed over the
            # target: atomic even when a (damaged) file is there, and no byte is copied.
            source = self._tmp / f".link-{os.urandom(8).hex()}"
            try:
                os.link(temp, source)
            except OSError:  # a file system without hard links: move the file instead
                source = temp
        # Two writers of the same new bytes may both get here; the later replace swaps in
        # identical content, which is harmless (both then report created=True).
        try:
            os.replace(source, target)
        except BaseException:
            if source != temp:
                source.unlink(missing_ok=True)
            raise
        if keep:
            # The link shares the staged file's inode, and its mtime of the upload's time;
            # the blob's age (what the orphan sweep goes by) starts now.
            os.utime(target)
        _fsync_dir(target.parent)
        for directory in new_dirs:
            _fsync_dir(directory.parent)
        return not existed

    # ---------------------------------------------------------------- staged uploads

    def _slot(self, name: str) -> Path:
        return self._staged / check_staging_name(name)

    async def stage(
        self, name: str, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> StagedBlob:
        """Stream to ``tmp/`` (hashed, fsynced), then rename to ``staged/<name>/<sha256>``.

        See :meth:`BlobStore.stage`. The earlier bytes of the slot are removed only after
        the new ones are in place.

        Raises:
            FileTooLargeError: More than ``max_size`` bytes arrived.
            ValueError: ``name`` is not one safe path segment.
        """
        slot = self._slot(name)
        reader = HashingReader(max_size=max_size)
        async with spool_to_temp_file(chunks, self._tmp, reader, durable=True) as temp:
            lock = self._slot_locks.setdefault(name, asyncio.Lock())
            try:
                async with lock:
                    # Shielded: once the rename started, the slot must not be left half-done.
                    await asyncio.shield(
                        asyncio.to_thread(_install_staged, temp, slot, reader.sha256)
                    )
            finally:
                if not lock.locked():
                    self._slot_locks.pop(name, None)
        return StagedBlob(size=reader.size, sha256=reader.sha256)

    async def staged(self, name: str) -> StagedBlob | None:
        """The slot's size and sha256 (from its file's name), or None when it is empty."""
        found = await asyncio.to_thread(_staged_file, self._slot(name))
        if found is None:
            return None
        path, size = found
        return StagedBlob(size=size, sha256=path.name)

    async def adopt(
        self,
        name: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> BlobInfo:
        """Hard-link the staged file under its hash: the same inode, nothing read or copied.

        See :meth:`BlobStore.adopt`. The file was fsynced when it was staged; the link is
        made durable by fsyncing its folder.

        Raises:
            BlobNotFoundError: Nothing is staged under ``name``.
            ChecksumMismatchError: Its size or sha256 is not the expected one.
        """
        found = await asyncio.to_thread(_staged_file, self._slot(name))
        if found is None:
            raise BlobNotFoundError(name)
        path, size = found
        sha256 = check_sha256(path.name)
        check_staged(StagedBlob(size=size, sha256=sha256), expected_sha256, expected_size)
        created = await asyncio.to_thread(self._publish, path, sha256, size, keep=True)
        return BlobInfo(sha256=sha256, size=size, created=created)

    async def discard_staged(self, name: str) -> None:
        """Remove the slot and its file (no error when there is none)."""
        await asyncio.to_thread(_remove_slot, self._slot(name))

    def get(self, sha256: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the blob's file in chunks of at most ``chunk_size`` bytes.

        Raises:
            BlobNotFoundError: No such blob (on first iteration).
            ValueError: ``sha256`` is not a lowercase hex sha256 (at once).
        """
        return self._read(self.path_for(sha256), sha256, chunk_size)

    async def _read(self, path: Path, sha256: str, chunk_size: int) -> AsyncIterator[bytes]:
        try:
            file: BinaryIO = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(sha256) from None
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def stat(self, sha256: str) -> int | None:
        """The blob's size, or None when it is not stored."""
        path = self.path_for(sha256)
        try:
            result = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            return None
        return result.st_size

    async def delete(self, sha256: str) -> None:
        """Remove the blob's file (no error when it is absent)."""
        path = self.path_for(sha256)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    # ---------------------------------------------------------------- clean-up

    async def remove_stale_spool(self) -> SweptBytes:
        """Remove the spool files in ``tmp/`` whose writer is gone (see the base class)."""
        return await asyncio.to_thread(remove_stale_spool, self._tmp)

    async def list_blobs(self) -> AsyncIterator[StoredBlob]:
        """Every blob file under ``blobs/``, with its size and mtime."""
        for shard in await asyncio.to_thread(_subdirs, self._blobs):
            for sub in await asyncio.to_thread(_subdirs, shard):
                for found in await asyncio.to_thread(_blob_files, sub):
                    yield found

    async def remove_stale_staging(self, older_than: datetime) -> SweptBytes:
        """Remove the slots in ``staged/`` whose newest file is older than ``older_than``."""
        return await asyncio.to_thread(_remove_stale_slots, self._staged, older_than.timestamp())


def _subdirs(directory: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _blob_files(directory: Path) -> list[StoredBlob]:
    found: list[StoredBlob] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return found
    for entry in entries:
        if len(entry.name) != 64:
            continue
        try:
            check_sha256(entry.name)
            stat = entry.stat(follow_symlinks=False)
        except (ValueError, FileNotFoundError):
            continue
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        found.append(StoredBlob(sha256=entry.name, size=stat.st_size, modified=modified))
    return found


def _remove_stale_slots(staged: Path, cutoff: float) -> SweptBytes:
    swept = SweptBytes()
    for slot in _subdirs(staged):
        try:
            stats = [e.stat(follow_symlinks=False) for e in os.scandir(slot)]
            newest = max([slot.stat().st_mtime, *(st.st_mtime for st in stats)])
        except FileNotFoundError:
            continue
        if newest < cutoff:
            _remove_slot(slot)
            swept.add(sum(st.st_size for st in stats if st.st_nlink <= 1))
    return swept


def _staged_file(slot: Path) -> tuple[Path, int] | None:
    """The newest complete file of a staging slot and its size, or None."""
    best: tuple[float, Path, int] | None = None
    try:
        entries = list(os.scandir(slot))
    except (FileNotFoundError, NotADirectoryError):
        return None
    for entry in entries:
        if len(entry.name) != 64:
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # removed by a concurrent install
            continue
        if best is None or stat.st_mtime_ns > best[0]:
            best = (stat.st_mtime_ns, Path(entry.path), stat.st_size)
    return None if best is None else (best[1], best[2])


def _install_staged(temp: Path, slot: Path, sha256: str) -> None:
    """Rename a complete file into its slot, then drop the slot's older files."""
    with contextlib.suppress(FileExistsError):
        slot.mkdir()
    target = slot / sha256
    os.replace(temp, target)
    for entry in os.scandir(slot):
        if entry.name != sha256:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    _fsync_dir(slot)
    _fsync_dir(slot.parent)


def _remove_slot(slot: Path) -> None:
    try:
        entries = list(os.scandir(slot))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
    with contextlib.suppress(FileNotFoundError, OSError):
        slot.rmdir()


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents; return the ones this call created."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # another writer made it first
            continue
        created.append(path)
    return created


def _fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    if os.name != "posix":  # directories cannot be opened for fsync elsewhere
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
