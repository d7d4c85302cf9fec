"""The blob store keeps raw messages by content hash, atomically and verifiably."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from config.errors import StorageError
from storage.blobs import BlobStore
from tests.storage.factories import eml

MESSAGE = eml("a1@hospital.example")
SHA = hashlib.sha256(MESSAGE).hexdigest()


def test_put_stores_under_a_two_level_fan_out_and_get_returns_the_bytes(blobs: BlobStore) -> None:
    assert blobs.put(MESSAGE) == SHA
    path = blobs.root / SHA[:2] / SHA[2:4] / SHA
    assert path.read_bytes() == MESSAGE
    assert blobs.get(SHA) == MESSAGE
    assert blobs.exists(SHA)
    with blobs.open(SHA) as handle:
        assert handle.read() == MESSAGE


def test_put_is_idempotent_and_leaves_no_temporary_files(blobs: BlobStore) -> None:
    path = blobs.path(blobs.put(MESSAGE))
    before = path.stat()
    assert blobs.put(MESSAGE) == SHA
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert sorted(p.name for p in path.parent.iterdir()) == [SHA]


def test_stored_blobs_are_read_only(blobs: BlobStore) -> None:
    mode = stat.S_IMODE(blobs.path(blobs.put(MESSAGE)).stat().st_mode)
    assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0


def test_get_refuses_a_corrupt_blob(blobs: BlobStore) -> None:
    path = blobs.path(blobs.put(MESSAGE))
    os.chmod(path, 0o644)
    path.write_bytes(MESSAGE.replace(b"attached", b"ATTACHED"))
    with pytest.raises(StorageError, match="corrupt"):
        blobs.get(SHA)


def test_put_repairs_a_damaged_copy(blobs: BlobStore) -> None:
    path = blobs.path(blobs.put(MESSAGE))
    os.chmod(path, 0o644)
    path.write_bytes(MESSAGE[:10])  # e.g. truncated by a full disk
    assert blobs.put(MESSAGE) == SHA
    assert blobs.get(SHA) == MESSAGE


def test_missing_blob_is_a_storage_error(blobs: BlobStore) -> None:
    assert not blobs.exists(SHA)
    with pytest.raises(StorageError, match="cannot read"):
        blobs.get(SHA)
    with pytest.raises(StorageError, match="cannot open"):
        blobs.open(SHA)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", SHA.upper(), SHA + "0", ""])
def test_a_name_that_is_not_a_sha256_never_becomes_a_path(blobs: BlobStore, bad: str) -> None:
    with pytest.raises(StorageError, match="not a SHA-256"):
        blobs.get(bad)


def test_an_unusable_root_is_a_storage_error(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    root.write_text("a file where the store should be")
    with pytest.raises(StorageError, match="cannot store"):
        BlobStore(root).put(MESSAGE)


def test_a_failed_rename_leaves_neither_blob_nor_temporary_file(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(StorageError, match="No space left"):
        blobs.put(MESSAGE)
    assert not blobs.exists(SHA)
    assert list(blobs.path(SHA).parent.iterdir()) == []


def test_concurrent_puts_of_the_same_bytes_agree(blobs: BlobStore) -> None:
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(blobs.put(MESSAGE)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [SHA] * 8
    assert blobs.get(SHA) == MESSAGE
    assert [p.name for p in blobs.path(SHA).parent.iterdir()] == [SHA]


# --- a blob written in pieces (a large message as it is fetched) ----------------------------

def write_in_pieces(blobs: BlobStore, data: bytes, piece: int = 1000) -> str:
    """Write data through a BlobWriter, in pieces, and commit it."""
    writer = blobs.writer()
    for start in range(0, len(data), piece):
        writer.write(data[start:start + piece])
    assert writer.size == len(data)
    return writer.commit()


def every_file(root: Path) -> list[Path]:
    """Every file under the store, hidden ones included."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_blob_written_in_pieces_is_stored_like_a_put(blobs: BlobStore) -> None:
    assert write_in_pieces(blobs, MESSAGE) == SHA
    assert blobs.get(SHA) == MESSAGE
    assert every_file(blobs.root) == [blobs.path(SHA)]
    mode = stat.S_IMODE(blobs.path(SHA).stat().st_mode)
    assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    assert write_in_pieces(blobs, MESSAGE, piece=7) == SHA  # again: the copy is kept
    assert every_file(blobs.root) == [blobs.path(SHA)]


def test_a_blob_given_up_half_way_leaves_nothing(blobs: BlobStore) -> None:
    writer = blobs.writer()
    writer.write(MESSAGE[:100])
    writer.close()
    assert every_file(blobs.root) == []


def test_a_blob_written_in_pieces_repairs_a_damaged_copy(blobs: BlobStore) -> None:
    path = blobs.path(blobs.put(MESSAGE))
    os.chmod(path, 0o644)
    path.write_bytes(MESSAGE[:10])
    assert write_in_pieces(blobs, MESSAGE) == SHA
    assert blobs.get(SHA) == MESSAGE
    assert every_file(blobs.root) == [path]


def test_a_failed_link_of_a_blob_in_pieces_leaves_nothing(
        blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(StorageError, match="No space left"):
        write_in_pieces(blobs, MESSAGE)
    assert every_file(blobs.root) == []
