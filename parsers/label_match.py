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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar, cast

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
# A weak best (down to WEAK) is not decided either: its value must show which field it is
# (see ``parsers.labels.label_value``).
WEAK = 0.45
_MAX_OTHERS = 3
# Bracketed hints are read with the label first; the label without them counts a little less.
_STRIPPED_PENALTY = 0.1
_MAX_LABEL_CHARS = 120

# Articles, prepositions and conjunctions of the four languages: words that never tell a field.
# So do a question's pronouns, auxiliaries and negations ('What do you', 'sera-t-il', 'zal ...
# worden', 'Why is no CE-marked alternative suitable'), and the request itself, which every
# field is part of ('Aanspreekpunt voor deze aanvraag', 'Personne à contacter pour ce dossier',
# 'Motifs de la dérogation'),
# a form's instructions ('Please state the full ...', 'Veuillez indiquer', 'Gelieve ... te
# vermelden', 'Cochez', 'Kruis aan') and marks ('(mandatory)', '(verplicht)'), and
# 'requested', 'sought', 'total', 'covered', which a quantity, a period and a product all are.
# So does 'legal' (and the words the rules make synonyms of it): the legal manufacturer is the
# manufacturer, and 'legal basis' or 'legal framework' are read as phrases or by their noun.
_STOP_TEXT = """
the of a an for to in by on is are be if as at with and or this that which will its it
any le la les l de du des d un une et ou pour par en au aux sur dans est sont ce cette
qui que s son sa ses se ne het een van voor op te door bij met zijn die dat aan uit naar
der die das dem den ein eine eines einer und oder fur von zu im mit am auf ist
avec sans sous entre vers from into via without zonder ohne than dan
legal
what do does you your will has have been il elle vous votre quel quelle quels quelles sera
seront ils elles zullen
u uw welk welke zal wordt worden er sie ihr wird werden tot jegens tegenover
not cannot aucun aucune ne pas elle geen niet nicht kein keine
anywhere elsewhere ailleurs elders anderswo selon according volgens gemass
deze dit ces diese dieser dieses chez als
request demande aanvraag antrag antrags dossier derogation application
rule rules regle regles regel regels regeln
please state indicate describe give provide explain tell us veuillez indiquer preciser decrire
expliquer gelieve vermelden aangeven beschrijven toelichten toe lichten geven leg full complete
complet volledig volledige
mandatory obligatoire verplicht verplichte pflicht pflichtfeld optional optionnel facultatif
facultative optioneel tick cochez cocher kruis aankruisen ankreuzen
requested gevraagd gevraagde beantragt beantragte needed required nodig benodigd necessaire
necessaires erforderlich marked marque marquee marquees gemarkeerd gemarkeerde gekennzeichnet
sought sollicite sollicitee total totaal gesamt covered couvert couverte couverts gedekt gedekte
responsible responsable verantwoordelijk verantwoordelijke user utilisateur gebruiker gebruikende
"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())
# Leading enumerators of form questions: "1.", "2.3", "a)", "(b)", "IV.", "Q4", "B.2", "A3 -".
ENUMERATOR = re.compile(
    r"^\s*(?:\(?[0-9]{1,2}(?:\.[0-9]{1,2})*[.)]?|\(?[a-z][.)]|[a-z]\.?[0-9]{1,2}(?:\.[0-9]{1,2})*[.)]?"
    r"|[ivx]{1,4}[.)]|q\s?\d{1,2}[.):]?)(?:\s+[-\u2013\u2014])?\s+",
    re.IGNORECASE)
PARENTHESES = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
# A hint whose bracket closes on the next line ('Applicant is the (manufacturer / AR /').
_OPEN_HINT = re.compile(r"[(\[][^()\[\]]*$")
# A relative clause after a label's noun ('Hospital where the device will be used', 'Raisons
# pour lesquelles ...', 'Arts die de patiënt behandelt'): the noun before it is the label, read
# as a third form with the bracket penalty. Not at the start, where the word asks a question.
RELATIVE = re.compile(
    r"^(?P<head>\S.{2,}?)\s+(?:where|why|which|who|whose|o\u00f9|dont|qui|que|"
    r"(?:pour|pendant|durant) lesquel(?:le)?s?|(?:pour|pendant|durant) laquelle|"
    r"(?:pour|pendant|durant) lequel|auquel|during which|under which|sous lesquel(?:le)?s?|"
    r"sous laquelle|sous lequel|(?:en|dans|par|[aà]) (?:lequel|laquelle|lesquel(?:le)?s)|"
    r"in which|for which|(?:au titre|en vertu) (?:duquel|de laquelle|desquel(?:le)?s)|"
    r"waaronder|waar|waarom|waarvoor|waarop|waarin|die|"
    r"dat|wo|warum|welche[rs]?)"
    r"\s+\S", re.IGNORECASE)
# What a label is measured by ('Risk class of the device according to the applicable
# regulation', 'Classificatie volgens bijlage VIII', 'nom commercial tel qu'il figure sur
# l'étiquetage'), set against ('Statut du demandeur vis-à-vis du fabricant', 'rather than an
# approved one'), done for ('in the interest of public health') or the subject of ('Nom du
# produit faisant l'objet de la demande'): the label is what comes before it.
_QUALIFIER = re.compile(
    r"^(?P<head>\S.{2,}?)\s+(?:according to|in accordance with|selon|conform[eé]ment [aà]|"
    r"volgens|overeenkomstig|gem[aä]ss?|gem[aä]\u00df|as (?:shown|stated|it appears)|"
    r"vis-[aà]-vis|with regard to|with respect to|in relation to|par rapport [aà]|"
    r"within the meaning of|au sens d[eu']|in de zin van|im sinne d(?:er|es)|"
    r"[aà] l['\u2019][eé]gard d[eu']|ten opzichte van|rather than|instead of|"
    r"plut[oô]t qu['\u2019e]|au lieu d[eu']|in plaats van|eerder dan|anstatt|statt|"
    r"in the interest of|dans l['\u2019]int[eé]r[eê]t d[eu']|in het belang van|im interesse|"
    r"(?:faisant|qui fait) l['\u2019]objet d[eu']|subject of|concerned by|"
    r"tel(?:le)?s? qu['\u2019](?:il|elle)s?|zoals)\s+\S", re.IGNORECASE)
# What the applicant's relation is to ('Relationship to the manufacturer', 'Lien avec le
# fabricant légal', 'Relatie tot de fabrikant'): the relation is the label.
_RELATION = re.compile(r"^(?P<head>.*?\b(?:relationship|relation|lien|relatie|verhouding|"
                       r"beziehung))\s+(?:to|with|avec|tot|met|zu[mr]?|mit)\s+\S",
                       re.IGNORECASE)
# Who set what a label asks for ('Risk class as determined by the manufacturer', 'Door de
# fabrikant bepaalde risicoklasse', 'Vom Hersteller festgelegte Klasse'): the one who set it
# is no field of the label; what is left is the label.
_AGENT = re.compile(
    r"\b(?:as\s+)?(?:determined|assigned|declared|defined|set|established|claimed|given)\s+by"
    r"\s+(?:the\s+)?\w+|\b(?:telle?s?\s+que\s+)?(?:d[eé]termin[eé]e?s?|attribu[eé]e?s?|"
    r"d[eé]clar[eé]e?s?|d[eé]finie?s?|fix[eé]e?s?|revendiqu[eé]e?s?)\s+par\s+(?:le\s+|la\s+|l['\u2019])?"
    r"\w+|\bdoor\s+(?:de\s+|het\s+)?\w+\s+(?:bepaalde?|vastgestelde?|toegekende?|opgegeven|"
    r"aangegeven|gedeclareerde?)\b|\bvo[mn]\s+(?:der\s+|dem\s+)?\w+\s+(?:festgelegte[nrs]?|"
    r"bestimmte[nrs]?|angegebene[nrs]?|zugewiesene[nrs]?|zugeordnete[nrs]?|erkl[aä]rte[nrs]?)\b",
    re.IGNORECASE)
# The closing formula of a signed form names a town: 'Done at Brussels, on', 'Fait à Liège,
# le', 'Opgemaakt te Gent op'. The town tells no field; what is left is a label.
_PLACE = re.compile(r"\s(?:at|in|a|à|te|zu)\s+[A-Z][\w'-]*(?:[ -][A-Z][\w'-]*){0,2}\s*,?"
                    r"(?=\s*(?:on|le|op|am|den)?\s*:?\s*$)")
# A reference to the regulation's text ('les règles de l'annexe VIII', 'Article 59') tells no
# field: the classification rules are read by 'Classification' alone.
_REFERENCE = re.compile(r"\b(?:annex|annexe|bijlage|anhang|article|artikel|art)\.?\s+[IVXLC\d]+\b",
                        re.IGNORECASE)
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
    combined: bool = False  # two fields asked together ('Units and duration'): both asked


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
    # Every word the labels and synonyms spell out, with the word it counts as: what an
    # abbreviation ('Manuf.', 'hulpm.') may stand for.
    spelled: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # What each abbreviation met so far stands for (filled as texts are read).
    meanings: dict[str, list[str]] = field(default_factory=dict)
    # The weight of each label's words (``_label_weight``), in the order of ``labels``.
    label_weights: tuple[float, ...] = ()
    # The words of each text read so far (``printed_words``, filled as texts are read).
    printed: dict[str, frozenset[str]] = field(default_factory=dict)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Plural and inflection endings off, the same way on both sides."""
    for _ in range(2):
        if len(word) > 5 and word.endswith("en"):
            word = word[:-2]
        elif len(word) > 4 and word.endswith(("s", "e", "x")) and not word.endswith("ss"):
            word = word[:-1]
    return word


