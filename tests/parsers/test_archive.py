"""Zip archives: opened when honest, refused when they are bombs, never inflated blindly."""

from __future__ import annotations

import io
import struct
import zipfile

from parsers.archive import zip_entry_count, zip_to_members
from parsers.attachments import bytes_to_attachment, expand
from parsers.records import Attachment, Limits


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
