"""Header values as people read them: raw 8-bit bytes recovered, folds undone, RFC 2047
encoded words decoded (split multi-byte characters included), addresses and ids parsed.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from parsers.charsets import bytes_to_text

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n[ \t]|\r[ \t]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_ANGLE_ADDRESS = re.compile(r"<\s*([^<>\s@]+@[^<>\s]+)\s*>")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def header_to_text(raw: str, defects: list[str] | None = None) -> str:
    """Decode a raw header value into one line of text; charset trouble goes into defects."""
    text = _recover_8bit(raw, defects)
    text = _LINE_BREAK.sub("", _FOLD.sub(" ", text))
    return _decode_encoded_words(text, defects)


def header_to_unicode(raw: str) -> str:
    """Recover raw 8-bit bytes in a header value as text, leaving encoded words alone."""
    return _recover_8bit(raw, None)


def _recover_8bit(raw: str, defects: list[str] | None) -> str:
    """Undo the parser's surrogate escapes: raw 8-bit header bytes are UTF-8 or legacy."""
    if raw.isascii():
        return raw
    data = raw.encode("utf-8", "surrogateescape")
    decoded = bytes_to_text(data)
    # Raw UTF-8 is allowed (RFC 6532); only a legacy guess is worth reporting.
    if decoded.defect and decoded.charset != "utf-8" and defects is not None:
        defects.append(f"raw 8-bit header: {decoded.defect}")
    return decoded.text


def _decode_encoded_words(text: str, defects: list[str] | None) -> str:
    """Decode every encoded word; whitespace between two encoded words is not shown."""
    pieces: list[tuple[str | None, bytes | str]] = []  # (charset, bytes) or (None, text)
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position:match.start()]
        if between and not (between.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, between))
        pieces.append((match.group(1), _word_bytes(match.group(2), match.group(3))))
        position = match.end()
    if position == 0:
        return text
    pieces.append((None, text[position:]))
    return "".join(_join_runs(pieces, defects))


def _word_bytes(encoding: str, payload: str) -> bytes:
    """Decode the B or Q payload of one encoded word, leniently."""
    data = payload.encode("ascii", "replace")
    if encoding in "bB":
        try:
            return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
        except binascii.Error:
            return data
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data.replace(b"_", b" "))


def _join_runs(pieces: list[tuple[str | None, bytes | str]],
               defects: list[str] | None) -> list[str]:
    """Concatenate neighbouring words of one charset before decoding (split characters)."""
    out: list[str] = []
    run_charset: str | None = None
    run = b""
    for charset, value in pieces:
        if isinstance(value, bytes) and charset == run_charset:
            run += value
            continue
        if run_charset is not None:
            out.append(_word_text(run, run_charset, defects))
        run_charset, run = (charset, value) if isinstance(value, bytes) else (None, b"")
        if isinstance(value, str):
            out.append(value)
    if run_charset is not None:
        out.append(_word_text(run, run_charset, defects))
    return out


def _word_text(data: bytes, charset: str, defects: list[str] | None) -> str:
    """Decode encoded-word bytes; RFC 2231 allows a language after '*' in the charset."""
    decoded = bytes_to_text(data, charset.split("*", 1)[0])
    if decoded.defect and defects is not None:
        defects.append(f"encoded word: {decoded.defect}")
    return _LINE_BREAK.sub(" ", decoded.text)


def header_to_addresses(raw: str) -> list[tuple[str, str]]:
    """Return (display name, lower-case address) pairs; names decoded, empty ones dropped."""
    text = _LINE_BREAK.sub("", _FOLD.sub(" ", _recover_8bit(raw, None)))
    pairs = getaddresses([text])
    return [(header_to_text(name).strip(), address.strip().lower())
            for name, address in pairs if "@" in address]


def header_to_sender(raw: str) -> tuple[str | None, str | None]:
    """Return the From address and name; an address in angle brackets wins over look-alikes."""
    pairs = header_to_addresses(raw)
    bracketed = _ANGLE_ADDRESS.search(_recover_8bit(raw, None))
    address = bracketed.group(1).lower() if bracketed else None
    name = next((n for n, a in pairs if a == address), None) if address else None
    if address is None and pairs:
        name, address = pairs[0]
    return address, (name or None)


def header_to_ids(value: str | None) -> tuple[str, ...]:
    """Return message ids without angle brackets, in order (bare ids when none are bracketed)."""
    if not value:
        return ()
    found = _MESSAGE_ID.findall(value)
    return tuple(found) if found else tuple(value.split())


def header_to_datetime(value: str | None) -> datetime | None:
    """Parse a Date header; a date without zone is taken as UTC, an unreadable one as None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def header_to_return_path(value: str | None) -> str | None:
    """Return the Return-Path address: '' for the null path '<>', None when absent."""
    if value is None:
        return None
    stripped = value.strip().strip("<>").strip()
    return stripped.lower()


def header_block(data: bytes) -> bytes:
    """Return the header block of a raw message: the bytes up to the first empty line."""
    end = _HEADER_END.search(data)
    return data if end is None else data[:end.end()]


def raw_message_id(data: bytes) -> str | None:
    """Return a raw message's Message-ID without angle brackets, None when there is none.

    Only the header block is parsed: the whole of a 70 MB message would be copied twice
    as text by the parser, to read one header.
    """
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(header_block(data)).get("Message-ID")
    except Exception:  # a header the parser rejects still leaves the content hash
        return None
    text = str(value or "").strip().strip("<>").strip()
    return text or None


def raw_sender(data: bytes) -> str | None:
    """Return a raw message's From address, lower-cased, None when there is none.

    Only the header block is parsed (see ``raw_message_id``).
    """
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(header_block(data)).get("From")
    except Exception:  # a header the parser rejects: no sender to compare
        return None
    address = header_to_sender(str(value))[0] if value else None
    return address.strip().lower() if address else None