_T = TypeVar("_T")


def _built_once(store: dict[int, tuple[object, _T]], owner: object,
                build: Callable[[], _T]) -> _T:
    """What ``build`` makes for one object, made once; the object is kept with it, so that
    another object later given the same id is not taken for it."""
    kept = store.get(id(owner))
    if kept is None or kept[0] is not owner:
        kept = (owner, build())
        store[id(owner)] = kept
    return kept[1]


_PHRASES: dict[int, tuple[object, re.Pattern[str] | None]] = {}


def _phrase_pattern(synonyms: Mapping[str, str]) -> re.Pattern[str] | None:
    """One pattern for the synonyms that are phrases ('raison sociale'), longest first."""
    def build() -> re.Pattern[str] | None:
        phrases = sorted((w for w in synonyms if " " in w), key=len, reverse=True)
        return (re.compile(r"\b(?:" + "|".join(map(re.escape, phrases)) + r")\b")
                if phrases else None)
    return _built_once(_PHRASES, synonyms, build)


def content_words(text: str) -> list[str]:
    """The words of a text that may tell a field: no article, preposition or number."""
    return [word for word in fold(text).split() if word not in _STOP_WORDS and not word.isdigit()]


def raw_words(text: str, synonyms: Mapping[str, str]) -> list[str]:
    """Content words of a text, stemmed and put in their synonyms' canonical form."""
    text = fold(_NUMBER_SIGN.sub(" number ", _EMAIL_WORD.sub("email", strip_accents(text))))
    phrases = _phrase_pattern(synonyms)
    if phrases is not None:
        text = phrases.sub(lambda m: synonyms[m.group(0)], text)
    words = []
    # A label that ends on the preposition of a date ('Signé le', 'Gebruik gepland op',
    # 'Signed on') asks for a date.
    if text.rsplit(None, 1)[-1:] in (["le"], ["op"], ["on"], ["am"]):
        words.append("date")
    for word in text.split():
        word = synonyms.get(word, word)
        if word in _STOP_WORDS or word.isdigit():
            continue
        stem = _stem(synonyms.get(word, word))
        canonical = _stem(synonyms.get(stem, stem))  # an inflected synonym ('aanvragende')
        if canonical not in _STOP_WORDS:
            words.append(canonical)
    return words


