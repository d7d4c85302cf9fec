"""How printed text and rule-file text are compared: one folding for labels on both sides."""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w]+|_+")
_SPACES = re.compile(r"\s+")
# Letters that NFKD does not decompose but readers treat as plain Latin.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O",
                            "ł": "l", "Ł": "L", "đ": "d", "’": "'"})


def strip_accents(text: str) -> str:
    """Return the text without combining marks (é -> e, ä -> a)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Return the matching form of a label: no case, accents or punctuation, single spaces."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", strip_accents(text).casefold())).strip()


def collapse(text: str) -> str:
    """Trim and collapse runs of whitespace to one space."""
    return _SPACES.sub(" ", text).strip()
