"""Applying extraction rules to text: labels, 'Label: value' lines, ticked boxes, kinds.

The PDF, Word and e-mail body readers find candidate label/value pairs in their own way
(positions, table cells, lines) and hand them here to be recognised and normalised, so
that every format speaks the same rule language and records the same rule ids.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from config.extraction_rules import CheckboxRule, ExtractionRules, KindRule, LabelRule
from config.text import collapse, fold
from parsers.label_match import LabelHit, best_label, index_of, printed_words, raw_words
from parsers.normalise import normalise, regulations_named
from parsers.parts import Segment, split_parts
from parsers.records import (
    ExtractedDocument,
    FieldValue,
    Limits,
    PageProblem,
    Signature,
    Source,
)

# Readers' default limits (a module constant: a call in a default argument is evaluated once
# anyway, and says so less clearly).
DEFAULT_LIMITS = Limits()

# Leading enumerators of form questions: "1.", "2.3", "a)", "(b)", "IV." .
_ENUMERATOR = re.compile(
    r"^\s*(?:\(?[0-9]{1,2}(?:\.[0-9]{1,2})*[.)]?|\(?[a-z][.)]|[ivx]{1,4}[.)])\s+", re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_MAX_LABEL_CHARS = 120


def label_candidates(text: str) -> tuple[str, ...]:
    """Folded forms a printed label may take: as is, without its number or bracketed hint."""
    if len(text) > _MAX_LABEL_CHARS:
        return ()
    stripped = _ENUMERATOR.sub("", text, count=1)
    forms = (text, stripped, _PARENTHESES.sub(" ", text), _PARENTHESES.sub(" ", stripped))
    return tuple(dict.fromkeys(f for f in (fold(x) for x in forms) if f))


def find_label(rules: ExtractionRules, text: str) -> LabelRule | None:
    """The label rule this whole text means (see ``match_label``)."""
    hit = match_label(rules, text)
    return hit.rule if hit else None


def match_label(rules: ExtractionRules, text: str) -> LabelHit | None:
    """The label this whole text is (score 1), else the one it clearly means by its words."""
    if not may_start_label(rules, text):
        return None
    forms = label_candidates(text)
    exact = next((rules.label(f) for f in forms if rules.label(f)), None)
    if exact is not None and rules.label(forms[0]) is None:
        # Read without its hint in brackets ('E-mail (physician)'): the words of the hint
        # may name a closer field than the bare label does.
        hit = best_label(rules, text)
        if hit is not None and hit.decided and hit.rule.key != exact.key and hit.score >= 0.9:
            return hit
    if exact is not None:
        return LabelHit(exact, 1.0)
    return best_label(rules, text) or _bracketed_label(rules, text)


_BRACKETED = re.compile(r"\(([^()]{2,40})\)")
BRACKETED_SCORE = 0.9


def _bracketed_label(rules: ExtractionRules, text: str) -> LabelHit | None:
    """A label given only in brackets after words no rule knows: 'Identifiant unique
    (IUD-ID)', 'Single Registration Number (SRN)'."""
    hits = {rule for inner in _BRACKETED.findall(text) if (rule := rules.label(fold(inner)))}
    return LabelHit(hits.pop(), BRACKETED_SCORE) if len(hits) == 1 else None


def may_start_label(rules: ExtractionRules, text: str) -> bool:
    """A cheap test before matching in earnest: does the text start with a label's word?"""
    words = fold(text[:80]).split()[:4]  # "1.2.3 Name of the device"
    if any(w in rules.first_words for w in words):
        return True
    index = index_of(rules)
    return any(w in index.weights for w in printed_words(index, " ".join(words)))


@dataclass(frozen=True)
class LabelMatch:
    """A label found at the start of a line and the text that follows it."""

    rule: LabelRule
    label: str  # as printed
    value: str  # '' when the label stands alone
    score: float = 1.0  # how closely the printed label matches the rule's (1: exactly)
    others: tuple[LabelRule, ...] = ()  # other fields' labels it comes close to
    decided: bool = True  # False: tied with others, the value tells which field it is


_SEPARATORS = re.compile(r"\s*(?::|\t|\s\.{3,}|…|_{3,})\s*")


