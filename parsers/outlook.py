"""Outlook .msg files (MS-OXMSG, an OLE2 compound file) read into a neutral ``MailItem``.

Read with olefile (BSD licence) and the published property layout rather than a full
Outlook library: we need subject, sender, recipients, bodies, transport headers and
attachments, and the GPL licence of the usual .msg library does not suit this project.
"""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta

import olefile  # type: ignore[import-untyped]

from config.errors import ParseError
from parsers.charsets import bytes_to_text
from parsers.items import ItemFile, MailItem

# Property ids (MS-OXPROPS) of what we read.
_SUBJECT, _MESSAGE_CLASS, _HEADERS, _MESSAGE_ID = 0x0037, 0x001A, 0x007D, 0x1035
_BODY, _HTML = 0x1000, 0x1013
_SENDER_NAME, _SENDER_TYPE, _SENDER_ADDRESS, _SENDER_SMTP = 0x0C1A, 0x0C1E, 0x0C1F, 0x5D01
_REPRESENTING_NAME, _REPRESENTING_TYPE, _REPRESENTING_ADDRESS = 0x0042, 0x0064, 0x0065
_DISPLAY_NAME, _ADDRESS_TYPE, _ADDRESS, _SMTP_ADDRESS = 0x3001, 0x3002, 0x3003, 0x39FE
_RECIPIENT_TYPE, _SUBMIT_TIME, _DELIVERY_TIME = 0x0C15, 0x0039, 0x0E06
_CODEPAGE, _INTERNET_CPID, _LOCALE_ID = 0x3FFD, 0x3FDE, 0x3FF1
_ATTACH_DATA, _ATTACH_LONG_NAME, _ATTACH_NAME, _ATTACH_MIME = 0x3701, 0x3707, 0x3704, 0x370E
_ATTACH_METHOD, _ATTACH_EMBEDDED_MESSAGE = 0x3705, 5
# Property types: Unicode string, 8-bit string, binary, 32-bit integer, FILETIME.
_UNICODE, _STRING8, _BINARY, _LONG, _SYSTIME = 0x001F, 0x001E, 0x0102, 0x0003, 0x0040
# Fixed-size property streams start with a header whose size depends on the storage kind.
_TOP_HEADER, _EMBEDDED_HEADER, _CHILD_HEADER = 32, 24, 8
_MAX_EMBEDDING = 10
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_CODEPAGES = {65001: "utf-8", 20127: "ascii", 1200: "utf-16-le", 28591: "latin-1",
              50220: "iso2022_jp", 50221: "iso2022_jp", 50222: "iso2022_jp",
              51932: "euc_jp", 51949: "euc_kr", 936: "gbk", 54936: "gb18030",
              10000: "mac-roman", 20866: "koi8_r", 21866: "koi8_u"}
# Windows' ANSI code page by primary language of a locale id: what Outlook wrote 8-bit
# strings in when the item names no code page of its own.
_LANGUAGE_CODEPAGES = {
    0x19: 1251, 0x22: 1251, 0x02: 1251, 0x23: 1251, 0x2F: 1251, 0x3F: 1251, 0x40: 1251,
    0x15: 1250, 0x05: 1250, 0x1B: 1250, 0x0E: 1250, 0x24: 1250, 0x1A: 1250, 0x18: 1250,
    0x1C: 1250, 0x08: 1253, 0x1F: 1254, 0x0D: 1255, 0x01: 1256, 0x29: 1256, 0x20: 1256,
    0x25: 1257, 0x26: 1257, 0x27: 1257, 0x2A: 1258, 0x11: 932, 0x12: 949, 0x1E: 874,
}
_CHINESE, _TRADITIONAL_CHINESE_LCIDS = 0x04, (0x0404, 0x0C04, 0x1404)


