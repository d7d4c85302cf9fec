"""Zip archives opened under limits: a bomb is refused before anything is inflated.

Every limit is checked on the sizes the archive declares, before a byte is decompressed.
Members are then inflated here, not by ``zipfile``: the standard library bounds the output
of deflate only and inflates a bzip2 or LZMA chunk whole, so a few KB declaring a small size
could become gigabytes. Our reader streams every method with an output cap and stops one
byte past the declared size, so the declared sizes are a sound bound on memory. Word
packages are read through the same function (``parsers.docx``).
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Protocol

from parsers.records import Limits, ReasonCode

# A ratio is only suspicious for sizeable output: a few KB of zeros compress 1000:1 honestly.
RATIO_FLOOR_BYTES = 1024 * 1024
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_EOCD_SEARCH = 22 + 65535  # fixed record plus the longest possible archive comment
_ENCRYPTED_FLAG = 0x1
_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30
_CHUNK = 64 * 1024
_STORED, _DEFLATED, _BZIP2, _LZMA = 0, 8, 12, 14
_METHODS = {_STORED: "stored", _DEFLATED: "deflate", _BZIP2: "bzip2", _LZMA: "LZMA"}


class MemberError(Exception):
    """A member that cannot be inflated safely, with a reason code."""

    def __init__(self, reason: ReasonCode, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


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
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        return _refused("broken", f"not a readable zip archive: {exc}")
    refusal = _refusal(files, len(data), limits)
    if refusal is not None:
        return refusal
    return Unpacked(tuple(_read_member(data, info) for info in files))


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


def _read_member(data: bytes, info: zipfile.ZipInfo) -> Member:
    """Inflate one member; a password, an unknown method, a lie or corruption marks only it."""
    if info.flag_bits & _ENCRYPTED_FLAG:
        return Member(info.filename, b"", "encrypted",
                      f"password-protected ({info.file_size} bytes when decrypted)")
    try:
        return Member(info.filename, inflate_member(data, info))
    except MemberError as exc:
        return Member(info.filename, b"", exc.reason, exc.detail)


def read_zip_member(data: bytes, name: str, max_bytes: int) -> bytes:
    """Inflate one named member of at most ``max_bytes``; KeyError when absent."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    if info.file_size > max_bytes:
        raise MemberError("zip_bomb", f"member {name!r} declares {info.file_size} bytes, more "
                          f"than the limit of {max_bytes}")
    return inflate_member(data, info)


def inflate_member(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """Inflate a member of the archive ``data``, never past its declared size, any method."""
    if info.flag_bits & _ENCRYPTED_FLAG:
        raise MemberError("encrypted", f"member {info.filename!r} is password-protected")
    method = _METHODS.get(info.compress_type)
    if method is None:
        raise MemberError("unsupported_format", f"member {info.filename!r}: compression "
                          f"method {info.compress_type} (only stored, deflate, bzip2, LZMA)")
    raw = _raw_bytes(data, info)
    try:
        inflated = _inflate(raw, info.compress_type, info.file_size)
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        raise MemberError("broken", f"member {info.filename!r}: cannot inflate "
                          f"({method}): {exc}") from exc
    if inflated is None:
        raise MemberError("zip_bomb", f"member {info.filename!r} ({method}) inflates past "
                          f"its declared size of {info.file_size} bytes")
    if len(inflated) != info.file_size or zlib.crc32(inflated) != info.CRC:
        raise MemberError("broken", f"member {info.filename!r}: inflated size or checksum "
                          "does not match the archive's directory")
    return inflated


def _raw_bytes(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """The member's compressed bytes, found through its local header."""
    at = info.header_offset
    header = data[at:at + _LOCAL_HEADER_SIZE]
    if len(header) < _LOCAL_HEADER_SIZE or not header.startswith(_LOCAL_HEADER):
        raise MemberError("broken", f"member {info.filename!r}: no local header")
    name_length, extra_length = struct.unpack_from("<HH", header, 26)
    start = at + _LOCAL_HEADER_SIZE + name_length + extra_length
    if start + info.compress_size > len(data):
        raise MemberError("broken", f"member {info.filename!r}: archive is truncated")
    return memoryview(data)[start:start + info.compress_size]


class _Decompressor(Protocol):
    """What bz2, lzma and our zlib adapter have in common (max_length streaming)."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes: ...


class _RawDeflate:
    """zlib's decompressobj behind the interface of bz2's and lzma's decompressors."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(-15)
        self.eof = False
        self.needs_input = True

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        """Inflate what was left over plus ``data``, at most ``max_length`` bytes."""
        out = self._inflater.decompress(self._inflater.unconsumed_tail + data,
                                        max(max_length, 0))
        self.eof = self._inflater.eof
        self.needs_input = not self._inflater.unconsumed_tail
        return out


def _inflate(raw: memoryview, method: int, cap: int) -> bytes | None:
    """Decompress with every call's output bounded; None once the output passes ``cap``."""
    if method == _STORED:
        return bytes(raw) if len(raw) <= cap else None
    decompressor, raw = _decompressor(raw, method)
    out = bytearray()
    for start in range(0, len(raw), _CHUNK):
        piece = bytes(raw[start:start + _CHUNK])
        while True:
            # max_length is never 0 here (0 would mean "no limit" to zlib).
            out += decompressor.decompress(piece, cap + 1 - len(out))
            piece = b""
            if len(out) > cap:
                return None
            if decompressor.eof or decompressor.needs_input:
                break
        if decompressor.eof:
            break
    return bytes(out)


def _decompressor(raw: memoryview, method: int) -> tuple[_Decompressor, memoryview]:
    """A decompressor for the method, and the bytes it reads (LZMA's header removed)."""
    if method == _DEFLATED:
        return _RawDeflate(), raw
    if method == _BZIP2:
        return bz2.BZ2Decompressor(), raw
    return _lzma_decompressor(raw)


def _lzma_decompressor(raw: memoryview) -> tuple[_Decompressor, memoryview]:
    """Zip's LZMA: version (2 bytes), properties size (2), LZMA1 properties, raw stream."""
    if len(raw) < 4:
        raise ValueError("LZMA header too short")
    (size,) = struct.unpack_from("<H", raw, 2)
    props = bytes(raw[4:4 + size])
    if len(props) < 5:
        raise ValueError("LZMA properties too short")
    packed, dict_size = props[0], struct.unpack_from("<I", props, 1)[0]
    lc, rest = packed % 9, packed // 9
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": rest % 5,
                "pb": rest // 5}]
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters), raw[4 + size:]