def split_line(rules: ExtractionRules, text: str) -> LabelMatch | None:
    """'Label: value', 'Label<TAB>value' or a label alone; None when no label starts it."""
    if not may_start_label(rules, text):
        return None
    exact = next((rules.label(f) for f in label_candidates(text) if rules.label(f)), None)
    if exact is not None:
        return LabelMatch(exact, text.strip(), "")
    for separator in _SEPARATORS.finditer(text):
        head = text[:separator.start()]
        hit = match_label(rules, head)
        if hit is not None:
            return LabelMatch(hit.rule, head.strip(), text[separator.end():].strip(), hit.score,
                              hit.others, hit.decided)
    # Only a text with no 'label: value' in it may be a label by its words alone.
    whole = best_label(rules, text)
    return LabelMatch(whole.rule, text.strip(), "", whole.score, whole.others,
                      whole.decided) if whole else None


def first_words_label(rules: ExtractionRules, words: Sequence[str],
                      max_words: int = 8) -> tuple[LabelRule, int] | None:
    """The longest label made of the first words of a line, and how many words it took."""
    for count in range(min(max_words, len(words)), 0, -1):
        rule = find_label(rules, " ".join(words[:count]))
        if rule is not None:
            return rule, count
    return None


def name_rule(rules: ExtractionRules, name: str) -> tuple[str, str] | None:
    """(canonical key, rule id) of the first field-name pattern matching a form-field name."""
    for field_rule in rules.fields:
        for rule in field_rule.names:
            if rule.pattern.search(name):
                return field_rule.key, rule.id
    return None


def signature_label(rules: ExtractionRules, text: str) -> bool:
    """Whether the text is the label of a signature line."""
    labels = rules.signatures.labels
    if any(f in labels for f in label_candidates(text)):
        return True
    # "Physician's signature" for "Signature of the physician": the same words, or only
    # words of signature labels with the word signature among them.
    words = frozenset(raw_words(text, rules.synonyms)) if len(text) <= 80 else frozenset()
    known = [frozenset(raw_words(label, rules.synonyms)) for label in labels]
    signature = frozenset(raw_words("signature", rules.synonyms))
    return bool(words) and (words in known or (
        signature <= words and words <= frozenset().union(*known)))


def says_signed(rules: ExtractionRules, text: str) -> bool:
    """Whether a signature stamp's words ('Digitally signed by') are in the text."""
    folded = f" {fold(text)} "
    return any(f" {phrase} " in folded for phrase in rules.signatures.signed_phrases)


# --- ticked boxes ----------------------------------------------------------------------

# "■" is left out: it is far more often a bullet than a ticked box.
CHECKED_MARKS = "☒☑✓✔✗✘▣"
UNCHECKED_MARKS = "☐□❏❑▢"
_BOX = re.compile(r"(\[\s*[xX✓✔]\s*\]|\(\s*[xX]\s*\)|\[\s*\]|\(\s*\)|"
                  rf"[{CHECKED_MARKS}{UNCHECKED_MARKS}])")


def checkbox_rule(rules: ExtractionRules, text: str, name: str = "") -> CheckboxRule | None:
    """The checkbox rule whose label the text is or starts with, or whose name matches."""
    folded = label_candidates(text) if text else ()
    exact = next((r for r in rules.checkboxes if any(f in r.labels for f in folded)), None)
    if exact is not None:
        return exact
    prefixed = [(len(label), rule) for rule in rules.checkboxes for label in rule.labels
                if any(f.startswith(label + " ") for f in folded)]
    if prefixed:
        return max(prefixed, key=lambda hit: hit[0])[1]
    if name:
        return next((r for r in rules.checkboxes if any(p.search(name) for p in r.names)),
                    None)
    return None


def ticked_options(text: str) -> tuple[tuple[bool, str], ...]:
    """Each box on a line with the option text after it: ((checked, 'Manufacturer'), ...)."""
    parts = _BOX.split(text)
    options = []
    for index in range(1, len(parts) - 1, 2):
        mark, option = parts[index], parts[index + 1].strip(" \t:;,")
        checked = mark in CHECKED_MARKS or bool(re.search(r"[xX✓✔]", mark))
        if option:
            options.append((checked, option))
    return tuple(options)


def has_box(text: str) -> bool:
    """Whether the text holds a checkbox mark."""
    return bool(_BOX.search(text))


# --- building values -------------------------------------------------------------------


