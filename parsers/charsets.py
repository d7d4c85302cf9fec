"""Bytes to text under any declared, misdeclared or missing charset.

Mail declares charsets loosely: names Python does not know (``ks_c_5601-1987`` variants,
``x-unknown``), labels narrower than the bytes (``iso-8859-1`` for Windows-1252 quotes),
or none at all. Decoding never fails here: declared, then UTF-8, then Windows-1252, then
Latin-1 (which maps every byte), and the caller learns when a fallback was needed.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# Labels mail software writes that Python lacks, or whose real-world bytes are a superset
# (the WHATWG encoding standard maps these the same way, because that is what senders mean).
_ALIASES: dict[str, str] = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874",
    "x-mac-roman": "mac-roman",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "tis-620": "cp874",
}

FALLBACKS: tuple[str, ...] = ("utf-8", "cp1252", "latin-1")


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, the codec that worked, and a note when it was a fallback."""

    text: str
    charset: str
    defect: str | None = None


def canonical_charset(name: str | None) -> str | None:
    """Return a Python codec name for a declared charset label, or None if unusable."""
    if not name:
        return None
    label = name.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # ValueError: a NUL inside the label
        return None
    # Bytes-to-bytes codecs (base64, zlib, rot13) are not charsets: a sender cannot pick them.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def bytes_to_text(data: bytes, declared: str | None = None) -> Decoded:
    """Decode bytes with the declared charset, else UTF-8, else Windows-1252, else Latin-1."""
    codec = canonical_charset(declared)
    if codec is not None:
        text = _try_decode(data, codec)
        if text is not None:
            return Decoded(text, codec)
    for fallback in FALLBACKS:
        text = _try_decode(data, fallback) or _mostly_utf8(data, fallback)
        if text is not None:
            return Decoded(text, fallback, _fallback_note(declared, codec, fallback, data))
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _mostly_utf8(data: bytes, codec: str) -> str | None:
    """Accept UTF-8 with a few broken sequences (a truncated name, one bad byte).

    Legacy 8-bit text read as UTF-8 breaks at nearly every non-ASCII byte; real UTF-8 with
    a flaw keeps far more good characters than bad ones.
    """
    if codec != "utf-8":
        return None
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return text if good >= 4 * bad else None


def _try_decode(data: bytes, codec: str) -> str | None:
    """Return the strict decoding, or None when the bytes do not fit the codec."""
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _fallback_note(declared: str | None, codec: str | None, used: str, data: bytes) -> str | None:
    """Describe a fallback worth reporting; plain ASCII under no label is not a defect."""
    if not declared:
        return None if data.isascii() else f"undeclared charset; decoded as {used}"
    if codec is None:
        return f"unknown charset {declared!r}; decoded as {used}"
    return f"bytes do not match charset {declared!r}; decoded as {used}"
