"""Printed labels matched by meaning: normalised words, weighted overlap, a score per field.

A printed label rarely repeats a rule's label word for word: an article more or less, a
plural, an abbreviation ('No.', 'Qty'), a compound word ('Contactpersoon'), another word
order. Both sides are reduced to content words (case, accents, punctuation, numbering,
articles and prepositions of EN/FR/NL/DE dropped; French elision; light stemming; the rule
file's synonyms; Dutch and German compounds split into words the labels use; a misspelt word
put right when one known word is close to it, by rapidfuzz), and compared by the overlap of
their words, each weighted by how few fields use it. The best field wins when it is clear of
the others; a weak or tied best is a near miss for ``rules test``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from config.extraction_rules import ExtractionRules, LabelRule
from config.text import fold, strip_accents

# A printed label is taken for a field at this score or above, and only when the next field
# scores at least MARGIN less; below it (down to NEAR) it is a near miss.
ACCEPT = 0.75
MARGIN = 0.05
NEAR = 0.5
# A weaker best is still taken when no other field comes near it.
ACCEPT_ALONE = 0.6
MARGIN_ALONE = 0.1
# A word most labels of a field use is its head word ('address'): a printed label holding
# another field's head word, foreign to a field, is less likely that field's.
_CORE_SHARE = 0.5
_HEAD_FIELDS = 3  # a word many fields use ('name') heads none of them
_FOREIGN_HEAD = 0.2
# Fields within TIE of a best that is not clear are the value's to choose between.
TIE = 0.1
UNDECIDED = 0.55
_MAX_OTHERS = 3
# Bracketed hints are read with the label first; the label without them counts a little less.
_STRIPPED_PENALTY = 0.1
_MAX_LABEL_CHARS = 120

# Articles, prepositions and conjunctions of the four languages: words that never tell a field.
_STOP_TEXT = """
the of a an for to in by on is are be if as at with and or this that which will its it
any le la les l de du des d un une et ou pour par en au aux sur dans est sont ce cette
qui que s son sa ses se ne het een van voor op te door bij met zijn die dat aan uit naar
der die das dem den ein eine eines einer und oder fur von zu im mit am auf ist
"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())
_ENUMERATOR = re.compile(
    r"^\s*(?:\(?[0-9]{1,2}(?:\.[0-9]{1,2})*[.)]?|\(?[a-z][.)]|[ivx]{1,4}[.)]|q\s?\d{1,2}[.):]?)\s+",
    re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_EMAIL_WORD = re.compile(r"\be[\s-]?mail", re.IGNORECASE)
_NUMBER_SIGN = re.compile(r"\bn[°º]|\bnº|#", re.IGNORECASE)


@dataclass(frozen=True)
class LabelHit:
    """The label rule a printed text means, and how sure the match is (0..1).

    ``others`` are the labels of other fields the text comes close to; when the best is not
    clear of them (``decided`` false) only the value can tell which field the label is.
    """

    rule: LabelRule
    score: float
    others: tuple[LabelRule, ...] = ()
    decided: bool = True


@dataclass(frozen=True)
class FieldScore:
    """The best label of one field for a printed text."""

    key: str
    rule: LabelRule
    score: float


@dataclass(frozen=True)
class LabelIndex:
    """The rules' labels as word sets, with word weights and the known vocabulary."""

    labels: tuple[tuple[LabelRule, frozenset[str]], ...]
    by_word: Mapping[str, tuple[int, ...]]
    weights: Mapping[str, float]
    vocabulary: frozenset[str]
    synonyms: Mapping[str, str]
    heaviest: float = 1.0
    average: float = 1.0
    # Each field's words, and the words most of its labels use (its head words: 'address').
    field_words: Mapping[str, frozenset[str]] = field(default_factory=dict)
    core_words: Mapping[str, frozenset[str]] = field(default_factory=dict)


def _stem(word: str) -> str:
    """Plural and inflection endings off, the same way on both sides."""
    for _ in range(2):
        if len(word) > 5 and word.endswith("en"):
            word = word[:-2]
        elif len(word) > 4 and word.endswith(("s", "e", "x")) and not word.endswith("ss"):
            word = word[:-1]
    return word


def raw_words(text: str, synonyms: Mapping[str, str]) -> list[str]:
    """Content words of a text, stemmed and put in their synonyms' canonical form."""
    text = _NUMBER_SIGN.sub(" number ", _EMAIL_WORD.sub("email", strip_accents(text)))
    words = []
    for word in fold(text).split():
        word = synonyms.get(word, word)
        if word in _STOP_WORDS or word.isdigit():
            continue
        stem = _stem(synonyms.get(word, word))
        words.append(_stem(synonyms.get(stem, stem)))  # an inflected synonym ('aanvragende')
    return words


def _split_compound(word: str, vocabulary: frozenset[str],
                    synonyms: Mapping[str, str]) -> tuple[str, ...]:
    """'contactpersoon' -> ('contact', 'persoon') when both halves are words labels use."""
    if len(word) < 8 or word in vocabulary:
        return (word,)
    for cut in range(len(word) - 2, 3, -1):
        head, tail = _canonical(word[:cut], synonyms), word[cut:]
        for rest in (tail, tail[1:] if tail[:1] == "s" else ""):
            rest = _canonical(rest, synonyms) if rest else ""
            if rest and head in vocabulary and rest in vocabulary:
                return head, rest
    return (word,)


def _canonical(word: str, synonyms: Mapping[str, str]) -> str:
    return _stem(synonyms.get(word, word))


def _with_stems(synonyms: Mapping[str, str]) -> dict[str, str]:
    """The synonyms, and their stems mapped to their canonical word's stem."""
    stems = {_stem(word): _stem(canonical) for word, canonical in synonyms.items()}
    return {**stems, **synonyms}


def build_index(rules: ExtractionRules) -> LabelIndex:
    """Word sets of every label, word weights (rarer across fields: heavier), vocabulary."""
    synonyms = _with_stems(rules.synonyms)
    first = {label.id: raw_words(label.text, synonyms) for r in rules.fields for label in r.labels}
    # Canonical words of any length: a compound's parts are long enough as printed
    # ('gebruiks|datum' -> use, date), whatever word they stand for.
    vocabulary = frozenset(w for words in first.values() for w in words)
    labels = tuple((label, frozenset(w for word in first[label.id]
                                     for w in _split_compound(word, vocabulary, synonyms)))
                   for r in rules.fields for label in r.labels)
    fields_of: dict[str, set[str]] = {}
    for label, words in labels:
        for word in words:
            fields_of.setdefault(word, set()).add(label.key)
    total = max(len(rules.fields), 1)
    weights = {w: 1.0 + math.log(total / len(keys)) for w, keys in fields_of.items()}
    by_word: dict[str, list[int]] = {}
    for number, (_, words) in enumerate(labels):
        for word in words:
            by_word.setdefault(word, []).append(number)
    field_words: dict[str, set[str]] = {}
    uses: dict[str, dict[str, int]] = {}
    for label, words in labels:
        field_words.setdefault(label.key, set()).update(words)
        counts = uses.setdefault(label.key, {"": 0})
        counts[""] += 1
        for word in words:
            counts[word] = counts.get(word, 0) + 1
    core = {key: frozenset(w for w, n in counts.items() if w and n >= _CORE_SHARE * counts[""]
                           and len(fields_of[w]) <= _HEAD_FIELDS)
            for key, counts in uses.items()}
    return LabelIndex(labels, {w: tuple(n) for w, n in by_word.items()}, weights,
                      frozenset(fields_of), synonyms, max(weights.values(), default=1.0),
                      sum(weights.values()) / max(len(weights), 1),
                      {k: frozenset(v) for k, v in field_words.items()}, core)


_INDEXES: dict[int, tuple[ExtractionRules, LabelIndex]] = {}


def index_of(rules: ExtractionRules) -> LabelIndex:
    """The label index of a rule set, built once (the rules object is kept with it)."""
    kept = _INDEXES.get(id(rules))
    if kept is None or kept[0] is not rules:
        kept = (rules, build_index(rules))
        _INDEXES[id(rules)] = kept
    return kept[1]


def printed_words(index: LabelIndex, text: str) -> frozenset[str]:
    """The words of a printed text as the index knows them (compounds split, typos mended)."""
    found: set[str] = set()
    for word in raw_words(text, index.synonyms):
        for part in _split_compound(word, index.vocabulary, index.synonyms):
            found.add(_known(index, part))
    return frozenset(found)


def _known(index: LabelIndex, word: str) -> str:
    if word in index.weights or len(word) < 6:
        return word
    return _closest(index.vocabulary, word)


@lru_cache(maxsize=20000)
def _closest(vocabulary: frozenset[str], word: str) -> str:
    best = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=88)
    return str(best[0]) if best else word