def make_value(rules: ExtractionRules, key: str, raw: str, source: Source, rule_id: str,
               confidence: float) -> FieldValue | None:
    """Apply the field's value pattern and normaliser; None when the text is no value."""
    field_rule = rules.field_rule(key)
    text = raw
    if field_rule is not None and field_rule.value_pattern is not None:
        match = field_rule.value_pattern.search(raw)
        if match is None:
            return None
        text = match.group(1) if match.groups() else match.group(0)
    result = normalise(field_rule.normaliser if field_rule else "text", text)
    if result is None:
        return None
    value, factor = result
    return FieldValue(key, value, collapse(raw), source, rule_id, round(confidence * factor, 3))


# Values that read as nothing else: a close field with such a normaliser takes them.
_TELLING = {"email": re.compile(r"^\S+@\S+$"), "phone": re.compile(r"^[+(]?[\d][\d\s()./-]{5,}$")}
_UNTYPED = frozenset({"text", "patient_reference"})


def label_value(rules: ExtractionRules, match: LabelMatch | LabelHit, raw: str, source: Source,
                confidence: float) -> FieldValue | None:
    """The value a printed label gives. Its field's; but when the label is tied with other
    fields, the one field whose typed normaliser reads the value (a role, a date); and a
    telling value (an e-mail address, a phone number) goes to a close field that takes it."""
    confidence *= match.score
    untyped = _normaliser(rules, match.rule.key) in _UNTYPED
    for other in match.others if untyped else ():
        if _telling(rules, other.key, raw):
            return make_value(rules, other.key, raw, source, other.id, confidence)
    if match.decided:
        return make_value(rules, match.rule.key, raw, source, match.rule.id, confidence)
    fits = [value for rule in (match.rule, *match.others)
            if _normaliser(rules, rule.key) not in _UNTYPED
            and (value := make_value(rules, rule.key, raw, source, rule.id, confidence))]
    # Two fields of one type (two dates) stay undecided; fields of different types that
    # both read the value are a combined answer ('20 patients over 12 months'): the best
    # one is taken, and its `also` rules read the other.
    kinds = {_normaliser(rules, value.key) for value in fits}
    return fits[0] if fits and len(kinds) == len(fits) else None


def _normaliser(rules: ExtractionRules, key: str) -> str:
    field_rule = rules.field_rule(key)
    return field_rule.normaliser if field_rule else "text"


def _telling(rules: ExtractionRules, key: str, raw: str) -> bool:
    pattern = _TELLING.get(_normaliser(rules, key))
    return pattern is not None and bool(pattern.match(raw.strip()))


def reads_as_value(rules: ExtractionRules, key: str, text: str) -> bool:
    """Whether a text that looks like a label is in fact a value of this field ('Classe III'
    under 'Classe du dispositif'): only for fields whose normaliser is not free text."""
    field_rule = rules.field_rule(key)
    if field_rule is None or field_rule.normaliser in ("text", "patient_reference"):
        return False
    return normalise(field_rule.normaliser, text) is not None


def derived_values(rules: ExtractionRules, values: Iterable[FieldValue],
                   ) -> list[FieldValue]:
    """Fields read out of other fields' text by `also` rules, a little less confidently."""
    derived: list[FieldValue] = []
    for value in values:
        field_rule = rules.field_rule(value.key)
        for also in field_rule.also if field_rule else ():
            match = also.pattern.search(value.raw)
            part = (match.group(1) if match.groups() else match.group(0)) if match else ""
            found = make_value(rules, also.key, part, value.source, also.id,
                               value.confidence * 0.9) if part else None
            derived.extend([found] if found else [])
    return derived


def checkbox_value(rule: CheckboxRule, raw: str, source: Source,
                   confidence: float) -> FieldValue:
    """The fixed value a ticked box stands for."""
    return FieldValue(rule.field, rule.value, collapse(raw), source, rule.id, confidence)


def best_per_key(values: Iterable[FieldValue]) -> tuple[FieldValue, ...]:
    """One value per canonical key: the most confident, the first found on a tie."""
    best: dict[str, FieldValue] = {}
    for value in values:
        kept = best.get(value.key)
        if kept is None or value.confidence > kept.confidence:
            best[value.key] = value
    return tuple(sorted(best.values(), key=_document_order))


def _document_order(value: FieldValue) -> tuple[int, int, int, int, int]:
    source = value.source
    return (source.page or 0, source.table or 0, source.row or 0,
            source.paragraph or source.line or 0, source.cell or 0)


# --- lines of text (e-mail bodies, Word paragraphs, PDF text) ---------------------------

LINE_CONFIDENCE = 0.85
BELOW_CONFIDENCE = 0.75
BOX_CONFIDENCE = 0.85
_MAX_CONTINUATION = 30


