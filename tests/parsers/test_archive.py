"""Zip archives: opened when honest, refused when they are bombs, never inflated blindly."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from parsers.archive import zip_entry_count, zip_to_members
from parsers.attachments import bytes_to_attachment, expand
from parsers.records import Attachment, Limits
from tests.parsers.bombs import MIB, Entry, compress, honest, lying_zip, run_measured, zeros


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _encrypt_flags(data: bytes) -> bytes:
    """Set the 'encrypted' flag as an encrypting writer would (the stdlib cannot encrypt)."""
    patched = bytearray(data)
    at = patched.find(b"PK\x03\x04")
    struct.pack_into("<H", patched, at + 6, 0x1)
    at = patched.find(b"PK\x01\x02")
    struct.pack_into("<H", patched, at + 8, 0x1)
    return bytes(patched)


def _zip_attachment(data: bytes, limits: Limits, name: str = "docs.zip") -> list[Attachment]:
    return expand(bytes_to_attachment(data, name, "application/zip", (), limits), limits)


def test_honest_archive_gives_its_files() -> None:
    unpacked = zip_to_members(_zip({"docs/part1.pdf": b"%PDF-1.4 one", "part2.txt": b"two"}),
                              Limits())
    assert unpacked.error is None
    assert [(m.name, m.data) for m in unpacked.members] == [
        ("docs/part1.pdf", b"%PDF-1.4 one"), ("part2.txt", b"two")]


def test_highly_compressible_member_is_a_bomb() -> None:
    bomb = _zip({"zeros.bin": b"\0" * (5 * 1024 * 1024)})
    unpacked = zip_to_members(bomb, Limits())
    assert unpacked.error == "zip_bomb"
    assert "ratio" in unpacked.error_detail
    assert unpacked.members == ()


def test_total_uncompressed_size_over_the_limit_is_a_bomb() -> None:
    archive = _zip({f"f{i}.txt": bytes(range(256)) * 8 for i in range(4)})
    unpacked = zip_to_members(archive, Limits(zip_max_total_bytes=4000))
    assert unpacked.error == "zip_bomb"
    assert "would unpack to 8192 bytes" in unpacked.error_detail


def test_too_many_files_is_a_bomb_before_listing_them() -> None:
    archive = _zip({f"f{i}.txt": b"x" for i in range(600)})
    assert zip_entry_count(archive) == 600
    unpacked = zip_to_members(archive, Limits())
    assert unpacked.error == "zip_bomb"
    assert "600 entries" in unpacked.error_detail


def test_encrypted_member_is_marked_not_read() -> None:
    archive = _encrypt_flags(_zip({"secret.pdf": b"%PDF-1.4 secret"}))
    unpacked = zip_to_members(archive, Limits())
    assert unpacked.error is None
    (member,) = unpacked.members
    assert member.error == "encrypted"
    assert member.data == b""
    assert "password" in member.error_detail


def test_broken_archive_is_reported_not_raised() -> None:
    unpacked = zip_to_members(b"PK\x03\x04" + b"\x00" * 100, Limits())
    assert unpacked.error == "broken"


def test_zip_bomb_attachment_is_kept_with_its_reason() -> None:
    bomb = _zip({"zeros.bin": b"\0" * (5 * 1024 * 1024)})
    (kept,) = _zip_attachment(bomb, Limits())
    assert kept.filename == "docs.zip"
    assert kept.data == bomb
    assert kept.error == "zip_bomb"
    assert kept.error_detail


def test_nested_archives_are_opened_with_their_path() -> None:
    inner = _zip({"form.pdf": b"%PDF-1.4 form"})
    outer = _zip({"inner.zip": inner, "letter.txt": b"Dear FAMHP"})
    found = _zip_attachment(outer, Limits())
    assert [(a.path, a.filename, a.content_type) for a in found] == [
        ((), "docs.zip", "application/zip"),
        (("docs.zip",), "inner.zip", "application/zip"),
        (("docs.zip", "inner.zip"), "form.pdf", "application/pdf"),
        (("docs.zip",), "letter.txt", "text/plain"),
    ]


def test_archives_nested_past_the_limit_are_kept_unopened() -> None:
    data = _zip({"form.pdf": b"%PDF-1.4 form"})
    for level in range(4):
        data = _zip({f"level{level}.zip": data})
    found = _zip_attachment(data, Limits(zip_max_depth=3))
    deepest = found[-1]
    assert deepest.error == "too_deep"
    assert len(deepest.path) == 3
    assert not any(a.filename == "form.pdf" for a in found)


def test_encrypted_member_is_listed_as_an_encrypted_attachment() -> None:
    archive = _encrypt_flags(_zip({"secret.pdf": b"%PDF-1.4 secret"}))
    zipped, secret = _zip_attachment(archive, Limits())
    assert zipped.error is None
    assert (secret.filename, secret.path, secret.error) == ("secret.pdf", ("docs.zip",),
                                                            "encrypted")


def test_member_names_are_sanitised_and_unique() -> None:
    archive = _zip({"../../etc/passwd": b"root", "a/scan.pdf": b"%PDF-1", "b/scan.pdf": b"%PDF-2"})
    names = [a.filename for a in _zip_attachment(archive, Limits())[1:]]
    assert names == ["passwd", "scan.pdf", "scan-2.pdf"]


def test_member_over_the_attachment_limit_is_too_large() -> None:
    archive = _zip({"big.bin": bytes(range(256)) * 64})
    big = _zip_attachment(archive, Limits(max_attachment_bytes=10_000))[1]
    assert big.error == "too_large"
    assert big.size == 256 * 64


# --- members that lie about their size (compressed-member bombs) -----------------------------

_BOMB_BYTES = 256 * MIB  # 1.5 to 2.5 s to compress; enough to show in a peak of memory


@pytest.fixture(scope="module")
def packed_zeros() -> dict[int, bytes]:
    """256 MiB of zeros as bzip2, LZMA and deflate zip members hold them (a few KB each)."""
    return {method: compress(method, zeros(_BOMB_BYTES))
            for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED)}


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED])
def test_a_member_inflating_past_its_declared_size_is_a_bomb(
        method: int, packed_zeros: dict[int, bytes]) -> None:
    archive = lying_zip([honest("part1.pdf", b"%PDF-1.4 part one", zipfile.ZIP_DEFLATED),
                         Entry("zeros.txt", method, packed_zeros[method], 1000)])
    unpacked = zip_to_members(archive, Limits())
    assert unpacked.error is None
    part1, zeros_txt = unpacked.members
    assert (part1.name, part1.data, part1.error) == ("part1.pdf", b"%PDF-1.4 part one", None)
    assert (zeros_txt.error, zeros_txt.data) == ("zip_bomb", b"")
    assert "past its declared size of 1000 bytes" in zeros_txt.error_detail


_UNPACK = """
import json, sys
from parsers.archive import zip_to_members
from parsers.records import Limits
with open(sys.argv[1], "rb") as handle:
    unpacked = zip_to_members(handle.read(), Limits())