_PART = 4
_ENDINGS = ("e", "s", "en")


def _split_compound(word: str, vocabulary: frozenset[str],
                    synonyms: Mapping[str, str]) -> tuple[str, ...]:
    """'contactpersoon' -> ('contact', 'persoon') when both halves are words labels use."""
    # A compound the labels use as one word is split too, so that 'gebruiksdatum' printed
    # meets 'datum van gebruik' in the rules.
    if len(word) < 8:
        return (word,)
    half_known: tuple[str, ...] | None = None
    for cut in range(len(word) - 2, 3, -1):
        head, tail = _canonical(word[:cut], synonyms), word[cut:]
        for rest in (tail, tail[1:] if tail[:1] == "s" else ""):
            rest = _canonical(rest, synonyms) if rest else ""
            # The compound was stemmed whole: a short last half lost its ending with it
            # ('patientcode' -> 'patientcod' -> 'cod', which the labels know as 'code').
            rest = next((rest + end for end in _ENDINGS
                         if rest and rest not in vocabulary and rest + end in vocabulary), rest)
            if rest and head in vocabulary and rest in vocabulary:
                return head, rest
            # One half a word the labels use and the other a word of its own
            # ('model|aanduiding'): kept if no cut gives two known words.
            if (half_known is None and word not in vocabulary and len(rest) >= _PART
                    and len(head) >= _PART and (head in vocabulary) != (rest in vocabulary)):
                half_known = (head, rest)
    return half_known or (word,)


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
    spelled: dict[str, tuple[str, ...]] = {}
    # (in the rules' order, not a set's: the index is the same whatever the hash seed)
    for word in dict.fromkeys([
            *(w for r in rules.fields for label in r.labels for w in fold(label.text).split()),
            *(w for w in rules.synonyms if " " not in w)]):
        if word not in _STOP_WORDS and (meant := raw_words(word, synonyms)):
            # (a compound the labels spell, 'contactpersoon', stands for its parts)
            spelled[word] = _split_compound(meant[0], vocabulary, synonyms)
    return LabelIndex(labels, {w: tuple(n) for w, n in by_word.items()}, weights,
                      frozenset(fields_of), synonyms, max(weights.values(), default=1.0),
                      sum(weights.values()) / max(len(weights), 1),
                      {k: frozenset(v) for k, v in field_words.items()}, core, spelled,
                      label_weights=tuple(_label_weight(weights, words) for _, words in labels))