@dataclass(frozen=True)
class Line:
    """One line of text with where it stands."""

    text: str
    source: Source


def line_fields(rules: ExtractionRules, lines: Sequence[Line],
                confidence: float = LINE_CONFIDENCE) -> list[FieldValue]:
    """Values from 'Label: value' lines, labels with the value below, and ticked boxes."""
    found: list[FieldValue] = []
    for index, line in enumerate(lines):
        found.extend(boxes_on_line(rules, line.text, line.source))
        match = split_line(rules, line.text)
        if match is None:
            continue
        value = _line_value(rules, match, lines, index, confidence)
        if value is not None:
            found.append(value)
    return found


def _line_value(rules: ExtractionRules, match: LabelMatch, lines: Sequence[Line], index: int,
                confidence: float) -> FieldValue | None:
    key, source = match.rule.key, _labelled(lines[index].source, match.label)
    if has_box(match.value):
        return None  # "Role: ☒ Manufacturer ☐ ...": the ticked box gives the value
    field_rule = rules.field_rule(key)
    multiline = bool(field_rule and field_rule.multiline)
    if match.value:
        more = _continuation(rules, lines, index + 1) if multiline else []
        raw = " ".join([match.value, *more])
        return label_value(rules, match, raw, source, confidence)
    below = _continuation(rules, lines, index + 1, skip_blank=True)
    if not below:
        return None
    raw = " ".join(below if multiline else below[:1])
    return label_value(rules, match, raw, source, confidence * 0.9)


def _continuation(rules: ExtractionRules, lines: Sequence[Line], start: int,
                  skip_blank: bool = False) -> list[str]:
    """Following lines up to a blank line, a labelled line or a line of boxes."""
    taken: list[str] = []
    for line in lines[start:start + _MAX_CONTINUATION]:
        text = line.text.strip()
        if not text and (taken or not skip_blank):
            break
        if not text:
            continue
        if (split_line(rules, text) is not None and not text[:1].islower()) or has_box(text):
            break  # a line in lower case carries a wrapped sentence on
        taken.append(text)
    return taken


def _labelled(source: Source, label: str) -> Source:
    return replace(source, label=label)


def boxes_on_line(rules: ExtractionRules, text: str, source: Source) -> list[FieldValue]:
    """Values of ticked boxes written as glyphs: '☒ Manufacturer ☐ Importer'."""
    if not has_box(text):
        return []
    found = []
    for checked, option in ticked_options(text):
        rule = checkbox_rule(rules, option) if checked else None
        if rule is not None:
            found.append(checkbox_value(rule, option, _labelled(source, option),
                                        BOX_CONFIDENCE))
    return found


def mentions_labels(rules: ExtractionRules, text: str) -> bool:
    """Whether a plain text looks like a form (a page worth reading with positions)."""
    # A 'Label: value' line or a ticked box a rule knows is enough; lines that merely start
    # with a label must be two, as prose may start one by chance.
    weak: set[str] = set()
    for line in text.splitlines():
        if _strong_cue(rules, line):
            return True
        rule = _weak_cue(rules, line)
        if rule is not None:
            weak.add(rule)
            if len(weak) >= 2:
                return True
    return False


def _strong_cue(rules: ExtractionRules, line: str) -> bool:
    if has_box(line) and any(checked and checkbox_rule(rules, option)
                             for checked, option in ticked_options(line)):
        return True
    match = split_line(rules, line)
    return match is not None and bool(match.value)


def _weak_cue(rules: ExtractionRules, line: str) -> str | None:
    """A label alone on its line, or a capitalised short line that starts with one."""
    words = line.split()
    if not words or len(words) > 12 or words[0][:1].islower():
        return None
    found = first_words_label(rules, words, max_words=6)
    return found[0].id if found else None


# --- document kind and language ---------------------------------------------------------


@dataclass(frozen=True)
class KindCues:
    """What a document shows of itself, to decide its kind."""

    filename: str
    first_text: str  # title, metadata and first-page text
    form_names: tuple[str, ...] = ()
    field_keys: frozenset[str] = frozenset()


_TITLE_ZONE = 300  # first characters of the title, metadata and first page: "the title"


