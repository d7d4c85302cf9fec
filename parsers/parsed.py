"""The ParsedMessage record assembled from headers, body and attachments.

Shared by e-mails (``parsers.mime``) and Outlook/TNEF items, so that every mail file gives
the same record whatever it came as.
"""

from __future__ import annotations

from email.parser import HeaderParser
from email.policy import compat32

from parsers.attachments import Container, item_files_to_attachments
from parsers.headers import (
    header_to_addresses,
    header_to_datetime,
    header_to_ids,
    header_to_return_path,
    header_to_sender,
    header_to_text,
)
from parsers.html import html_to_text
from parsers.items import MailItem
from parsers.records import Attachment, Limits, ParsedMessage

# No honest subject is longer; rule expressions and reports never see a hostile 200 KB one
# (the message's bytes keep it whole).
MAX_SUBJECT_CHARS = 2000


def headers_to_parsed(items: list[tuple[str, str]], content_type: str, body_text: str,
                      body_html: str | None, attachments: tuple[Attachment, ...],
                      defects: list[str], item: MailItem | None = None) -> ParsedMessage:
    """Assemble a ParsedMessage from raw headers; an Outlook item fills what headers lack."""
    headers = tuple((name.lower(), header_to_text(str(value), defects)) for name, value in items)
    raw = {name.lower(): str(value) for name, value in reversed(items)}
    sender, sender_name = header_to_sender(raw.get("from", ""))
    date = header_to_datetime(_first(headers, "date"))
    if "date" in raw and date is None:
        defects.append("unreadable Date header")
    return ParsedMessage(
        message_id=_message_id(item, headers),
        in_reply_to=header_to_ids(_first(headers, "in-reply-to")),
        references=header_to_ids(_first(headers, "references")),
        sender=(item.sender if item and item.sender else sender),
        sender_name=(item.sender_name if item and item.sender_name else sender_name),
        reply_to=next((a for _, a in header_to_addresses(raw.get("reply-to", ""))), None),
        return_path=header_to_return_path(_first(headers, "return-path")),
        to=(item.to if item and item.to else _addresses(raw, "to")),
        cc=(item.cc if item and item.cc else _addresses(raw, "cc")),
        subject=(item.subject if item and item.subject else _first(headers, "subject") or "")
        .strip()[:MAX_SUBJECT_CHARS],
        date=(item.date if item and item.date else date),
        headers=headers, content_type=content_type, body_text=body_text,
        body_html=body_html, attachments=attachments, defects=tuple(dict.fromkeys(defects)),
    )


def _first(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """Return the first decoded value of a header."""
    return next((value for key, value in headers if key == name), None)


def _addresses(raw: dict[str, str], name: str) -> tuple[str, ...]:
    """Return the addresses of an address header."""
    return tuple(address for _, address in header_to_addresses(raw.get(name, "")))


def _message_id(item: MailItem | None, headers: tuple[tuple[str, str], ...]) -> str | None:
    """Return the Message-ID without angle brackets, or None when there is none."""
    value = item.message_id if item and item.message_id else _first(headers, "message-id")
    ids = header_to_ids(value)
    return ids[0] if ids else None


def item_to_message(item: MailItem, content_type: str, limits: Limits) -> ParsedMessage:
    """Turn an Outlook or TNEF item into the ParsedMessage an e-mail would give."""
    items = _transport_headers(item.transport_headers)
    attachments = item_files_to_attachments(item.files, Container(()), limits)
    body = item.body_text.strip("\r\n\x00")
    if not body.strip() and item.body_html:
        body = html_to_text(item.body_html)
    defects = list(item.defects)
    if item.message_class and not item.message_class.upper().startswith(
            ("IPM.NOTE", "IPM.MICROSOFT MAIL.NOTE")):
        defects.append(f"not an ordinary e-mail: Outlook item class {item.message_class}")
    return headers_to_parsed(items, content_type, body, item.body_html, tuple(attachments),
                             defects, item)


def _transport_headers(text: str) -> list[tuple[str, str]]:
    """Parse the RFC 5322 header block an Outlook item keeps, if any."""
    if not text.strip():
        return []
    return list(HeaderParser(policy=compat32).parsestr(text, headersonly=True).items())
