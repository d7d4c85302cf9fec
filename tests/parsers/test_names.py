"""File names from senders: what a reviewer sees and what reaches the disk."""

from __future__ import annotations

import unicodedata

import pytest

from parsers.names import MAX_NAME_BYTES, sanitise_filename, unique_filename


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/absolute/path/form.pdf", "form.pdf"),
        ("a\r\nb.pdf", "ab.pdf"),
        ("nul\x00byte.pdf", "nulbyte.pdf"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1.pdf", "_LPT1.pdf"),
        (".htaccess", "htaccess"),
        ("...", "fallback.bin"),
        ("form.pdf.", "form.pdf"),
        ('what?"<>|*:.pdf', "what_______.pdf"),
        # Right-to-left override makes "evil\u202efdp.exe" look like "evilexe.pdf".
        ("evil\u202efdp.exe", "evilfdp.exe"),
        ("  spaced \t name .pdf ", "spaced name .pdf"),
    ],
)
def test_hostile_names_become_safe(hostile: str, shown: str) -> None:
    assert sanitise_filename(hostile, "fallback.bin") == shown


@pytest.mark.parametrize("empty", [None, "", "   ", "\r\n", "/", "../"])
def test_empty_names_take_the_fallback(empty: str | None) -> None:
    assert sanitise_filename(empty, "attachment-1.pdf") == "attachment-1.pdf"


def test_name_is_never_empty_even_with_a_useless_fallback() -> None:
    assert sanitise_filename("..", "..") == "attachment"


def test_unicode_is_normalised_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Formulaire_démande.pdf")
    result = sanitise_filename(decomposed, "x")
    assert result == "Formulaire_démande.pdf"
    assert unicodedata.is_normalized("NFC", result)


def test_long_names_are_capped_and_keep_their_extension() -> None:
    result = sanitise_filename("é" * 400 + ".docx", "x")
    assert result.endswith(".docx")
    assert len(result.encode("utf-8")) <= MAX_NAME_BYTES
    # No character was cut in half.
    assert result.encode("utf-8").decode("utf-8") == result


def test_a_long_tail_after_a_dot_is_not_taken_for_an_extension() -> None:
    result = sanitise_filename("report." + "x" * 300, "x")
    assert len(result.encode("utf-8")) <= MAX_NAME_BYTES
    assert result.startswith("report.")


def test_ordinary_names_are_left_alone() -> None:
    assert sanitise_filename("Part 1 – CardioFlow (signed).pdf", "x") == (
        "Part 1 – CardioFlow (signed).pdf")


def test_unique_filename_numbers_duplicates_before_the_extension() -> None:
    taken = {"scan.pdf", "scan-2.pdf", "README"}
    assert unique_filename("scan.pdf", taken) == "scan-3.pdf"
    assert unique_filename("README", taken) == "README-2"
    assert unique_filename("other.pdf", taken) == "other.pdf"