def msg_to_item(data: bytes) -> MailItem:
    """Read an Outlook .msg file; raise ParseError when it is no readable OLE2 file."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            return _Storage(ole, "", _TOP_HEADER).to_item(0)
    except ParseError:
        raise
    except Exception as exc:
        # olefile and struct raise many unrelated types on a damaged compound file.
        raise ParseError("malformed_message", f"unreadable Outlook .msg file: {exc}") from exc


class _Storage:
    """One property storage of a .msg (the message, a recipient, an attachment)."""

    def __init__(self, ole: olefile.OleFileIO, prefix: str, header_size: int) -> None:
        self.ole = ole
        self.prefix = prefix
        self.fixed = _fixed_properties(self._stream("__properties_version1.0"), header_size)
        internet = self.fixed.get(_INTERNET_CPID)
        locale = _locale_codepage(self.fixed.get(_LOCALE_ID))
        # Strings follow the item's code page, else its locale's; HTML follows the internet one.
        self.codepage = _codec(self.fixed.get(_CODEPAGE) or locale or internet)
        self.html_codepage = _codec(internet) or self.codepage

    def _stream(self, name: str) -> bytes | None:
        """Return a stream of this storage, or None when absent."""
        path = self.prefix + name
        if self.ole.get_type(path) != olefile.STGTY_STREAM:
            return None
        data: bytes = self.ole.openstream(path).read()
        return data

    def text(self, prop: int) -> str | None:
        """Return a string property, stored as UTF-16, as 8-bit text or as bytes."""
        codepage = self.html_codepage if prop == _HTML else self.codepage
        wide = self._stream(f"__substg1.0_{prop:04X}{_UNICODE:04X}")
        if wide is not None:
            return wide.decode("utf-16-le", "replace").rstrip("\x00")
        for kind in (_STRING8, _BINARY):
            narrow = self._stream(f"__substg1.0_{prop:04X}{kind:04X}")
            if narrow is not None:
                return _narrow_to_text(narrow, codepage)
        return None

    def binary(self, prop: int) -> bytes | None:
        """Return a binary property."""
        return self._stream(f"__substg1.0_{prop:04X}{_BINARY:04X}")

    def children(self, kind: str) -> list[str]:
        """Return the prefixes of child storages ('__recip_version1.0_#...', '__attach_...')."""
        parent = self.prefix.split("/")[:-1]
        paths = self.ole.listdir(streams=False, storages=True)
        return sorted("/".join(p) + "/" for p in paths
                      if len(p) == len(parent) + 1 and p[:-1] == parent
                      and p[-1].startswith(kind))

    def to_item(self, depth: int) -> MailItem:
        """Gather what the item says about itself."""
        sender, sender_name = self._sender()
        to, cc = self._recipients()
        return MailItem(
            subject=self.text(_SUBJECT) or "",
            transport_headers=self.text(_HEADERS) or "",
            sender=sender, sender_name=sender_name, to=to, cc=cc,
            date=_filetime(self.fixed.get(_SUBMIT_TIME) or self.fixed.get(_DELIVERY_TIME)),
            message_id=self.text(_MESSAGE_ID),
            message_class=self.text(_MESSAGE_CLASS) or "",
            body_text=self.text(_BODY) or "",
            body_html=self.text(_HTML),
            files=tuple(self._attachment(p, depth) for p in self.children("__attach_")),
        )

    def _sender(self) -> tuple[str | None, str | None]:
        """Return the sender's SMTP address and display name."""
        smtp = self.text(_SENDER_SMTP)
        if not smtp and (self.text(_SENDER_TYPE) or "").upper() == "SMTP":
            smtp = self.text(_SENDER_ADDRESS)
        if not smtp and (self.text(_REPRESENTING_TYPE) or "").upper() == "SMTP":
            smtp = self.text(_REPRESENTING_ADDRESS)
        name = self.text(_SENDER_NAME) or self.text(_REPRESENTING_NAME)
        return (smtp.strip().lower() if smtp else None), name

    def _recipients(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return the To and Cc SMTP addresses (Exchange-only addresses are left out)."""
        to: list[str] = []
        cc: list[str] = []
        for prefix in self.children("__recip_"):
            recipient = _Storage(self.ole, prefix, _CHILD_HEADER)
            address = recipient._smtp_address()
            if address:
                (cc if recipient.fixed.get(_RECIPIENT_TYPE) == 2 else to).append(address)
        return tuple(to), tuple(cc)

    def _smtp_address(self) -> str | None:
        """Return a recipient's SMTP address, if it has one."""
        smtp = self.text(_SMTP_ADDRESS)
        if not smtp and (self.text(_ADDRESS_TYPE) or "").upper() == "SMTP":
            smtp = self.text(_ADDRESS)
        return smtp.strip().lower() if smtp and "@" in smtp else None

    def _attachment(self, prefix: str, depth: int) -> ItemFile:
        """Read one attachment: a file, or a message attached to the message."""
        attachment = _Storage(self.ole, prefix, _CHILD_HEADER)
        name = (attachment.text(_ATTACH_LONG_NAME) or attachment.text(_ATTACH_NAME)
                or attachment.text(_DISPLAY_NAME) or "")
        mime = attachment.text(_ATTACH_MIME) or ""
        embedded = prefix + f"__substg1.0_{_ATTACH_DATA:04X}000D/"
        if attachment.fixed.get(_ATTACH_METHOD) == _ATTACH_EMBEDDED_MESSAGE:
            return ItemFile(name, b"", "message/rfc822", self._embedded(embedded, depth))
        return ItemFile(name, attachment.binary(_ATTACH_DATA) or b"", mime)

    def _embedded(self, prefix: str, depth: int) -> MailItem:
        """Read a message attached to the message, to a bounded depth."""
        if depth >= _MAX_EMBEDDING:
            return MailItem(defects=("attached messages nested too deep; not read",))
        return _Storage(self.ole, prefix, _EMBEDDED_HEADER).to_item(depth + 1)


def _fixed_properties(stream: bytes | None, header_size: int) -> dict[int, int]:
    """Read fixed-size properties (integers, times) from a properties stream."""
    found: dict[int, int] = {}
    if not stream:
        return found
    for at in range(header_size, len(stream) - 15, 16):
        kind, prop = struct.unpack_from("<HH", stream, at)
        if kind == _LONG:
            found[prop] = struct.unpack_from("<I", stream, at + 8)[0]
        elif kind == _SYSTIME:
            found[prop] = struct.unpack_from("<Q", stream, at + 8)[0]
    return found


def _codec(codepage: int | None) -> str | None:
    """Map a Windows code page number to a Python codec name."""
    if not codepage:
        return None
    return _CODEPAGES.get(codepage, f"cp{codepage}")


def _locale_codepage(lcid: int | None) -> int | None:
    """Return the ANSI code page Windows uses for a locale id."""
    if not lcid:
        return None
    if lcid & 0x3FF == _CHINESE:
        return 950 if lcid in _TRADITIONAL_CHINESE_LCIDS else 936
    return _LANGUAGE_CODEPAGES.get(lcid & 0x3FF, 1252)


def _narrow_to_text(data: bytes, codepage: str | None) -> str:
    """Decode an 8-bit string: valid UTF-8 first (Outlook mislabels it), else the code page."""
    try:
        return data.decode("utf-8").rstrip("\x00")
    except UnicodeDecodeError:
        return bytes_to_text(data, codepage).text.rstrip("\x00")


def _filetime(value: int | None) -> datetime | None:
    """Convert a FILETIME (100 ns ticks since 1601) to an aware datetime."""
    if not value:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return None