_INDEXES: dict[int, tuple[object, LabelIndex]] = {}


def index_of(rules: ExtractionRules) -> LabelIndex:
    """The label index of a rule set, built once."""
    return _built_once(_INDEXES, rules, lambda: build_index(rules))


_MEMO_SIZE = 20000
_MEMOS: dict[int, tuple[object, dict[str, dict[str, Any]]]] = {}


def _memo(rules: ExtractionRules, name: str) -> dict[str, Any]:
    """A cache of one pure function of (rules, printed text): a form's labels come back on
    every page and every message, and reading them is most of a worker's time."""
    caches = _built_once(_MEMOS, rules, dict)
    cache = caches.get(name)
    if cache is None:
        cache = caches[name] = {}
    elif len(cache) > _MEMO_SIZE:
        cache.clear()
    return cache


_NOT_READ = object()  # (a text's answer may be None)


def memoised(rules: ExtractionRules, name: str, text: str,
             read: Callable[[ExtractionRules, str], _T]) -> _T:
    """``read(rules, text)``, worked out once per rule set and text (see ``_memo``)."""
    cache = _memo(rules, name)
    found = cache.get(text, _NOT_READ)
    if found is _NOT_READ:
        found = cache[text] = read(rules, text)
    return cast(_T, found)


# A word of three letters or more cut short by a full stop: 'Manuf.', 'Adr.', 'hulpm.'.
_ABBREVIATION = re.compile(r"(?<![\w.])([^\W\d_]{3,})\.(?![\w/])")


def _meanings(index: LabelIndex, short: str) -> list[str]:
    """What an abbreviation may stand for: the words the labels spell that it starts."""
    found = index.meanings.get(short)
    if found is None:
        found = index.meanings[short] = _spelled_from(index, short)
    return found


def _spelled_from(index: LabelIndex, short: str) -> list[str]:
    if short in index.synonyms or short in index.weights or short in _STOP_WORDS:
        return []
    meant = {parts for word, parts in index.spelled.items() if word.startswith(short)
             and all(part in index.weights for part in parts)}
    # Words that begin alike ('patient', 'patientenkennung'): the part they share.
    firsts = {parts[0] for parts in meant}
    if len(meant) > 1 and len(firsts) == 1:
        return list(firsts)
    return sorted(" ".join(parts) for parts in meant)


def _expanded(index: LabelIndex, text: str, choice: int = 0) -> str:
    """Abbreviations written out as the one word the labels spell that they start
    ('Manuf.' -> manufacturer, 'Contactpers.' -> contact person); one that starts words of
    two meanings ('Reg.': regulation, regulatory) is left as it is, or with ``choice`` > 0
    written out as its choice-th meaning (see ``_readings``)."""
    def word_for(match: re.Match[str]) -> str:
        meant = _meanings(index, fold(match.group(1)))
        if len(meant) == 1:
            return meant[0]
        return meant[choice - 1] if 0 < choice <= len(meant) else match.group(0)
    return _ABBREVIATION.sub(word_for, text)


_MAX_READINGS = 8


def _readings(index: LabelIndex, text: str) -> list[frozenset[str]]:
    """The words of a text with each meaning of its ambiguous abbreviations ('Reg. status':
    regulation, regulatory, registration status); none when it has no such abbreviation."""
    widest = max((len(_meanings(index, fold(m.group(1))))
                  for m in _ABBREVIATION.finditer(text)), default=0)
    if widest < 2:
        return []
    return [printed_words(index, _expanded(index, text, choice))
            for choice in range(1, min(widest, _MAX_READINGS) + 1)]


