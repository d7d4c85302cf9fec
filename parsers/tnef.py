"""TNEF streams (winmail.dat, application/ms-tnef) read into a neutral ``MailItem``.

Outlook wraps attachments in TNEF when it sends "rich text" mail; the forms an applicant
attached are then inside winmail.dat, so they must come out like any other attachment.
"""

from __future__ import annotations

import logging

import tnefparse  # type: ignore[import-untyped]

from config.errors import ParseError
from parsers.charsets import bytes_to_text
from parsers.items import ItemFile, MailItem

_ATT_SUBJECT = 0x8004
_ATT_MESSAGE_CLASS = 0x8008

# tnefparse logs every odd attribute at WARNING; a mailbox full of Outlook mail floods logs.
logging.getLogger("tnefparse").setLevel(logging.ERROR)


def tnef_to_item(data: bytes) -> MailItem:
    """Read a TNEF stream; raise ParseError when it is not one or cannot be read."""
    try:
        tnef = tnefparse.TNEF(data, do_checksum=False)
        return MailItem(
            subject=_attribute(tnef, _ATT_SUBJECT),
            message_class=_attribute(tnef, _ATT_MESSAGE_CLASS),
            body_text=_as_text(tnef.body),
            body_html=_as_text(tnef.htmlbody) or None,
            files=tuple(_file(attachment) for attachment in tnef.attachments),
        )
    except Exception as exc:
        # tnefparse raises ValueError, IndexError, struct.error, UnboundLocalError ...
        raise ParseError("malformed_message", f"unreadable TNEF stream: {exc}") from exc


def _attribute(tnef: tnefparse.TNEF, name: int) -> str:
    """Return a message-level string attribute (subject, message class), or ''."""
    for obj in tnef.msgprops:
        if obj.name == name and isinstance(obj.data, str):
            return obj.data.strip()
    return ""


def _as_text(value: str | bytes | None) -> str:
    """Bodies come as text when TNEF names a code page, else as bytes."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return bytes_to_text(value.rstrip(b"\x00")).text
    return value.rstrip("\x00")


def _file(attachment: tnefparse.tnef.TNEFAttachment) -> ItemFile:
    """Convert one TNEF attachment, preferring the long file name."""
    try:
        name = attachment.long_filename()
    except (UnicodeDecodeError, LookupError, AttributeError):
        name = ""
    data = attachment.data if isinstance(attachment.data, bytes) else b""
    return ItemFile(name or "", data)
