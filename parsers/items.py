"""Neutral records for mail items that are not MIME: Outlook .msg files and TNEF streams.

The readers (``parsers.outlook``, ``parsers.tnef``) fill these; ``parsers.mime`` turns them
into the same ``ParsedMessage`` an e-mail gives, so nothing downstream knows the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ItemFile:
    """A file attached to an item; an attached item (message in a message) is in ``item``."""

    name: str  # as the sender's program stored it (long name preferred), not yet sanitised
    data: bytes
    declared_type: str = ""
    item: MailItem | None = None


@dataclass(frozen=True)
class MailItem:
    """What a non-MIME mail item says about itself."""

    subject: str = ""
    # RFC 5322 header block the item carries (Outlook keeps the transport headers), or "".
    transport_headers: str = ""
    sender: str | None = None
    sender_name: str | None = None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    date: datetime | None = None
    message_id: str | None = None
    message_class: str = ""
    body_text: str = ""
    body_html: str | None = None
    files: tuple[ItemFile, ...] = ()
    defects: tuple[str, ...] = ()