def word_readings(index: LabelIndex, text: str) -> list[frozenset[str]]:
    """The words of a printed text, then those of each reading of an abbreviation of two
    meanings ('Sign. méd.': medical, or physician)."""
    return [printed_words(index, text), *_readings(index, text)]


def knows_a_word_of(index: LabelIndex, text: str) -> bool:
    """Whether a label uses a word of the text, read as printed (abbreviations written out,
    each way for one of two meanings: 'Règl.')."""
    return any(w in index.weights for words in word_readings(index, text) for w in words)


def content_start(text: str, count: int) -> str:
    """The first `count` printed words of a text that are not articles, pronouns or a form's
    instructions ('Please indicate in which capacity ...' starts with 'capacity')."""
    kept = [w for w in text.split() if (folded := fold(w)) and folded not in _STOP_WORDS]
    return " ".join(kept[:count])


def printed_words(index: LabelIndex, text: str) -> frozenset[str]:
    """The words of a printed text as the index knows them (abbreviations written out,
    compounds split, typos mended)."""
    # A text is read several ways (with and without its hint, its head), and a form's
    # texts come back: each is worked out once.
    found = index.printed.get(text)
    if found is None:
        if len(index.printed) > _MEMO_SIZE:
            index.printed.clear()
        found = index.printed[text] = _printed_words(index, text)
    return found


def _printed_words(index: LabelIndex, text: str) -> frozenset[str]:
    found: set[str] = set()
    for word in raw_words(_expanded(index, text), index.synonyms):
        for part in _split_compound(word, index.vocabulary, index.synonyms):
            found.add(_known(index, part))
    return frozenset(found)


def _known(index: LabelIndex, word: str) -> str:
    if word in index.weights or len(word) < 6:
        return word
    return _closest(index.vocabulary, word)


_IN_ORDER: dict[int, tuple[object, tuple[str, ...]]] = {}


@lru_cache(maxsize=20000)
def _closest(vocabulary: frozenset[str], word: str) -> str:
    # Words in a fixed order: of two words equally close, the first is taken, and a set's
    # order follows the hash seed.
    ordered = _built_once(_IN_ORDER, vocabulary, lambda: tuple(sorted(vocabulary)))
    best = process.extractOne(word, ordered, scorer=fuzz.ratio, score_cutoff=88)
    return str(best[0]) if best else word


def _overlap(index: LabelIndex, printed: frozenset[str], label: frozenset[str],
             total: float) -> float:
    """Weighted F1 of the shared words; ``total``: the weight of both sides' words."""
    weight = index.weights
    shared = sum(weight.get(w, 1.0) for w in printed & label)
    return 2 * shared / total if total else 0.0


def _printed_weight(index: LabelIndex, printed: frozenset[str]) -> float:
    """The weight of a printed text's words (a word no label uses: see ``_unknown``)."""
    weight = index.weights
    return sum(weight.get(w) or _unknown(index, w) for w in printed)


def _label_weight(weights: Mapping[str, float], label: frozenset[str]) -> float:
    """The weight of a label's words."""
    return sum(weights.get(w, 1.0) for w in label)


_VALUE_LIKE = re.compile(r"^(?:[a-z]|[ivx]{1,4}|.*\d.*)$")


def _unknown(index: LabelIndex, word: str) -> float:
    """A word no label uses: as heavy as the rarest if it looks like a value ('III', 'C',
    '2b'), else as an average word."""
    return index.heaviest if _VALUE_LIKE.match(word) else index.average


def field_scores(rules: ExtractionRules, text: str) -> list[FieldScore]:
    """Every field a printed text may name, best first, with its best label and score."""
    # (a long hint in brackets does not make a label too long to be one)
    if not text or len(PARENTHESES.sub("", text)) > _MAX_LABEL_CHARS:
        return []
    return list(memoised(rules, "field_scores", text, _field_scores))


