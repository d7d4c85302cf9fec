"""Zip archives opened under limits: a bomb is refused before anything is inflated.

Every limit is checked on the sizes the archive declares, before a byte is decompressed;
the standard library then never inflates a member past its declared size (it stops there
and fails the CRC check), so the declared sizes are a sound bound on memory.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from parsers.records import Limits, ReasonCode

# A ratio is only suspicious for sizeable output: a few KB of zeros compress 1000:1 honestly.
RATIO_FLOOR_BYTES = 1024 * 1024
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_EOCD_SEARCH = 22 + 65535  # fixed record plus the longest possible archive comment
_ENCRYPTED_FLAG = 0x1


@dataclass(frozen=True)
class Member:
    """One file inside an archive, or why it could not be read."""

    name: str  # as stored, folders included ("docs/form.pdf")
    data: bytes
    error: ReasonCode | None = None
    error_detail: str = ""


@dataclass(frozen=True)
class Unpacked:
    """The files of an archive, or the reason the archive as a whole was refused."""

    members: tuple[Member, ...]
    error: ReasonCode | None = None
    error_detail: str = ""


def is_zip(data: bytes) -> bool:
    """Tell whether the bytes start like a zip archive (including an empty one)."""
    return data[:4] in (b"PK\x03\x04", _EOCD)


def zip_entry_count(data: bytes) -> int | None:
    """Read the entry count from the end-of-directory record, without listing the entries."""
    start = max(0, len(data) - _EOCD_SEARCH)
    at = data.rfind(_EOCD, start)
    if at < 0 or at + 22 > len(data):
        return None
    count: int = struct.unpack_from("<H", data, at + 10)[0]
    if count != 0xFFFF:
        return count
    return _zip64_entry_count(data, at)


def _zip64_entry_count(data: bytes, eocd_at: int) -> int | None:
    """Follow the zip64 locator to the real entry count of a very large archive."""
    locator = eocd_at - 20
    if locator < 0 or data[locator:locator + 4] != _ZIP64_LOCATOR:
        return None
    record: int = struct.unpack_from("<Q", data, locator + 8)[0]
    if record + 40 > len(data):
        return None
    count: int = struct.unpack_from("<Q", data, record + 32)[0]
    return count


def zip_to_members(data: bytes, limits: Limits) -> Unpacked:
    """Unpack one level of a zip archive, refusing bombs, marking encrypted members."""
    declared = zip_entry_count(data)
    if declared is not None and declared > limits.zip_max_files:
        return _refused("zip_bomb", f"{declared} entries, more than the limit of "
                        f"{limits.zip_max_files}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = [i for i in archive.infolist() if not i.is_dir()]
            refusal = _refusal(files, len(data), limits)
            if refusal is not None:
                return refusal
            return Unpacked(tuple(_read_member(archive, info) for info in files))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        return _refused("broken", f"not a readable zip archive: {exc}")


def _refused(reason: ReasonCode, detail: str) -> Unpacked:
    """Return an archive refused as a whole."""
    return Unpacked((), reason, detail)


def _refusal(files: list[zipfile.ZipInfo], packed: int, limits: Limits) -> Unpacked | None:
    """Check count, total size and compression ratios on declared sizes, before inflating."""
    total = sum(info.file_size for info in files)
    if len(files) > limits.zip_max_files:
        return _refused("zip_bomb", f"{len(files)} files, more than the limit of "
                        f"{limits.zip_max_files}")
    if total > limits.zip_max_total_bytes:
        return _refused("zip_bomb", f"would unpack to {total} bytes, more than the limit of "
                        f"{limits.zip_max_total_bytes}")
    if total > RATIO_FLOOR_BYTES and total / max(packed, 1) > limits.zip_max_ratio:
        return _refused("zip_bomb", f"{packed} bytes would unpack to {total} bytes "
                        f"(ratio {total / max(packed, 1):.0f}, limit {limits.zip_max_ratio:g})")
    return next((r for r in (_member_ratio(i, limits) for i in files) if r), None)


def _member_ratio(info: zipfile.ZipInfo, limits: Limits) -> Unpacked | None:
    """Refuse the archive when one member alone inflates beyond the ratio limit."""
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size <= RATIO_FLOOR_BYTES or ratio <= limits.zip_max_ratio:
        return None
    return _refused("zip_bomb", f"member {info.filename!r}: {info.compress_size} bytes would "
                    f"unpack to {info.file_size} bytes (ratio {ratio:.0f}, "
                    f"limit {limits.zip_max_ratio:g})")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Member:
    """Inflate one member; a password, an unknown method or corruption marks only it."""
    if info.flag_bits & _ENCRYPTED_FLAG:
        return Member(info.filename, b"", "encrypted",
                      f"password-protected ({info.file_size} bytes when decrypted)")
    try:
        return Member(info.filename, archive.read(info))
    except NotImplementedError as exc:
        return Member(info.filename, b"", "unsupported_format", f"compression method: {exc}")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError) as exc:
        return Member(info.filename, b"", "broken", f"cannot inflate: {exc}")