def _overlap(index: LabelIndex, printed: frozenset[str], label: frozenset[str]) -> float:
    """Weighted F1 of the shared words."""
    weight = index.weights
    shared = sum(weight.get(w, 1.0) for w in printed & label)
    total = (sum(weight.get(w) or _unknown(index, w) for w in printed)
             + sum(weight.get(w, 1.0) for w in label))
    return 2 * shared / total if total else 0.0


_VALUE_LIKE = re.compile(r"^(?:[a-z]|[ivx]{1,4}|.*\d.*)$")


def _unknown(index: LabelIndex, word: str) -> float:
    """A word no label uses: as heavy as the rarest if it looks like a value ('III', 'C',
    '2b'), else as an average word."""
    return index.heaviest if _VALUE_LIKE.match(word) else index.average


def field_scores(rules: ExtractionRules, text: str) -> list[FieldScore]:
    """Every field a printed text may name, best first, with its best label and score."""
    if not text or len(text) > _MAX_LABEL_CHARS:
        return []
    index = index_of(rules)
    body = _ENUMERATOR.sub("", text, count=1)
    seen = frozenset(fold(body).split())
    full = printed_words(index, body)
    stripped = printed_words(index, _PARENTHESES.sub(" ", body))
    best: dict[str, FieldScore] = {}
    for words, penalty in ((full, 0.0), (stripped, _STRIPPED_PENALTY)):
        heads = {w: key for key, core in index.core_words.items() for w in core & words}
        for number in {n for w in words for n in index.by_word.get(w, ())}:
            label, label_words = index.labels[number]
            score = _overlap(index, words, label_words) - penalty
            score -= _FOREIGN_HEAD * _foreign_heads(index, label.key, heads, words)
            if len(words) < 2 and words != label_words:
                score = min(score, NEAR)  # one word alone must be a label's whole word set
            kept = best.get(label.key)
            score = round(score, 3)
            if kept is None or (score, _printed_in(label, seen)) > (kept.score,
                                                                    _printed_in(kept.rule, seen)):
                best[label.key] = FieldScore(label.key, label, score)
    return sorted(best.values(), key=lambda s: -s.score)