def _field_scores(rules: ExtractionRules, text: str) -> list[FieldScore]:
    index = index_of(rules)
    body = _REFERENCE.sub(" ", _PLACE.sub(" ", ENUMERATOR.sub("", text, count=1)))
    seen = frozenset(fold(body).split())
    bare = _OPEN_HINT.sub(" ", PARENTHESES.sub(" ", body))
    forms = [(printed_words(index, body), 0.0), (printed_words(index, bare), _STRIPPED_PENALTY)]
    # An abbreviation of two meanings is read each way, a little less surely.
    forms += [(words, _STRIPPED_PENALTY) for text in (body, bare)
              for words in _readings(index, text)]
    for qualifier in (_QUALIFIER, _RELATION):
        qualified = qualifier.match(bare)
        if qualified is not None:
            forms.append((printed_words(index, qualified.group("head")), _STRIPPED_PENALTY))
    unsigned = _AGENT.sub(" ", bare)
    if unsigned != bare and unsigned.strip():
        forms.append((printed_words(index, unsigned), _STRIPPED_PENALTY))
    counted = _counts_patients(strip_accents(body).lower())
    best = _scored(index, seen, forms, counted)
    top = max((s.score for s in best.values()), default=0)
    relative = RELATIVE.match(bare)
    if relative is not None and top < ACCEPT_ALONE:
        # Only for a text its whole words leave undecided: 'Date on which the device will be
        # used' is read whole (the date of use), never as its head 'Date'. The head only
        # settles between the fields the whole text leads to ('Gelieve de datum te vermelden
        # waarop ... zal worden gebruikt' stays the date of use, never becomes the bare
        # 'Datum' of a signature).
        head = printed_words(index, relative.group("head"))
        leaders = {key for key, s in best.items() if s.score >= top - TIE}
        heads = _scored(index, seen, ((head, _STRIPPED_PENALTY),), counted)
        for key in leaders & heads.keys():
            if heads[key].score > best[key].score:
                best[key] = heads[key]
    return sorted(best.values(), key=lambda s: -s.score)


def _scored(index: LabelIndex, seen: frozenset[str],
            forms: Iterable[tuple[frozenset[str], float]], counted: bool,
            ) -> dict[str, FieldScore]:
    """Each field's best label over the forms of a printed text (word set, penalty)."""
    best: dict[str, FieldScore] = {}
    for words, penalty in forms:
        heads = {w: key for key, core in index.core_words.items() for w in core & words}
        printed = _printed_weight(index, words)  # the same for every label it is held to
        foreign: dict[str, int] = {}  # (and a field's foreign heads for each of its labels)
        # Labels in the rule file's order: of two labels of a field that score alike, the
        # first kept is the rule file's first (a set's order follows the hash seed).
        for number in sorted({n for w in words for n in index.by_word.get(w, ())}):
            label, label_words = index.labels[number]
            plural = _patients_in(label.folded)
            if plural is not None and plural != counted:
                continue  # 'Patiëntnummer', 'N° du patient': one patient's, not a count
            score = _overlap(index, words, label_words,
                             printed + index.label_weights[number]) - penalty
            if label.key not in foreign:
                foreign[label.key] = _foreign_heads(index, label.key, heads, words)
            score -= _FOREIGN_HEAD * foreign[label.key]
            if len(words) < 2 and words != label_words:
                score = min(score, NEAR)  # one word alone must be a label's whole word set
            kept = best.get(label.key)
            score = round(score, 3)
            # (the printed words only settle a tie: counted only then)
            if kept is None or score > kept.score or (score == kept.score and _printed_in(
                    label, seen) > _printed_in(kept.rule, seen)):
                best[label.key] = FieldScore(label.key, label, score)
    return best


# Patients in the plural ('Number of patients', 'Aantal patiënten') are counted; one patient
# ('Patient number', 'Patiëntnummer', 'N° d'anonymat du patient') is referred to.
_PATIENTS = re.compile(r"\bpatient(?:s|en|innen|\((?:s|en)\))(?!\w)")


def _counts_patients(folded: str) -> bool:
    """Whether a text (lower case, no accents) speaks of patients in the plural."""
    return _PATIENTS.search(folded) is not None


