"""Attachment records, and the containers opened to reach the files inside them.

A zip archive, a winmail.dat (TNEF) or an attached Outlook item is kept as an attachment
itself, followed by the files it holds, whose ``path`` names the containers they sit in.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import format_datetime

from config.errors import ParseError
from parsers import archive, outlook, tnef
from parsers.items import ItemFile, MailItem
from parsers.names import sanitise_filename, unique_filename
from parsers.records import Attachment, Limits
from parsers.sniff import EML, OUTLOOK, TNEF, ZIP, sniff_type

# Attached messages inside attached messages: beyond this they are kept but not opened.
MAX_MESSAGE_DEPTH = 8
_EXTENSIONS = {"application/octet-stream": ".bin", "text/plain": ".txt", EML: ".eml",
               "application/vnd.ms-outlook": ".msg", TNEF: ".dat", "image/jpeg": ".jpg"}


@dataclass
class Container:
    """Names already given inside one container, so that two files never share a name."""

    path: tuple[str, ...]
    taken: set[str] = field(default_factory=set)
    count: int = 0
    forwarded: int = 0

    def name(self, wanted: str | None, content_type: str) -> str:
        """Return a sanitised, unique name; a nameless file gets 'attachment-N.ext'."""
        self.count += 1
        fallback = f"attachment-{self.count}{extension_for(content_type)}"
        chosen = unique_filename(sanitise_filename(wanted, fallback), self.taken)
        self.taken.add(chosen)
        return chosen

    def forwarded_name(self, wanted: str | None) -> str:
        """Return the name of an attached message: its own name, else 'forwarded-N.eml'."""
        self.forwarded += 1
        fallback = f"forwarded-{self.forwarded}.eml"
        name = sanitise_filename(wanted, fallback)
        if not name.lower().endswith((".eml", ".msg")):
            name += ".eml"
        chosen = unique_filename(name, self.taken)
        self.taken.add(chosen)
        return chosen


def extension_for(content_type: str) -> str:
    """Return a file extension for a MIME type ('.pdf'), '.bin' when none is known."""
    known = _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type)
    return known or ".bin"


def bytes_to_attachment(data: bytes, name: str, declared: str, path: tuple[str, ...],
                        limits: Limits, content_type: str | None = None) -> Attachment:
    """Build an attachment record: sniffed type, hash, size, and 'too_large' past the limit."""
    sniffed = content_type or sniff_type(data, name, declared)
    attachment = Attachment(filename=name, declared_type=declared or "", content_type=sniffed,
                            data=data, sha256=hashlib.sha256(data).hexdigest(),
                            size=len(data), path=path)
    if len(data) > limits.max_attachment_bytes:
        return replace(attachment, error="too_large", error_detail=(
            f"{len(data)} bytes, more than the limit of {limits.max_attachment_bytes}"))
    return attachment


def expand(attachment: Attachment, limits: Limits, zip_depth: int = 0,
           message_depth: int = 0) -> list[Attachment]:
    """Return the attachment, then every file inside it if it is a container we open."""
    if attachment.error is not None:
        return [attachment]
    kind = attachment.content_type
    if kind == ZIP:
        return _expand_zip(attachment, limits, zip_depth, message_depth)
    if kind in (TNEF, OUTLOOK):
        return _expand_item(attachment, limits, zip_depth, message_depth)
    return [attachment]


def _expand_zip(attachment: Attachment, limits: Limits, zip_depth: int,
                message_depth: int) -> list[Attachment]:
    """Open a zip archive one level down, unless it is nested too deep or is a bomb."""
    if zip_depth >= limits.zip_max_depth:
        return [replace(attachment, error="too_deep", error_detail=(
            f"archive nested {zip_depth + 1} deep, more than the limit of "
            f"{limits.zip_max_depth}"))]
    unpacked = archive.zip_to_members(attachment.data, limits)
    if unpacked.error is not None:
        return [replace(attachment, error=unpacked.error, error_detail=unpacked.error_detail)]
    inside = Container((*attachment.path, attachment.filename))
    found = [attachment]
    for member in unpacked.members:
        child = _member_attachment(member, inside, limits)
        found.extend(expand(child, limits, zip_depth + 1, message_depth))
    return found


def _member_attachment(member: archive.Member, inside: Container,
                       limits: Limits) -> Attachment:
    """Turn one archive member into an attachment, keeping why it could not be read."""
    sniffed = sniff_type(member.data, member.name)
    name = inside.name(member.name, sniffed)
    child = bytes_to_attachment(member.data, name, "", inside.path, limits, sniffed)
    if member.error is not None:
        child = replace(child, error=member.error, error_detail=member.error_detail)
    return child


def _expand_item(attachment: Attachment, limits: Limits, zip_depth: int,
                 message_depth: int) -> list[Attachment]:
    """Open a winmail.dat or an attached Outlook item and list the files it carries."""
    if message_depth >= MAX_MESSAGE_DEPTH:
        return [replace(attachment, error="too_deep", error_detail=(
            f"attached messages nested more than {MAX_MESSAGE_DEPTH} deep"))]
    try:
        item = (tnef.tnef_to_item(attachment.data) if attachment.content_type == TNEF
                else outlook.msg_to_item(attachment.data))
    except ParseError as exc:
        return [replace(attachment, error="broken", error_detail=exc.detail)]
    inside = Container((*attachment.path, attachment.filename))
    return [attachment, *item_files_to_attachments(item.files, inside, limits, zip_depth,
                                                   message_depth + 1)]


def item_files_to_attachments(files: tuple[ItemFile, ...], inside: Container, limits: Limits,
                              zip_depth: int = 0, message_depth: int = 0) -> list[Attachment]:
    """Turn the files of an Outlook or TNEF item into attachments, opening containers."""
    found: list[Attachment] = []
    for item_file in files:
        if item_file.item is not None:
            found.extend(_embedded_item(item_file, inside, limits, message_depth))
            continue
        sniffed = sniff_type(item_file.data, item_file.name, item_file.declared_type)
        name = inside.name(item_file.name, sniffed)
        child = bytes_to_attachment(item_file.data, name, item_file.declared_type,
                                    inside.path, limits, sniffed)
        found.extend(expand(child, limits, zip_depth, message_depth))
    return found


def _embedded_item(item_file: ItemFile, inside: Container, limits: Limits,
                   message_depth: int) -> list[Attachment]:
    """An Outlook item attached to an item becomes a .eml attachment plus its own files."""
    assert item_file.item is not None
    embedded = item_file.item
    name = inside.forwarded_name(item_file.name or embedded.subject or None)
    rendered = item_to_eml(embedded)
    attachment = bytes_to_attachment(rendered, name, "message/rfc822", inside.path, limits,
                                     content_type=EML)
    if message_depth >= MAX_MESSAGE_DEPTH:
        return [replace(attachment, error="too_deep", error_detail=(
            f"attached messages nested more than {MAX_MESSAGE_DEPTH} deep"))]
    deeper = Container((*inside.path, name))
    return [attachment, *item_files_to_attachments(embedded.files, deeper, limits, 0,
                                                   message_depth + 1)]


def item_to_eml(item: MailItem) -> bytes:
    """Render an Outlook item as an RFC 5322 message, so reviewers can open it anywhere."""
    message = EmailMessage()
    _set_header(message, "From", item.sender or item.sender_name)
    _set_header(message, "To", ", ".join(item.to))
    _set_header(message, "Cc", ", ".join(item.cc))
    _set_header(message, "Subject", item.subject)
    _set_header(message, "Date", format_datetime(item.date) if item.date else None)
    _set_header(message, "Message-ID", f"<{item.message_id.strip('<>')}>"
                if item.message_id else None)
    message.set_content(item.body_text or "")
    if item.body_html:
        message.add_alternative(item.body_html, subtype="html")
    for item_file in item.files:
        _attach_to_eml(message, item_file)
    try:
        return message.as_bytes()
    except (UnicodeError, ValueError):
        # A header that 7-bit encoding cannot carry (a raw non-ASCII address) goes as UTF-8.
        return message.as_bytes(policy=SMTPUTF8)


def _set_header(message: EmailMessage, name: str, value: str | None) -> None:
    """Set a header when there is a value; a value the header class refuses is left out."""
    if not value:
        return
    try:
        message[name] = value.replace("\r", " ").replace("\n", " ")
    except (ValueError, TypeError, IndexError):
        return


def _attach_to_eml(message: EmailMessage, item_file: ItemFile) -> None:
    """Attach one file (or a nested item, rendered in turn) to a rendered message."""
    name = sanitise_filename(item_file.name, "attachment")
    data = item_file.data
    if item_file.item is not None:
        data = item_to_eml(item_file.item)
        name = name if name.lower().endswith(".eml") else f"{name}.eml"
    message.add_attachment(data, maintype="application", subtype="octet-stream",
                           filename=name)
