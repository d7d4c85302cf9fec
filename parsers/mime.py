"""E-mail bytes to a ``ParsedMessage``: headers, readable body, and attachments at any depth.

Parsed with the standard library's compat32 parser, the most forgiving with broken mail.
mail-parser was measured for this job and not kept: it runs the same stdlib parse and then
keeps a base64 copy of every attachment (a 50 MB attachment took 613 MB against 607 MB for
the bare parse), and it flattens the tree, losing which files sit inside forwarded messages.
Large base64 payloads bypass the line-based parser altogether (see ``parsers.blobs``).
"""

from __future__ import annotations

import binascii
import contextlib
import quopri
import re
from collections.abc import Callable
from dataclasses import replace
from email.errors import MessageError
from email.message import Message
from email.parser import BytesParser, Parser
from email.policy import compat32
from pathlib import PurePath

from config.errors import ParseError
from parsers import outlook, tnef
from parsers.attachments import MAX_MESSAGE_DEPTH, Container, bytes_to_attachment, expand
from parsers.blobs import CutMessage, cut_large_payloads
from parsers.charsets import bytes_to_text
from parsers.headers import header_to_text, header_to_unicode
from parsers.html import html_to_text
from parsers.items import MailItem
from parsers.parsed import headers_to_parsed, item_to_message
from parsers.records import Attachment, Limits, ParsedMessage
from parsers.sniff import EML, OLE_MAGIC, OUTLOOK, TNEF, TNEF_MAGIC, looks_like_text, sniff_type