def _printed_in(label: LabelRule, seen: frozenset[str]) -> int:
    """How many of a label's words are printed as they are (of labels that score alike,
    the one in the form's own words is the one to show)."""
    return sum(1 for word in label.folded.split() if word in seen)


def _foreign_heads(index: LabelIndex, key: str, heads: Mapping[str, str],
                   words: frozenset[str]) -> int:
    """Whether printed words are head words of another field and foreign to this one
    ('Address of the legal manufacturer' is no manufacturer_name: 'address' is foreign),
    plus one when none of the field's own head words is printed."""
    own = index.field_words.get(key, frozenset())
    foreign = min(1, sum(1 for word, other in heads.items() if other != key and word not in own))
    # A field whose own head words are all missing, under a label holding a word its labels
    # never use but others do, counts one more ('C. Identification of the device' is no
    # patient's identification).
    core = index.core_words.get(key, frozenset())
    stranger = any(word in index.weights and word not in own for word in words)
    return foreign + (1 if core and not core & words and stranger else 0)


def best_label(rules: ExtractionRules, text: str) -> LabelHit | None:
    """The field a printed text clearly names; a tie the value may settle (not decided);
    else None (too weak)."""
    ranked = field_scores(rules, text)
    if not ranked:
        return None
    best = ranked[0].score
    second = ranked[1].score if len(ranked) > 1 else 0.0
    clear = (best >= ACCEPT and second <= best - MARGIN) or (
        best >= ACCEPT_ALONE and second <= best - MARGIN_ALONE)
    if clear:
        others = tuple(s.rule for s in ranked[1:_MAX_OTHERS + 1] if s.score >= NEAR)
        return LabelHit(ranked[0].rule, best, others)
    if best < UNDECIDED:
        return _combined(rules, text)
    tied = tuple(s.rule for s in ranked[1:_MAX_OTHERS + 1] if s.score >= best - TIE)
    return LabelHit(ranked[0].rule, best, tied, decided=False)


_CONJUNCTION = re.compile(r"\s(?:and|et|en|und|&)\s", re.IGNORECASE)


def _combined(rules: ExtractionRules, text: str) -> LabelHit | None:
    """A label that asks for two fields ('Number of patients and period covered'): each half
    clearly one field; the value decides (see ``parsers.labels.label_value``)."""
    halves = _CONJUNCTION.split(text)
    if len(halves) != 2:
        return None
    hits = [best_label(rules, half) for half in halves]
    first, second = hits
    if first is None or second is None or not (first.decided and second.decided):
        return None
    if first.rule.key == second.rule.key:
        return None
    return LabelHit(first.rule, min(first.score, second.score), (second.rule,), decided=False)


def close_labels(rules: ExtractionRules, text: str,
                 keys: Iterable[str] | None = None) -> list[FieldScore]:
    """Fields a printed text nearly names (weak or tied matches), for near misses."""
    wanted = set(keys) if keys is not None else None
    ranked = field_scores(rules, text)
    hit = best_label(rules, text)
    if hit is not None and hit.decided:
        return []
    return [s for s in ranked if s.score >= NEAR and (wanted is None or s.key in wanted)]
