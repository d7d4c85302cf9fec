"""The applicant's language (EN, FR, NL or DE): the acknowledgement answers in it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from triage.records import Decision

DEFAULT_LANGUAGE = "en"
_CODES = {Language.ENGLISH: "en", Language.FRENCH: "fr", Language.DUTCH: "nl",
          Language.GERMAN: "de"}
# Confidences from a few words are noisy: a text's vote grows with its length up to this
# many letters, then stays flat (a long attachment must not drown the sender's own words).
_FULL_VOTE_LETTERS = 80
_MAX_CHARS = 4000  # lingua is accurate well before this; longer texts only cost time
# Low-accuracy mode guesses wildly below this (measured: 'Hello' or 'Re: Test' as French);
# such texts do not vote, and a message with nothing longer gets the default language.
_MIN_LETTERS = 20
_MIN_SCORE = 0.15  # below this total nothing really decided


@cache  # `run` builds it in a thread while mail is taken: two builds at worst, one kept
def _detector() -> LanguageDetector:
    """Build the detector once per process, on first use.

    Low-accuracy mode: its trigram models take 9 MB where high-accuracy mode takes 148 MB,
    which alone would put the intake process over its memory budget. On the labelled set
    both modes decide 60/60 messages alike; they differ only on texts of a few words,
    which ``_MIN_LETTERS`` keeps from voting (docs/benchmarks.md has the comparison).
    """
    return LanguageDetectorBuilder.from_languages(*_CODES).with_low_accuracy_mode().build()


def detect_language(texts: Sequence[str], weights: Sequence[float] | None = None,
                    names: Sequence[str] | None = None) -> Decision:
    """Return the most likely of en/fr/nl/de over weighted texts; "en" when none decides."""
    weights = weights if weights is not None else [1.0] * len(texts)
    names = names if names is not None else [f"text {i + 1}" for i in range(len(texts))]
    totals = dict.fromkeys(_CODES.values(), 0.0)
    reasons: list[str] = []
    for text, weight, name in zip(texts, weights, names, strict=True):
        vote = _vote(text, weight)
        if vote:
            best = max(vote, key=lambda code: vote[code])
            reasons.append(f"{name}: {best} {vote[best]:.2f}")
            for code, score in vote.items():
                totals[code] += score
    return _decide(totals, reasons)


def _vote(text: str, weight: float) -> dict[str, float]:
    """Return each language's weighted confidence for one text (empty if too short)."""
    letters = _letters(text[:_MAX_CHARS])
    if letters < _MIN_LETTERS or weight <= 0:
        return {}
    strength = weight * min(1.0, letters / _FULL_VOTE_LETTERS)
    values = _detector().compute_language_confidence_values(text[:_MAX_CHARS])
    return {_CODES[v.language]: strength * v.value for v in values}


def _letters(text: str) -> int:
    """Count the text's letters, stopping at _FULL_VOTE_LETTERS (more change no vote)."""
    # Counting all 4,000 characters of every text was 4 % of the intake process's time.
    count = 0
    for ch in text:
        if ch.isalpha():
            count += 1
            if count == _FULL_VOTE_LETTERS:
                break
    return count


def _decide(totals: dict[str, float], reasons: list[str]) -> Decision:
    """Pick the highest total, or the default with the reason why."""
    best = max(totals, key=lambda code: totals[code])
    if totals[best] < _MIN_SCORE:
        return Decision(DEFAULT_LANGUAGE, (*reasons, f"no text decides: default "
                                                     f"{DEFAULT_LANGUAGE}"))
    ranking = ", ".join(f"{c} {s:.2f}" for c, s in sorted(totals.items(), key=lambda i: -i[1])
                        if s >= 0.01)
    return Decision(best, (*reasons, f"total: {ranking}"))