@lru_cache(maxsize=4096)
def _patients_in(folded: str) -> bool | None:
    """Whether a label speaks of patients in the plural; None when of no patient at all
    (asked of every label scored: worked out once per label)."""
    return _counts_patients(folded) if "patient" in folded else None


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
    # A text that states a fact is a value: 'No CE-marked alternative exists' is the first
    # line of a justification, not a label of one.
    # (a hint in brackets may state what the answer is about: 'Motivering (geen gelijkwaardig
    # product met CE-markering beschikbaar)')
    if not ranked or _VALUE_WORDS & set(fold(PARENTHESES.sub(" ", text)).split()):
        return None
    best = ranked[0].score
    second = ranked[1].score if len(ranked) > 1 else 0.0
    # Two fields asked together ('Number of units and duration of use') are both asked,
    # however clearly the words of one of them lead.
    if best < 1.0 and (combined := _combined(rules, text)) is not None:
        return combined
    clear = (best >= ACCEPT and second <= best - MARGIN) or (
        best >= ACCEPT_ALONE and second <= best - MARGIN_ALONE)
    if clear:
        others = tuple(s.rule for s in ranked[1:_MAX_OTHERS + 1] if s.score >= NEAR)
        return LabelHit(ranked[0].rule, best, others)
    twin = _twins(rules, text)
    if twin is not None:
        return twin
    if _question_field(rules, text) == ranked[0].key:
        return LabelHit(ranked[0].rule, best)
    # (a label asking two fields was answered above: a weak one shaped like no label is none)
    if best < UNDECIDED and (best < WEAK or not _label_shaped(rules, text)):
        return None
    tied = tuple(s.rule for s in ranked[1:_MAX_OTHERS + 1] if s.score >= best - TIE)
    return LabelHit(ranked[0].rule, best, tied, decided=False)


# Verbs that make a sentence of a line ('The patient must be informed'); a label has none.
_SENTENCE_VERB_TEXT = """
is are be must shall should will can may est sont doit doivent peut sera moet moeten wordt
worden kan zal ist sind muss mussen wird kann soll
"""
_SENTENCE_VERBS = frozenset(_SENTENCE_VERB_TEXT.split())
# Words that state a fact, as a justification does ('No CE-marked alternative exists', 'Er
# bestaat geen ...', 'All approved treatments have failed'); no label uses them.
_VALUE_WORD_TEXT = """
exists exist existe existent bestaat bestaan gibt available disponible beschikbaar failed
echoue faalden gescheitert
"""
_VALUE_WORDS = frozenset(_VALUE_WORD_TEXT.split())
_QUESTION_WORD_TEXT = """
why what which who when where how pourquoi quel quelle quels quelles qui quand combien comment
waarom wat welk welke wie wanneer waar hoeveel hoe warum was welcher welches wer wann wo
"""
_QUESTION_WORDS = frozenset(_QUESTION_WORD_TEXT.split())
# Verbs that, first in a label, ask for one field as a question word does ('Justifiez le
# recours à un dispositif non marqué CE', 'Motiveer de aanvraag').
_ASKING_VERB_TEXT = """
justify justifiez justifier motivate motivez motiver motiveer rechtvaardig begrunden begrunde
"""
_ASKING_WORDS = _QUESTION_WORDS | frozenset(_ASKING_VERB_TEXT.split())
_LABEL_WORDS = 6
# A full stop between two sentences ('Pas de marquage CE. Dispositif innovant'): a value.
_SENTENCE_BREAK = re.compile(r"\.\s+[A-Z][a-z]{2,}")


def _question_field(rules: ExtractionRules, text: str) -> str | None:
    """The one field a question's first word (or an asking verb: 'Justify ...') asks for:
    'Why is this device needed rather than an approved one', 'Leg uit waarom ...' ask for a
    justification whatever else they say; 'When' (which date?) and 'Who' (whose name?) ask
    for none in particular."""
    words = [w for w in fold(ENUMERATOR.sub("", text, count=1)).split() if w not in _STOP_WORDS]
    if not words or words[0] not in _ASKING_WORDS:
        return None
    index = index_of(rules)
    canonical = _canonical(words[0], index.synonyms)
    keys = {index.labels[number][0].key for number in index.by_word.get(canonical, ())}
    return keys.pop() if len(keys) == 1 else None


@lru_cache(maxsize=_MEMO_SIZE)  # (every segment of a form's page is asked, on every message)
def ends_open(text: str) -> bool:
    """Whether a printed label stops on an article or preposition ('Adresse e-mail du') or
    inside an open bracket ('Regelgevend kader (MDR of'): the rest of it is on the next line."""
    words = fold(text).split()
    return bool(words) and (words[-1] in _STOP_WORDS or text.count("(") > text.count(")"))