print(json.dumps([[m.name, m.error] for m in unpacked.members]))
"""


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_bzip2_or_lzma_bomb_is_stopped_within_a_small_address_space(
        method: int, packed_zeros: dict[int, bytes], tmp_path: Path) -> None:
    # The standard library inflated such a member whole (256 MiB here, 4 GiB in the attack)
    # before noticing the declared size; the child's address space is far smaller than that.
    path = tmp_path / "bomb.zip"
    path.write_bytes(lying_zip([Entry("zeros.txt", method, packed_zeros[method], 1000)]))
    members, peak = run_measured(_UNPACK, str(path), address_space_mb=160)
    assert members == [["zeros.txt", "zip_bomb"]]
    assert peak < 100


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                                    zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_honest_members_of_every_supported_method_are_read(method: int) -> None:
    data = b"Device name: CardioFlow\n" * 2000
    written = io.BytesIO()
    with zipfile.ZipFile(written, "w", method) as archive:
        archive.writestr("form.txt", data)
    for archive_bytes in (written.getvalue(), lying_zip([honest("form.txt", data, method)])):
        (member,) = zip_to_members(archive_bytes, Limits()).members
        assert (member.name, member.data, member.error) == ("form.txt", data, None)


def test_an_unsupported_compression_method_marks_only_that_member() -> None:
    archive = lying_zip([Entry("old.bin", 6, b"imploded", 8),  # PKWARE implode
                         honest("part2.pdf", b"%PDF-1.4 two", zipfile.ZIP_BZIP2)])
    old, part2 = zip_to_members(archive, Limits()).members
    assert old.error == "unsupported_format"
    assert "compression method 6" in old.error_detail
    assert (part2.data, part2.error) == (b"%PDF-1.4 two", None)


def test_a_member_with_a_wrong_checksum_is_broken() -> None:
    entry = honest("part1.pdf", b"%PDF-1.4 one", zipfile.ZIP_DEFLATED)
    archive = lying_zip([Entry(entry.name, entry.method, entry.packed, entry.declared_size,
                               entry.crc ^ 1)])
    (member,) = zip_to_members(archive, Limits()).members
    assert member.error == "broken"
    assert "checksum" in member.error_detail


def test_a_bomb_inside_an_attached_zip_is_kept_and_the_rest_read(
        packed_zeros: dict[int, bytes]) -> None:
    archive = lying_zip([Entry("zeros.txt", zipfile.ZIP_BZIP2,
                               packed_zeros[zipfile.ZIP_BZIP2], 1000),
                         honest("letter.txt", b"Dear FAMHP", zipfile.ZIP_DEFLATED)])
    zipped, bomb, letter = _zip_attachment(archive, Limits())
    assert zipped.error is None
    assert (bomb.filename, bomb.error) == ("zeros.txt", "zip_bomb")
    assert (letter.filename, letter.data, letter.error) == ("letter.txt", b"Dear FAMHP", None)
