"""A content-addressed file store for raw message bytes: root/ab/cd/<sha256>."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from config.errors import StorageError, StorageUnavailable

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # a full disk passes; the message is not at fault


def sha256_of(data: bytes) -> str:
    """Return the lower-case hex SHA-256 of data."""
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    """Make a directory's entries (a new file name, a new subdirectory) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def blob_store_in(data_dir: Path) -> BlobStore:
    """Return the blob store of a data directory."""
    return BlobStore(data_dir / "blobs")


class BlobStore:
    """Immutable blobs named by their SHA-256; writes are atomic and idempotent."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha: str) -> Path:
        """Return where the blob with this hash lives (whether or not it exists)."""
        # The hash becomes a path: anything but 64 hex digits could escape the root.
        if not _SHA256.fullmatch(sha):
            raise StorageError(f"not a SHA-256 hex digest: {sha!r}")
        return self.root / sha[:2] / sha[2:4] / sha

    def exists(self, sha: str) -> bool:
        """Tell whether the blob is stored."""
        return self.path(sha).is_file()

    def put(self, data: bytes) -> str:
        """Store data durably unless an intact copy is already there; return its hash."""
        sha = sha256_of(data)
        target = self.path(sha)
        if target.is_file() and self._intact(target, sha):
            return sha
        try:
            self._write_atomically(target, data)
        except OSError as exc:
            raise self._failure(sha, exc) from exc
        return sha

    def writer(self) -> BlobWriter:
        """Return a writer for a blob that arrives in pieces (a large message)."""
        return BlobWriter(self)

    def _failure(self, sha: str, exc: OSError) -> StorageError:
        """The error for a blob that could not be stored: a full disk is passing."""
        kind = StorageUnavailable if exc.errno in _DISK_FULL else StorageError
        return kind(f"cannot store blob {sha} under {self.root}: {exc}")

    def get(self, sha: str) -> bytes:
        """Return the blob's bytes, checked against its hash."""
        try:
            data = self.path(sha).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read blob {sha} under {self.root}: {exc}") from exc
        if sha256_of(data) != sha:
            raise StorageError(f"blob {sha} under {self.root} is corrupt (hash mismatch)")
        return data

    def open(self, sha: str) -> BinaryIO:
        """Open the blob for streaming reads (unchecked: use get() to verify the hash)."""
        try:
            return self.path(sha).open("rb")
        except OSError as exc:
            raise StorageError(f"cannot open blob {sha} under {self.root}: {exc}") from exc

    def _intact(self, path: Path, sha: str) -> bool:
        """Tell whether the file at path hashes to sha (a damaged copy gets rewritten)."""
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(chunk)
        except OSError:
            return False
        return digest.hexdigest() == sha

    def _make_dirs(self, directory: Path) -> None:
        """Create directory and its parents, syncing each parent that gained an entry."""
        missing = [d for d in (directory, *directory.parents) if not d.exists()]
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            _fsync_dir(created.parent)

    def _write_atomically(self, target: Path, data: bytes) -> None:
        """Write to a temporary file beside target, sync it, then rename it into place."""
        self._make_dirs(target.parent)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, 0o444)  # content-addressed blobs never change
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
        _fsync_dir(target.parent)


class BlobWriter:
    """A blob written piece by piece as it arrives, hashed on the way, named at the end.

    The pieces go to a hidden temporary file in the store, synced and renamed under the
    blob's hash only by ``commit``; given up or failed, the file is removed. (A file made
    without a name, O_TMPFILE, could not be linked on every file system tried here.)
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.size = 0
        self._digest = hashlib.sha256()
        try:
            store._make_dirs(store.root)
            self._fd, self._temp_name = tempfile.mkstemp(dir=store.root, prefix=".tmp-")
        except OSError as exc:
            raise store._failure("(new)", exc) from exc
        self._open = True
        self._kept = False

    def write(self, piece: bytes) -> None:
        """Append a piece to the blob."""
        self._digest.update(piece)
        view = memoryview(piece)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise self.store._failure("(being written)", exc) from exc
        self.size += len(piece)

    def commit(self) -> str:
        """Make the blob durable under its hash (unless an intact copy is there); return it."""
        sha = self._digest.hexdigest()
        target = self.store.path(sha)
        try:
            if not (target.is_file() and self.store._intact(target, sha)):
                os.fsync(self._fd)
                os.chmod(self._temp_name, 0o444)  # content-addressed blobs never change
                self.store._make_dirs(target.parent)
                os.replace(self._temp_name, target)
                self._kept = True
                _fsync_dir(target.parent)
        except OSError as exc:
            raise self.store._failure(sha, exc) from exc
        finally:
            self.close()
        return sha

    def close(self) -> None:
        """Let go of the file; an uncommitted blob leaves nothing behind."""
        if not self._open:
            return
        self._open = False
        os.close(self._fd)
        if not self._kept:
            with contextlib.suppress(OSError):
                os.unlink(self._temp_name)