# Message types that carry a whole message: opened as forwarded messages.
_FORWARDS = frozenset({"message/rfc822", "message/news", "message/global"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_HEADER_START = re.compile(r"\s*[A-Za-z0-9-]+:")
_MESSAGE_EXTENSIONS = frozenset({"", ".eml", ".txt", ".mbox", ".mim", ".mht"})


def message_to_parts(data: bytes, limits: Limits = Limits()) -> ParsedMessage:  # noqa: B008
    """Parse e-mail bytes; raise ParseError('malformed_message') only if nothing is readable."""
    if not data.strip():
        raise ParseError("malformed_message", "empty input: no headers and no body")
    if data.startswith((OLE_MAGIC, TNEF_MAGIC)):
        return file_to_message(data, "", limits)
    cut = cut_large_payloads(data)
    try:
        message = BytesParser(policy=compat32).parsebytes(cut.data)
        if not message.keys() and not looks_like_text(data):
            raise ParseError("malformed_message", "neither headers nor readable text: not an "
                             "e-mail")
        return _Reader(cut, limits).to_parsed(message)
    except (ParseError, MemoryError):
        raise
    except Exception as exc:
        # The corpus of broken mail found none, but a message no parser path foresaw must
        # still reach the ledger as a failed message with a reason, not as a stray crash.
        raise ParseError("malformed_message", f"{type(exc).__name__}: {exc}") from exc


def file_to_message(data: bytes, filename: str, limits: Limits = Limits()) -> ParsedMessage:  # noqa: B008
    """Parse a mail file by its bytes and name: .eml/.txt, Outlook .msg, or TNEF."""
    extension = PurePath(filename).suffix.lower()
    if data.startswith(OLE_MAGIC) or extension == ".msg":
        return _item_file_to_message(outlook.msg_to_item, data, OUTLOOK, limits)
    if data.startswith(TNEF_MAGIC) or extension in (".tnef", ".dat"):
        return _item_file_to_message(tnef.tnef_to_item, data, TNEF, limits)
    if extension not in _MESSAGE_EXTENSIONS and not looks_like_text(data):
        raise ParseError("unsupported_format", f"{filename!r} is not an e-mail file")
    return message_to_parts(data, limits)


def _item_file_to_message(reader: Callable[[bytes], MailItem], data: bytes,
                          content_type: str, limits: Limits) -> ParsedMessage:
    """Read an Outlook or TNEF file; any failure is reported as a ParseError."""
    try:
        return item_to_message(reader(data), content_type, limits)
    except (ParseError, MemoryError):
        raise
    except Exception as exc:
        # As for e-mails: an unforeseen failure still reaches the ledger with a reason.
        raise ParseError("malformed_message", f"{type(exc).__name__}: {exc}") from exc


class _Reader:
    """Walks one parsed message tree, collecting body text and attachments."""

    def __init__(self, cut: CutMessage, limits: Limits) -> None:
        self.cut = cut
        self.limits = limits
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
        self.root: Message | None = None

    def to_parsed(self, message: Message) -> ParsedMessage:
        """Walk the tree and assemble the record."""
        top = message.get_content_type()
        self.root = message
        self._visit(message, Container(()), depth=0, body=True)
        html = "\n".join(self.html) or None
        body = "\n\n".join(t.strip() for t in self.plain if t.strip())
        if not body and html:
            body = html_to_text(html)
        # raw_items: the parser's own decoding turns 8-bit header bytes into U+FFFD.
        return headers_to_parsed(list(message.raw_items()), top, body, html,
                                 tuple(self.attachments), self.defects)

    def _visit(self, part: Message, container: Container, depth: int, body: bool) -> None:
        """Dispatch one part: forwarded message, multipart, body text or attachment."""
        self._note_defects(part)
        kind = part.get_content_type()
        payload = _raw_payload(part)
        if kind in _FORWARDS and isinstance(payload, list) and payload \
                and isinstance(payload[0], Message):
            self._forwarded(part, payload[0], container, depth, body and part is self.root)
        elif kind.startswith("multipart/"):
            self._multipart(part, payload, container, depth, body)
        elif kind in _BODY_TYPES and not _is_attachment(part):
            if body:
                (self.plain if kind == "text/plain" else self.html).append(self._text(part))
        else:
            self._leaf(part, container, depth)

    def _multipart(self, part: Message, payload: object, container: Container, depth: int,
                   body: bool) -> None:
        """Visit the parts; a multipart in which no part was found is read as plain text."""
        if isinstance(payload, list):
            extra = _epilogue_parts(part)
            if extra:
                self.defects.append(f"{len(extra)} part(s) after the closing boundary, kept")
            for child in payload + extra:
                if isinstance(child, Message):
                    self._visit(child, container, depth, body)
        elif body and isinstance(payload, str) and payload.strip():
            self.plain.append(self._text(part))

    def _forwarded(self, part: Message, inner: Message, container: Container, depth: int,
                   whole_body: bool) -> None:
        """Keep a forwarded message as a .eml attachment, then read the files inside it.

        When the whole message is a forward (top-level message/rfc822), its text is the body.
        """
        name = container.forwarded_name(_filename(part, self.defects))
        data = self.cut.restore(_serialised_message(inner))
        attachment = bytes_to_attachment(data, name, "message/rfc822", container.path,
                                         self.limits, content_type=EML)
        self.attachments.append(attachment)
        if depth + 1 > MAX_MESSAGE_DEPTH:
            self.attachments[-1] = _too_deep(attachment)
            return
        self._visit(inner, Container((*container.path, name)), depth + 1, whole_body)

    def _leaf(self, part: Message, container: Container, depth: int) -> None:
        """Turn a non-body leaf into an attachment and open it if it is a container."""
        data = self._bytes(part)
        declared = part.get_content_type()
        wanted = _filename(part, self.defects)
        sniffed = sniff_type(data, wanted or "", declared)
        name = container.name(wanted, sniffed)
        attachment = bytes_to_attachment(data, name, declared, container.path, self.limits,
                                         content_type=sniffed)
        attachment = replace(attachment, disposition=_disposition(part),
                             content_id=_content_id(part))
        self.attachments.extend(expand(attachment, self.limits, 0, depth))

    def _bytes(self, part: Message) -> bytes:
        """Return a part's decoded bytes, restoring any payload cut out before parsing."""
        payload = _raw_payload(part)
        if isinstance(payload, list):
            return self.cut.restore(_serialised_body(part))
        if isinstance(payload, str) and self.cut.holds_tokens(payload):
            cut_payload = payload.encode("ascii", "surrogateescape")
            encoding = part.get("content-transfer-encoding", "")
            if str(encoding).strip().lower() == "base64":
                with contextlib.suppress(binascii.Error):  # else kept undecoded, as below
                    return self.cut.decode_base64(cut_payload)
            return _transfer_decode(self.cut.restore(cut_payload), encoding)
        decoded = part.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else b""

    def _text(self, part: Message) -> str:
        """Decode a body part's text under its declared charset, with fallbacks."""
        decoded = bytes_to_text(self._bytes(part), _charset(part))
        if decoded.defect:
            self.defects.append(f"{part.get_content_type()} body: {decoded.defect}")
        return decoded.text

    def _note_defects(self, part: Message) -> None:
        """Record what the stdlib parser noticed, once per kind and part type."""
        for defect in getattr(part, "defects", []):
            note = f"{type(defect).__name__} in {part.get_content_type()}"
            if note not in self.defects:
                self.defects.append(note)


def _raw_payload(part: Message) -> object:
    """Return the payload as parsed: the list of parts, or the undecoded string.

    ``get_payload()`` would decode 8-bit text with the charset parameter and raises when
    that parameter is RFC 2231-encoded (a tuple); the stored payload is what we need.
    """
    return part._payload  # type: ignore[attr-defined]


def _epilogue_parts(part: Message) -> list[Message]:
    """Parts a broken writer put after the closing boundary (e.g. a reused inner boundary).

    The parser files them under the epilogue; a reader's mail program still shows them.
    """
    boundary = part.get_boundary()
    epilogue = part.epilogue
    if not boundary or not epilogue or f"--{boundary}" not in epilogue:
        return []
    delimiter = re.compile(rf"(?m)^--{re.escape(boundary)}(?:--)?[ \t]*\r?$\n?")
    chunks = [c for c in delimiter.split(epilogue) if _HEADER_START.match(c)]
    parser = Parser(policy=compat32)
    return [parser.parsestr(chunk) for chunk in chunks]


def _too_deep(attachment: Attachment) -> Attachment:
    """Mark a forwarded message nested beyond the limit: kept, not opened."""
    return replace(attachment, error="too_deep", error_detail=(
        f"forwarded messages nested more than {MAX_MESSAGE_DEPTH} deep"))


def _is_attachment(part: Message) -> bool:
    """A text part is a file, not body text, when it says so or carries a file name."""
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or bool(_safe_filename(part))


def _disposition(part: Message) -> str:
    """Return the part's Content-Disposition ("inline", "attachment") or ""."""
    try:
        return (part.get_content_disposition() or "").lower()
    except (ValueError, TypeError, LookupError, UnicodeError):
        return ""


def _content_id(part: Message) -> str | None:
    """Return the part's Content-ID without brackets, or None."""
    value = str(part.get("content-id") or "").strip().strip("<>").strip()
    return value or None


def _safe_filename(part: Message) -> str | None:
    """Return the raw file name parameter, or None when the header cannot be read."""
    try:
        name = _parameter_view(part).get_filename()
    except (ValueError, TypeError, LookupError, UnicodeError):
        return None
    return str(name) if name else None


def _parameter_view(part: Message) -> Message:
    """Copy the two headers that carry file names, with raw 8-bit bytes recovered as text.

    The parser's own view replaces such bytes with U+FFFD before parameters are read.
    """
    view = Message()
    for name, value in part.raw_items():
        if name.lower() in ("content-type", "content-disposition"):
            view[name] = header_to_unicode(value)
    return view


def _filename(part: Message, defects: list[str]) -> str | None:
    """Return the decoded file name (RFC 2231 by the parser, RFC 2047 and 8-bit here)."""
    raw = _safe_filename(part)
    return header_to_text(raw, defects).strip() if raw else None


def _charset(part: Message) -> str | None:
    """Return the declared charset parameter, if readable."""
    try:
        charset = part.get_content_charset()
    except (ValueError, TypeError, LookupError, UnicodeError):
        return None
    return str(charset) if charset else None


def _serialised_message(inner: Message) -> bytes:
    """Return a message's bytes as parsed, or a note when it cannot be written back."""
    try:
        return inner.as_bytes(policy=compat32)
    except (MessageError, TypeError, ValueError, LookupError, UnicodeError) as exc:
        return f"(forwarded message could not be written back: {exc})".encode()


def _serialised_body(part: Message) -> bytes:
    """Return the body of a structured message part (delivery status, headers blocks)."""
    flat = _serialised_message(part)
    for separator in (b"\r\n\r\n", b"\n\n"):
        _head, found, rest = flat.partition(separator)
        if found:
            return rest
    return flat


def _transfer_decode(encoded: bytes, encoding: str) -> bytes:
    """Undo a content-transfer-encoding on restored bytes, leniently."""
    kind = str(encoding).strip().lower()
    if kind == "base64":
        try:
            return binascii.a2b_base64(encoded)
        except binascii.Error:
            return encoded
    if kind == "quoted-printable":
        return quopri.decodestring(encoded)
    return encoded
