"""Folding of printed and rule-file text: the per-character table gives the whole-text NFKD."""

from __future__ import annotations

import unicodedata

import pytest

from config.text import fold, strip_accents


def _whole_text(text: str) -> str:
    """The definition: NFKD of the whole text (ligatures first), combining marks dropped."""
    ligatures = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O",
                               "ł": "l", "Ł": "L", "đ": "d", "’": "'"})
    decomposed = unicodedata.normalize("NFKD", text.translate(ligatures))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@pytest.mark.parametrize("text", [
    "Nom du dispositif médical", "Œuvre naïve, façade", "Straße Ærø Łódź", "ﬁle № ½ ²",
    "e\u0301 a\u0308\u0323", "한국어 Ελληνικά", "plain ascii label", "",
])
def test_strip_accents_is_nfkd_of_the_whole_text(text: str) -> None:
    assert strip_accents(text) == _whole_text(text)


def test_every_character_folds_as_in_context() -> None:
    # Each character alone, after a letter and before a combining accent: no difference.
    chars = [chr(c) for c in range(0x20, 0x3000) if not 0xD800 <= c < 0xE000]
    for c in chars:
        for text in (c, f"a{c}", f"{c}\u0301"):
            assert strip_accents(text) == _whole_text(text), hex(ord(c))


def test_fold_of_a_french_label() -> None:
    assert fold("  Numéro de série (UDI) :") == "numero de serie udi"