def document_kind(rules: ExtractionRules, cues: KindCues) -> tuple[str, str | None]:
    """The kind of the strongest rule that fires, with its id; else 'other'.

    A cue in the file name, a form-field name or the title outranks a phrase further down
    the first page; among equals the highest priority wins.
    """
    folded = f" {fold(cues.first_text)} "
    title = f" {fold(cues.first_text[:_TITLE_ZONE])} "
    ranked = [(strength, rule.priority, -index, rule)
              for index, rule in enumerate(rules.kinds)
              if (strength := _strength(rule, cues, folded, title))]
    if not ranked:
        return "other", None
    best = max(ranked, key=lambda hit: hit[:3])[3]
    return best.kind, best.id


def _strength(rule: KindRule, cues: KindCues, folded: str, title: str) -> int:
    """2: a strong cue (name, title); 1: a phrase on the first page or fields alone; 0."""
    if not all(key in cues.field_keys for key in rule.requires_fields):
        return 0
    if (any(p.search(cues.filename) for p in rule.filenames)
            or any(p.search(name) for p in rule.form_fields for name in cues.form_names)
            or any(f" {phrase.folded} " in title for phrase in rule.phrases)):
        return 2
    if any(f" {phrase.folded} " in folded for phrase in rule.phrases):
        return 1
    cued = bool(rule.filenames or rule.phrases or rule.form_fields)
    return 1 if not cued and rule.requires_fields else 0


_STOPWORDS = {
    "en": "the and of to for with is are this that be by from which on patient device",
    "fr": "le la les et des du une est pour avec dans sur au aux que qui par patient",
    "nl": "de het een en van voor met is zijn dat die op aan door bij patient hulpmiddel",
    "de": "der die das und ist mit fur von zu den dem ein eine nicht auf bei patient",
}
_STOPWORD_SETS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}


def guess_language(rules: ExtractionRules, labels_hit: Iterable[LabelRule],
                   text: str) -> str | None:
    """The language whose labels matched most; else the one with most common words."""
    votes = Counter(lang for lang in (_only_language(rules, hit.folded) for hit in labels_hit)
                    if lang)
    votes.update(phrase_languages(rules, text))
    if votes:
        ranked = votes.most_common(2)
        if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
            return ranked[0][0]
    return _stopword_language(text)


def phrase_languages(rules: ExtractionRules, text: str) -> list[str]:
    """Languages of the kind phrases found in the text (one vote each)."""
    folded = f" {fold(text[:5000])} "
    return [p.language for rule in rules.kinds for p in rule.phrases
            if f" {p.folded} " in folded]


def _stopword_language(text: str) -> str | None:
    words = fold(text[:20000]).split()
    if len(words) < 20:
        return None
    counts = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORD_SETS.items()}
    lang, best = max(counts.items(), key=lambda item: item[1])
    return lang if best >= 5 else None


def _only_language(rules: ExtractionRules, folded: str) -> str | None:
    langs = rules.label_languages.get(folded, frozenset())
    return next(iter(langs)) if len(langs) == 1 else None


# --- assembling a document ---------------------------------------------------------------


@dataclass(frozen=True)
class Findings:
    """What a reader found in one file, before the kind and language are decided."""

    text: str
    first_text: str
    pages: int | None
    fields: tuple[FieldValue, ...]
    labels_hit: tuple[LabelRule, ...] = ()
    form_names: tuple[str, ...] = ()
    signatures: tuple[Signature, ...] = ()
    near_misses: tuple[str, ...] = ()
    # The file's text in stretches (PDF pages, Word text between page breaks), for parts.
    segments: tuple[Segment, ...] = ()
    page_problems: tuple[PageProblem, ...] = ()


@dataclass(frozen=True)
class FileInfo:
    """The file a document comes from."""

    filename: str
    sha256: str
    content_type: str
    size: int


def to_document(rules: ExtractionRules, info: FileInfo, findings: Findings) -> ExtractedDocument:
    """Decide kind and language and build the ExtractedDocument."""
    candidates = [*findings.fields, *derived_values(rules, findings.fields)]
    if not any(value.key == "regulation" for value in candidates):
        candidates.extend(stated_regulation(rules, findings.text))
    if not any(value.key == "applicant_role" for value in candidates):
        candidates.extend(stated_role(rules, findings.text))
    fields = tuple(_stamped(f, info) for f in best_per_key(candidates))
    signatures = tuple(replace(s, source=_stamp(s.source, info)) for s in findings.signatures)
    cues = KindCues(info.filename, findings.first_text, findings.form_names,
                    frozenset(f.key for f in fields))
    kind, kind_rule = document_kind(rules, cues)
    parts = split_parts(rules, findings.segments)
    if kind == "other" and parts:
        kind, kind_rule = parts[0].kind, parts[0].kind_rule  # a title only a heading names
    several = len({p.kind for p in parts}) > 1
    return ExtractedDocument(
        filename=info.filename, sha256=info.sha256, content_type=info.content_type,
        size=info.size, kind=kind, kind_rule=kind_rule, pages=findings.pages,
        language=guess_language(rules, findings.labels_hit, findings.text),
        text=findings.text, fields=fields, signatures=signatures,
        near_misses=(*findings.near_misses, *_unanswered(findings.labels_hit, fields)),
        parts=parts if several else (),
        page_problems=findings.page_problems,
    )


