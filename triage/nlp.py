"""Finding the rule files' cues in texts with spaCy, one blank pipeline per language.

Pipelines are built once per process (blank French alone takes seconds to load). Phrases and
token patterns go into a span ruler, which keeps overlapping hits (an entity ruler would
drop "compassionate use" inside "request for compassionate use", and both matter).
Identifiers and hyphenated words are matched with regular expressions over the text and
mapped onto tokens with ``doc.char_span``: tokenisers split them differently by language.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import spacy
from spacy.language import Language
from spacy.pipeline import SpanRuler
from spacy.tokens import Doc

from config.triage_rules import Cue, TriageRules
from config.vocabulary import FALLBACK_LANGUAGE, names
from config.vocabulary import Language as Lang
from triage.records import Hit

_SPANS_KEY = "cues"


@dataclass(frozen=True)
class _Span:
    """A cue's match before hits are chosen: ids, label, offsets and the words matched."""

    cue: str
    label: str
    start: int
    end: int
    text: str


# `run` loads the pipelines in a thread of its own while the intake already takes mail: one
# builder at a time, so that a language asked for by both is built once. What is built is
# read without the lock: a message in a language already loaded never waits for another.
_BUILDING = threading.Lock()
_PIPELINES: dict[str, Language] = {}
_RULERS: dict[tuple[str, str, str], SpanRuler] = {}


def blank_pipeline(lang: str) -> Language:
    """Return the blank spaCy pipeline of a language, loaded once per process."""
    code = lang if lang in names(Lang) else FALLBACK_LANGUAGE
    nlp = _PIPELINES.get(code)
    if nlp is None:
        with _BUILDING:
            nlp = _PIPELINES.get(code)
            if nlp is None:
                nlp = _PIPELINES[code] = spacy.blank(code)
    return nlp


def _ruler(lang: str, rules: TriageRules) -> SpanRuler:
    """Return the span ruler of a language for one version of a rule file (built once)."""
    key = (lang, str(rules.path), rules.version)
    ruler = _RULERS.get(key)
    if ruler is None:
        nlp = blank_pipeline(lang)
        with _BUILDING:
            ruler = _RULERS.get(key)
            if ruler is None:
                ruler = SpanRuler(nlp, name="triage_cues", spans_key=_SPANS_KEY,
                                  spans_filter=None, phrase_matcher_attr="LOWER", validate=True,
                                  overwrite=True)
                ruler.add_patterns(list(_ruler_patterns(rules.all_cues())))
                _RULERS[key] = ruler
    return ruler


def _ruler_patterns(cues: tuple[Cue, ...]) -> Iterator[dict[str, Any]]:
    """Turn the cues' phrases and token patterns into span-ruler patterns."""
    for cue in cues:
        for phrase in cue.phrases:
            yield {"label": cue.label, "pattern": phrase, "id": cue.id}
        for tokens in cue.patterns:
            yield {"label": cue.label, "pattern": [dict(t) for t in tokens], "id": cue.id}


def find_cues(text: str, lang: str, rules: TriageRules, where: str) -> tuple[Hit, ...]:
    """Return every cue of the rule file found in the text, each cue once per place."""
    text = text[:rules.max_text_chars]
    if not text.strip():
        return ()
    doc = _ruler(lang, rules)(blank_pipeline(lang).make_doc(text))
    spans = [_Span(s.id_, s.label_, s.start_char, s.end_char, s.text)
             for s in doc.spans[_SPANS_KEY]]
    spans += list(_regex_spans(doc, text, rules.all_cues()))
    return _distinct(where, _without_negated(spans))



def _regex_spans(doc: Doc, text: str, cues: tuple[Cue, ...]) -> Iterator[_Span]:
    """Match the cues' expressions over the doc's text and map them onto whole tokens."""
    # The text itself, not doc.text: spaCy rebuilds that from every token on each read.
    for cue in cues:
        for pattern in cue.regexes:
            for match in pattern.finditer(text):
                span = doc.char_span(match.start(), match.end(), alignment_mode="expand")
                if span is not None:
                    yield _Span(cue.id, cue.label, span.start_char, span.end_char,
                                match.group(0))


def _without_negated(spans: list[_Span]) -> list[_Span]:
    """Drop a hit labelled X that lies inside a hit labelled "not_X" ("not urgent")."""
    negations = [n for n in spans if n.label.startswith("not_")]
    return [s for s in spans
            if not any(s.label == n.label[4:] and n.start <= s.start and s.end <= n.end
                       for n in negations)]


def _distinct(where: str, spans: list[_Span]) -> tuple[Hit, ...]:
    """Keep the first (leftmost, longest) hit of each cue, in text order."""
    chosen: dict[str, Hit] = {}
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if s.cue not in chosen:
            chosen[s.cue] = Hit(s.cue, s.label, s.text, where, s.start, s.end)
    return tuple(sorted(chosen.values(), key=lambda h: h.start))


def strip_quotes(text: str, rules: TriageRules) -> str:
    """Return the sender's own words: the text above the first quoted-message marker."""
    cut = len(text)
    for pattern in rules.quote_separators:
        match = pattern.search(text)
        if match is not None:
            cut = min(cut, match.start())
    return text[:cut]