def _label_shaped(rules: ExtractionRules, text: str) -> bool:
    """Whether a weakly matching text is shaped like a label rather than a sentence or a
    name: two content words or more, six words at most, not every word capitalised, no verb
    of a sentence (a question may have one), no full stop."""
    bare = PARENTHESES.sub(" ", text)
    every = fold(bare).split()
    words = printed_words(index_of(rules), bare)
    # A name in capitals ('Universitair Ziekenhuis Antwerpen', a letterhead) is no label.
    printed = text.split()
    proper = len(printed) >= 3 and all(w[:1].isupper() for w in printed)
    # A form's question has a verb and is still a label ('Why is no CE-marked alternative
    # suitable', 'Wanneer zal het hulpmiddel worden gebruikt'); its words are counted without
    # its pronouns and articles ('En quelle qualité introduisez-vous la demande').
    question = text.rstrip().endswith("?") or bool(_QUESTION_WORDS & set(every[:2]))
    tokens = [t for t in every if t not in _STOP_WORDS] if question else every
    sentence = text.rstrip().endswith(".") or _SENTENCE_BREAK.search(text) is not None
    return (len(words) >= 2 and len(tokens) <= _LABEL_WORDS and not sentence
            and (question or not _SENTENCE_VERBS & set(every)) and not proper)


_CONJUNCTION = re.compile(r"\s(?:and|et|en|und|&)\s", re.IGNORECASE)
_HINT = re.compile(r"\(([^()]+)\)")
_TYPED_BREAK = re.compile(r"\s*/\s*|,\s+")
# Normalisers that read any words (free text, a patient's reference): a value of theirs tells
# no field; a value of any other tells its type.
_UNTYPED = frozenset({"text", "patient_reference"})


def typed(rules: ExtractionRules, key: str) -> bool:
    """Whether a field's values have a type (a date, a role, a count), not any words."""
    field_rule = rules.field_rule(key)
    return field_rule is not None and field_rule.normaliser not in _UNTYPED


def _combined(rules: ExtractionRules, text: str) -> LabelHit | None:
    """A label that asks for two fields ('Number of patients and period covered', 'Extent of
    the request (units and time frame)'): its parts, or its hint's, each clearly one field,
    two fields in all; the value decides (see ``parsers.labels.label_value``)."""
    # (a slash parts alternatives, not fields: 'Number of units / patients and duration';
    # only between two fields whose values have a type do a slash or a comma part the
    # fields: 'Scope (units / duration)', 'How many devices, over what period?')
    hints = _HINT.findall(text)
    for asked, conjunction in ((text, _CONJUNCTION), *((h, _CONJUNCTION) for h in hints),
                               (text, _TYPED_BREAK), *((h, _TYPED_BREAK) for h in hints)):
        parts = conjunction.split(asked)
        if len(parts) < 2:
            continue
        hits = [best_label(rules, part) for part in parts]
        if not all(hit is not None and (hit.decided or hit.combined) for hit in hits):
            continue
        # (a part may itself ask two fields: 'durée / eenheden' in 'unités et durée /
        # eenheden en duur')
        fields: dict[str, tuple[LabelRule, float]] = {}
        for hit in hits:
            assert hit is not None
            for rule in (hit.rule, *(hit.others if hit.combined else ())):
                fields.setdefault(rule.key, (rule, hit.score))
        if len(fields) != 2 or (conjunction is _TYPED_BREAK
                                and not all(typed(rules, key) for key in fields)):
            continue
        (first, first_score), (second, second_score) = fields.values()
        return LabelHit(first, min(first_score, second_score), (second,), decided=False,
                        combined=True)
    return None


TWIN = re.compile(r"\s/\s")


def _twins(rules: ExtractionRules, text: str) -> LabelHit | None:
    """A label printed twice, in two languages or two words ('Nombre d'exemplaires / Aantal
    exemplaren', 'Clinic / hospital'): both halves name one field and one names it clearly."""
    halves = TWIN.split(text)
    if len(halves) != 2 or not all(h.strip() for h in halves):
        return None
    read = [(half, best_label(rules, half)) for half in halves]
    # A half of one word that names nothing is part of the other's label, not a twin of it
    # ('Start / end date', 'Begin- / einddatum'): the slash shares the other half's noun.
    if any(hit is None and len(content_words(half)) < 2 for half, hit in read):
        return None
    hits = [hit for _, hit in read if hit is not None]
    if not hits or len({hit.rule.key for hit in hits}) != 1:
        return None
    decided = [hit for hit in hits if hit.decided]
    return max(decided, key=lambda hit: hit.score) if decided else None


def close_labels(rules: ExtractionRules, text: str,
                 keys: Iterable[str] | None = None) -> list[FieldScore]:
    """Fields a printed text nearly names (weak or tied matches), for near misses."""
    wanted = set(keys) if keys is not None else None
    ranked = field_scores(rules, text)
    hit = best_label(rules, text)
    if hit is not None and hit.decided:
        return []
    return [s for s in ranked if s.score >= NEAR and (wanted is None or s.key in wanted)]
