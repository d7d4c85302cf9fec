"""How printed text and rule-file text are compared: one folding for labels on both sides."""

from __future__ import annotations

import re
import unicodedata

# A run of anything but letters and digits (whitespace, punctuation, underscores) becomes one
# space in a single pass: a second pass collapsing the spaces cost as much again.
_PUNCT = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")
# Letters that NFKD does not decompose but readers treat as plain Latin.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O",
                            "ł": "l", "Ł": "L", "đ": "d", "’": "'"})


class _PlainLetters(dict[int, str]):
    """Each character's plain form, worked out the first time it is met and kept.

    NFKD decomposes character by character (composition is no part of it), so folding each
    character on its own gives the same text as folding the whole; label matching folds the
    same few hundred characters millions of times, and a table lookup is what it then costs.
    """

    def __missing__(self, code: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(code).translate(_LIGATURES))
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
        self[code] = plain
        return plain


_PLAIN = _PlainLetters()


def strip_accents(text: str) -> str:
    """Return the text without combining marks (é -> e, ä -> a)."""
    if text.isascii():  # nothing to decompose, no ligature: most printed labels
        return text
    return text.translate(_PLAIN)


def fold(text: str) -> str:
    """Return the matching form of a label: no case, accents or punctuation, single spaces."""
    return _PUNCT.sub(" ", strip_accents(text).casefold()).strip()


def collapse(text: str) -> str:
    """Trim and collapse runs of whitespace to one space."""
    return _SPACES.sub(" ", text).strip()