TEXT_REGULATION_CONFIDENCE = 0.6


def stated_regulation(rules: ExtractionRules, text: str) -> list[FieldValue]:
    """The regulation a form names in its text when no label or box gave it: lines that name
    one regulation by its name or number, all the same one ('MDR (EU) 2017/745' in a cell
    whose label no rule knows). A line naming both (a title: 'Art. 59 MDR / Art. 54 IVDR')
    tells nothing, nor do lines that disagree."""
    stated: list[tuple[str, int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        named = regulations_named(line)
        if len(named) == 1:
            stated.append((named.pop(), number, line))
    if len({name for name, _, _ in stated}) != 1:
        return []
    name, number, line = stated[0]
    source = Source(filename=None, sha256=None, channel="document_text", line=number)
    return [FieldValue("regulation", name, collapse(line)[:200], source,
                       f"{rules.profile}.text.regulation", TEXT_REGULATION_CONFIDENCE)]


TEXT_ROLE_CONFIDENCE = 0.5
_ROLE_WORDS = 5
_LINE_PARTS = re.compile(r"\s*(?::|\t)\s*")


def stated_role(rules: ExtractionRules, text: str) -> list[FieldValue]:
    """The applicant's role when no label or box gave it: a value that is a role and nothing
    else ('Authorised representative', 'Tiers mandaté') after a label no rule reads as
    another field's, all such values naming the same role. A line without a label and a
    value ('Fabricant' over the manufacturer's name) tells nothing."""
    stated: list[tuple[str, int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        role = _role_value(rules, line)
        if role is not None:
            stated.append((role, number, line))
    if len({role for role, _, _ in stated}) != 1:
        return []
    role, number, line = stated[0]
    source = Source(filename=None, sha256=None, channel="document_text", line=number)
    return [FieldValue("applicant_role", role, collapse(line)[:200], source,
                       f"{rules.profile}.text.applicant_role", TEXT_ROLE_CONFIDENCE)]


def _role_value(rules: ExtractionRules, line: str) -> str | None:
    parts = [p for p in _LINE_PARTS.split(line.strip()) if p]
    if len(parts) != 2:
        return None
    label, value = parts
    hit = match_label(rules, label)
    if hit is not None and hit.decided and hit.rule.key != "applicant_role":
        return None  # another field's label: its value is that field's
    if len(value.split()) > _ROLE_WORDS or any(c.isdigit() for c in value):
        return None
    found = normalise("role", value)
    return found[0] if found else None


def _unanswered(labels: Sequence[LabelRule], fields: Sequence[FieldValue]) -> list[str]:
    """Labels seen on the page whose field got no value: a near miss for `rules test`."""
    keys = {f.key for f in fields}
    return [f"label '{label.text}' ({label.id}) found without a value"
            for label in dict.fromkeys(labels) if label.key not in keys]


def _stamp(source: Source, info: FileInfo) -> Source:
    return replace(source, filename=info.filename, sha256=info.sha256)


def _stamped(value: FieldValue, info: FileInfo) -> FieldValue:
    """Readers leave the file out of their sources; it is written in once, here."""
    return replace(value, source=_stamp(value.source, info))


def failed_document(rules: ExtractionRules, info: FileInfo, reason: str, detail: str,
                    pages: int | None = None) -> ExtractedDocument:
    """A document that could not be read: kind from its file name only, the reason kept."""
    kind, kind_rule = document_kind(rules, KindCues(info.filename, ""))
    return ExtractedDocument(
        filename=info.filename, sha256=info.sha256, content_type=info.content_type,
        size=info.size, kind=kind, kind_rule=kind_rule, pages=pages, language=None,
        text="", fields=(), error=reason, error_detail=detail,
    )
