"""File names from senders made safe to show, store and write to disk."""

from __future__ import annotations

import re
import unicodedata

# Byte budget of a name: most file systems allow 255 bytes; leave room for a dedup suffix.
MAX_NAME_BYTES = 200
# An extension longer than this is more likely part of the name than a real extension.
_MAX_EXT_CHARS = 16
_LAST_RESORT = "attachment"

# Characters Windows refuses in names (the reviewers' desktops), and path separators anywhere.
_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.I)
_SPACES = re.compile(r"\s+")


def sanitise_filename(name: str | None, fallback: str) -> str:
    """Return a safe, never-empty file name: last path part, no control chars, capped length."""
    cleaned = _clean(name or "")
    if cleaned:
        return cleaned
    return _clean(fallback) or _LAST_RESORT


def _clean(name: str) -> str:
    """Apply every rule; an empty result means nothing usable was left."""
    text = unicodedata.normalize("NFC", name)
    text = "".join(ch for ch in text if not _is_invisible(ch))
    text = _last_path_part(text)
    text = _FORBIDDEN.sub("_", text)
    text = _SPACES.sub(" ", text).strip()
    # Leading dots hide files and "..", trailing dots and spaces are dropped by Windows.
    text = text.lstrip(".").rstrip(". ").strip()
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    return _cap(text)


def _is_invisible(ch: str) -> bool:
    """Control and format characters (CR, LF, NUL, bidi overrides) never belong in a name."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _last_path_part(text: str) -> str:
    """Keep what follows the last slash or backslash, so no name can climb directories."""
    return re.split(r"[/\\]", text)[-1]


def _cap(text: str) -> str:
    """Shorten the stem until the UTF-8 name fits the budget, keeping a plausible extension."""
    if len(text.encode("utf-8")) <= MAX_NAME_BYTES:
        return text
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXT_CHARS:
        stem, ext = text, ""
    suffix = f".{ext}" if ext else ""
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    short = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(". ")
    return short + suffix


def unique_filename(name: str, taken: set[str]) -> str:
    """Return name, or name with '-2', '-3' ... before the extension if already taken."""
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    number = 2
    while f"{stem}-{number}{suffix}" in taken:
        number += 1
    return f"{stem}-{number}{suffix}"
