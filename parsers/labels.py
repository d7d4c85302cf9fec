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
from config.vocabulary import NormaliserName
from parsers.label_match import (
    ACCEPT_ALONE,
    ENUMERATOR,
    PARENTHESES,
    RELATIVE,
    TWIN,
    UNDECIDED,
    LabelHit,
    best_label,
    content_start,
    content_words,
    index_of,
    knows_a_word_of,
    memoised,
    printed_words,
    raw_words,
    typed,
    word_readings,
)
from parsers.normalise import normalise, regulations_named
from parsers.parts import Segment, Spaced, kind_phrases, spaced, split_parts
from parsers.records import (
    DocumentPart,
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

_MAX_LABEL_CHARS = 120


def label_candidates(text: str) -> tuple[str, ...]:
    """Folded forms a printed label may take: as is, without its number or bracketed hint."""
    if len(text) > _MAX_LABEL_CHARS:
        return ()
    stripped = ENUMERATOR.sub("", text, count=1)
    forms = (text, stripped, PARENTHESES.sub(" ", text), PARENTHESES.sub(" ", stripped))
    return tuple(dict.fromkeys(f for f in (fold(x) for x in forms) if f))


def find_label(rules: ExtractionRules, text: str) -> LabelRule | None:
    """The label rule this whole text means (see ``match_label``)."""
    hit = match_label(rules, text)
    return hit.rule if hit else None


def match_label(rules: ExtractionRules, text: str) -> LabelHit | None:
    """The label this whole text is (score 1), else the one it clearly means by its words."""
    # A form's labels come back on every page and every message: each text is read once.
    return memoised(rules, "match_label", text, _match_label)


def _match_label(rules: ExtractionRules, text: str) -> LabelHit | None:
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
    return by_words(rules, text) or _bracketed_label(rules, text)


def by_words(rules: ExtractionRules, text: str) -> LabelHit | None:
    """The field a text names by its words (``best_label``), or by the answers it lists."""
    hit = best_label(rules, text)
    if hit is not None and hit.decided:
        return hit
    listed = _options_label(rules, text)
    if listed is not None and (hit is None or hit.score < UNDECIDED or listed.rule.key in {
            hit.rule.key, *(other.key for other in hit.others)}):
        return listed
    return hit


# Fields whose answers are a few fixed words, and what parts the answers listed in a label.
_LISTED = (NormaliserName.ROLE, NormaliserName.REGULATION, NormaliserName.RISK_CLASS)
_OPTION_BREAK = re.compile(r"[,/;()]|\s[-\u2013]\s|\s(?:or|ou|of|oder)\s", re.IGNORECASE)
_MAX_LISTING_CHARS = 120
_MAX_ASKING_WORDS = 4
LISTED_SCORE = 0.8


def _titled(rules: ExtractionRules, text: str) -> bool:
    """Whether a text holds a form's title words ('National derogation'; not an article
    number, which a label may cite as well, nor one word: 'mandaté' is an answer, 'Mandate'
    a title)."""
    folded = f" {fold(text)} "
    return any(phrase in folded for phrase in _title_phrases(rules))


def _title_phrases(rules: ExtractionRules) -> tuple[str, ...]:
    """The kinds' phrases of two words or more without a digit, each in spaces (once)."""
    return memoised(rules, "title_phrases", "", lambda rules, _: tuple(dict.fromkeys(
        f" {phrase.folded} " for rule in rules.kinds for phrase in rule.phrases
        if " " in phrase.folded and not any(c.isdigit() for c in phrase.folded))))


def _options_label(rules: ExtractionRules, text: str) -> LabelHit | None:
    """A label that lists the answers to choose from ('Tick what you are - manufacturer,
    authorised rep or mandated party', 'Le dispositif relève-t-il du MDR ou de l'IVDR') asks
    for the one field whose fixed answers it names two of."""
    if len(text) > _MAX_LISTING_CHARS:
        return None
    parts = [part.strip() for part in _OPTION_BREAK.split(text) if part.strip()]
    if len(parts) < 2 or _titled(rules, text):
        return None  # (a title cites both regulations: '... (Art. 59 MDR / Art. 54 IVDR)')
    for field_rule in rules.fields:
        if field_rule.normaliser not in _LISTED or not field_rule.labels:
            continue
        answers = {part: found[0] for part in parts
                   if (found := normalise(field_rule.normaliser, part))}
        # The question around the answers is a few words ('Tick what you are', 'Risk
        # class'): a title that cites both regulations says more ('Demande d'autorisation
        # d'un dispositif non marqué CE sur le territoire belge (art 59 MDR / art 54 IVDR)').
        asking = [word for part in parts if part not in answers
                  for word in content_words(part)]
        if len(set(answers.values())) >= 2 and len(asking) <= _MAX_ASKING_WORDS:
            return LabelHit(field_rule.labels[0], LISTED_SCORE)
    return None


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
    if len(text) <= _MAX_LISTING_CHARS and _OPTION_BREAK.search(text):
        return True  # perhaps the answers to choose from alone: 'MDR or IVDR'
    index = index_of(rules)
    # (as printed, not folded: an abbreviation keeps its full stop, 'Risicokl.'; past a
    # form's instructions: 'Gelieve aan te geven in welke hoedanigheid ...')
    return knows_a_word_of(index, content_start(text[:160], 4))


@dataclass(frozen=True)
class LabelMatch:
    """A label found at the start of a line and the text that follows it."""

    rule: LabelRule
    label: str  # as printed
    value: str  # '' when the label stands alone
    score: float = 1.0  # how closely the printed label matches the rule's (1: exactly)
    others: tuple[LabelRule, ...] = ()  # other fields' labels it comes close to
    decided: bool = True  # False: tied with others, the value tells which field it is
    combined: bool = False  # a label asking two fields: the value answers both


_SEPARATORS = re.compile(r"\s*(?::|\t|\s\.{3,}|…|_{3,})\s*")


# A number and a word in small letters: a count ('36 pièces'), where a numbered label has
# its number marked ('1.', '2)') or a capital after it ('3 Device').
_COUNT = re.compile(r"^\d+\s+[^\W\d_A-Z]", re.UNICODE)


def split_line(rules: ExtractionRules, text: str) -> LabelMatch | None:
    """'Label: value', 'Label<TAB>value' or a label alone; None when no label starts it."""
    return memoised(rules, "split_line", text, _split_line)


def _split_line(rules: ExtractionRules, text: str) -> LabelMatch | None:
    if (_COUNT.match(text.strip()) or not may_start_label(rules, text)
            or _part_heading(rules, text)):
        return None  # (a count is a value: '3 unités' is no numbered label 'Unités')
    exact = next((rules.label(f) for f in label_candidates(text) if rules.label(f)), None)
    if exact is not None:
        # (its hint in brackets may name a closer field: 'Courriel (médecin)')
        named = match_label(rules, text) or LabelHit(exact, 1.0)
        return LabelMatch(named.rule, text.strip(), "", named.score, named.others,
                          named.decided, named.combined)
    for separator in _SEPARATORS.finditer(text):
        head = text[:separator.start()]
        if head.count("(") > head.count(")"):
            continue  # a colon inside a hint in brackets: '(CE marking: date)'
        hit = match_label(rules, head)
        if hit is not None:
            return LabelMatch(hit.rule, head.strip(), text[separator.end():].strip(), hit.score,
                              hit.others, hit.decided, hit.combined)
    # Only a text with no 'label: value' in it may be a label by its words alone.
    whole = by_words(rules, text)
    if whole is None or _cites_one_regulation(rules, whole, text):
        return None
    return LabelMatch(whole.rule, text.strip(), "", whole.score, whole.others,
                      whole.decided, whole.combined)


_HEADING_CHARS = 90


def _part_heading(rules: ExtractionRules, text: str) -> bool:
    """Whether a text opens a part of a form by a kind rule's heading ('Part 2 - to be
    completed by the treating physician', 'DEEL 1: AANVRAGER'): a heading, which names who
    fills the part in, not a field; what follows it is the part's instructions."""
    stripped = ENUMERATOR.sub("", text.strip(), count=1)
    return len(stripped) <= _HEADING_CHARS and any(
        (found := pattern.search(stripped)) is not None and found.start() == 0
        for rule in rules.kinds for pattern in rule.headings)


_REGULATION_NUMBER = re.compile(r"\b2017\s*/\s*74[56]\b")


def _cites_one_regulation(rules: ExtractionRules, hit: LabelHit, text: str) -> bool:
    """Whether a text read as the regulation's label cites one regulation by its number: an
    answer ('art. 59 Verordening 2017/745 (MDR)'), where a label cites both or none."""
    return (_normaliser(rules, hit.rule.key) == NormaliserName.REGULATION
            and _REGULATION_NUMBER.search(text) is not None and len(regulations_named(text)) == 1)


def first_words_label(rules: ExtractionRules, words: Sequence[str],
                      max_words: int = 8) -> tuple[LabelRule, int] | None:
    """The longest label made of the first words of a line, and how many words it took."""
    for count in range(min(max_words, len(words)), 0, -1):
        rule = find_label(rules, " ".join(words[:count]))
        if rule is not None:
            return rule, count
    return None


_RUN_ON_CUTS = 3
_BRACKETED_RUN_ON = 0.9


def run_on_label(rules: ExtractionRules, words: Sequence[str]) -> int | None:
    """Where a label run into its value ends ('Number of items requested | 16 units',
    'Legal manufacturer (name) | NeuroVasc'): the first words make a label clear of other
    fields, and the rest reads as a value of its field, or follows a hint in brackets."""
    # A form's printed lines come back on every message: each is read once, by its text
    # when the words are the text's words (no word holds a space, none is empty).
    text = " ".join(words)
    if text.split(" ") != list(words):
        return _run_on_label(rules, words)
    return memoised(rules, "run_on_label", text,
                    lambda rules, text: _run_on_label(rules, text.split(" ")))


def _run_on_label(rules: ExtractionRules, words: Sequence[str]) -> int | None:
    if any(has_box(word) for word in words):
        return None  # a row of options ('☐ Regulation (EU) 2017/745 (MDR)') is no label
    if _COUNT.match(" ".join(words[:2])):
        return None  # a count starts a value: '33 dispositifs sur une période de | 24 mois'
    cuts = [k for k in range(len(words) - 1, 0, -1)
            if words[k][:1].isdigit() or words[k][:1].isupper()][:_RUN_ON_CUTS]
    for cut in cuts:
        head, rest = " ".join(words[:cut]), " ".join(words[cut:])
        if (len(words[:cut]) < 2 or head.count("(") > head.count(")")
                or not may_start_label(rules, head)):
            continue  # a cut inside a hint ('Regelgevend kader (MDR of | IVDR)') is no cut
        hit = match_label(rules, head)
        if hit is None or not hit.decided:
            continue
        # A value that starts with its field's one word is one value: 'Regulation (EU)
        # 2017/745 - medical devices' is no label 'Regulation (EU)' and its value.
        one_word = len(raw_words(PARENTHESES.sub(" ", head), rules.synonyms)) == 1
        if one_word and reads_as_value(rules, hit.rule.key, " ".join(words)):
            continue
        if ((reads_as_value(rules, hit.rule.key, rest) and hit.score >= ACCEPT_ALONE)
                or (head.endswith(")") and hit.score >= _BRACKETED_RUN_ON)):
            return cut
    return None


def name_rule(rules: ExtractionRules, name: str) -> tuple[str, str] | None:
    """(canonical key, rule id) of the first field-name pattern matching a form-field name."""
    # (a form's field names come back on every message, and each is asked more than once)
    return memoised(rules, "name_rule", name, _name_rule)


def _name_rule(rules: ExtractionRules, name: str) -> tuple[str, str] | None:
    for field_rule in rules.fields:
        for rule in field_rule.names:
            if rule.pattern.search(name):
                return field_rule.key, rule.id
    return None


def signature_label(rules: ExtractionRules, text: str) -> bool:
    """Whether the text is the label of a signature line: itself, or both halves of a label
    printed in two languages ('Signature du médecin ... / Handtekening van de arts ...')."""
    # Every segment of a page read with positions is asked, and a form's come back on
    # every message: each text is read once.
    return memoised(rules, "signature_line", text, _signature_line)


def _signature_line(rules: ExtractionRules, text: str) -> bool:
    halves = TWIN.split(text)
    if len(halves) == 2 and all(_signature_label(rules, half) for half in halves):
        return True
    return _signature_label(rules, text)


def _signature_label(rules: ExtractionRules, text: str) -> bool:
    labels = rules.signatures.labels
    if any(f in labels for f in label_candidates(text)):
        return True
    # (the noun before a relative clause: 'Handtekening van de arts die de behandeling
    # uitvoert')
    relative = RELATIVE.match(text)
    if relative is not None and _signature_label(rules, relative.group("head")):
        return True
    # "Physician's signature" for "Signature of the physician": the same words, or only
    # words of signature labels with the word signature among them.
    # (read as printed words: 'Handt. arts', 'Sign. méd.' are abbreviations; every segment
    # of a page is asked, so the answer and the labels' words are kept)
    # A word of a signer's field ('... and hospital stamp') or one unknown word more ('the
    # physician responsible for the treatment', 'attending physician') is fine; a word of
    # another field is not ('Date of signature' asks for a date).
    return memoised(rules, "signature_label", text, _signature_words)


def _signature_words(rules: ExtractionRules, text: str) -> bool:
    """Whether the text's words read as a signature label's (see ``_signature_label``)."""
    index = index_of(rules)
    known = [printed_words(index, label) for label in rules.signatures.labels]
    signature = printed_words(index, "signature")
    signer = frozenset().union(*known, *(index.field_words.get(key, frozenset())
                                          for key in _SIGNERS))
    return len(text) <= 80 and any(words and (words in known or (
        signature <= words and len(words - signer) <= _SIGNER_WORDS
        and not any(w in index.weights for w in words - signer)))
        for words in word_readings(index, text))


_SIGNERS = ("physician_name", "hospital_name")  # whose signature and stamp a form asks for
_SIGNER_WORDS = 1


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


def label_value(rules: ExtractionRules, match: LabelMatch | LabelHit, raw: str, source: Source,
                confidence: float) -> FieldValue | None:
    """The value a printed label gives. Its field's; but when the label is tied with other
    fields, the one field whose typed normaliser reads the value (a role, a date); and a
    telling value (an e-mail address, a phone number) goes to a close field that takes it."""
    confidence *= match.score
    untyped = not typed(rules, match.rule.key)
    for other in match.others if untyped else ():
        if _telling(rules, other.key, raw):
            return make_value(rules, other.key, raw, source, other.id, confidence)
    if match.decided:
        return make_value(rules, match.rule.key, raw, source, match.rule.id, confidence)
    if _address_in_passing(raw):
        # Under a text that only comes near a label ('To be completed by the treating
        # physician'), a sentence that mentions an address ('Send the form to x@agency.be.
        # For ...') is instructions: neither the address nor the sentence is an answer.
        return None
    candidates = (match.rule, *match.others)
    fits = [value for rule in candidates
            if typed(rules, rule.key)
            and (value := make_value(rules, rule.key, raw, source, rule.id, confidence))]
    # Two fields of one type (two dates) stay undecided; fields of different types that
    # both read the value are a combined answer ('20 patients over 12 months'): the best
    # one is taken, and its `also` rules read the other.
    kinds = {_normaliser(rules, value.key) for value in fits}
    if fits:
        return fits[0] if len(kinds) == len(fits) else None
    # No typed field reads it: free text is the one free-text field's among the candidates
    # ('Status (CE)' close to both the applicant's role and the regulatory status), when the
    # label is no weak match (a weak one needs a value of its field's type to be believed:
    # 'Brand of the device' shares one word with 'Device', too little for a free text).
    free = [rule for rule in candidates if not typed(rules, rule.key)]
    if len(free) == 1 and match.score >= UNDECIDED and not _telling_any(raw):
        return make_value(rules, free[0].key, raw, source, free[0].id, confidence)
    # A value that names its own field ('Hôpital Erasme' under 'Health structure of use')
    # settles a weak label too.
    named = _field_named(rules, raw) if len(raw) <= _NAME_CHARS else None
    rule = next((r for r in free if r.key == named), None)
    if rule is not None:
        return make_value(rules, rule.key, raw, source, rule.id, confidence)
    return None


_NAME_CHARS = 80


def _field_named(rules: ExtractionRules, text: str) -> str | None:
    """The field a value names by a word of its own labels, not word for word ('Hôpital
    Erasme' is a hospital; 'B. Legal manufacturer' over 'Legal manufacturer' is a heading
    over its label, and a text tied between two fields names neither)."""
    following = split_line(rules, text)
    if (following is None or following.value or following.score >= 1.0
            or not following.decided):
        return None
    return following.rule.key


def _normaliser(rules: ExtractionRules, key: str) -> str:
    field_rule = rules.field_rule(key)
    return field_rule.normaliser if field_rule else "text"


def _telling_any(raw: str) -> bool:
    """Whether a value reads as an e-mail address or a phone number, whatever the field."""
    return any(pattern.match(raw.strip()) for pattern in _TELLING.values())


def _telling(rules: ExtractionRules, key: str, raw: str) -> bool:
    pattern = _TELLING.get(_normaliser(rules, key))
    return pattern is not None and bool(pattern.match(raw.strip()))


def _address_in_passing(raw: str) -> bool:
    """Whether a text mentions an e-mail address among other words."""
    return "@" in raw and not _TELLING["email"].match(raw.strip())


def reads_as_value(rules: ExtractionRules, key: str, text: str) -> bool:
    """Whether a text that looks like a label is in fact a value of this field ('Classe III'
    under 'Classe du dispositif'): only for fields whose normaliser is not free text."""
    field_rule = rules.field_rule(key)
    if field_rule is None or field_rule.normaliser in ("text", "patient_reference"):
        return False
    return normalise(field_rule.normaliser, text) is not None


def value_of_label(rules: ExtractionRules, label: LabelMatch | None, text: str) -> bool:
    """Whether a text that reads like a label is the value of the bare label before it: a
    value of its field ('Class III'), or a name of the same field ('Hospital | Hôpital
    Erasme')."""
    if label is None or label.value:
        return False
    # A label tied with other fields ('Type de demandeur': the applicant's name or role) has
    # its value in any of them ('Fabricant' is a role).
    keys = (label.rule.key, *((r.key for r in label.others) if not label.decided else ()))
    if any(reads_as_value(rules, key, text) for key in keys):
        return True
    # ('Demandeur (personne morale) | Type de demandeur' are two labels: the second is tied
    # between the name and the role)
    return _field_named(rules, text) == label.rule.key


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
    owned: set[int] = set()  # lines read as labels that a value above took as its own text
    for index, line in enumerate(lines):
        if index in owned:
            continue
        found.extend(boxes_on_line(rules, line.text, line.source))
        match = split_line(rules, line.text)
        if match is None:
            continue
        value = _line_value(rules, match, lines, index, confidence, owned)
        if value is not None:
            found.append(value)
    return found


def _line_value(rules: ExtractionRules, match: LabelMatch, lines: Sequence[Line], index: int,
                confidence: float, owned: set[int]) -> FieldValue | None:
    key, source = match.rule.key, _labelled(lines[index].source, match.label)
    if has_box(match.value):
        return None  # "Role: ☒ Manufacturer ☐ ...": the ticked box gives the value
    field_rule = rules.field_rule(key)
    multiline = bool(field_rule and field_rule.multiline)
    if match.value:
        more = _continuation(rules, lines, index + 1, key=key, owned=owned) if multiline else []
        raw = " ".join([match.value, *more])
        return label_value(rules, match, raw, source, confidence)
    below = _continuation(rules, lines, index + 1, skip_blank=True,
                          key=key if multiline else None, owned=owned)
    if not below:
        return None
    raw = " ".join(below if multiline else below[:1])
    return label_value(rules, match, raw, source, confidence * 0.9)


# A few words and a date on a line of their own open a field ('Gedateerd 22.04.2026',
# 'Signed on: 2026-04-20'), even one no rule knows; free text does not go on there.
_DATED_LINE = re.compile(r"^[^\W\d][\w' ,-]{1,40}?:?\s+\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\s*$")


def opens_dated_field(text: str) -> bool:
    """Whether a line is a few words and a date: a field of its own, not wrapped text."""
    return not text[:1].islower() and bool(_DATED_LINE.match(text.strip()))


def _continuation(rules: ExtractionRules, lines: Sequence[Line], start: int,
                  skip_blank: bool = False, key: str | None = None,
                  owned: set[int] | None = None) -> list[str]:
    """Following lines up to a blank line, a labelled line or a line of boxes.

    ``key``: the field of a free text being read; a line inside it that reads as a label of
    the same field is the text's own ('Expected benefit: avoiding open surgery.' in a
    justification), and goes in ``owned``."""
    taken: list[str] = []
    for number, line in enumerate(lines[start:start + _MAX_CONTINUATION], start=start):
        text = line.text.strip()
        if not text and (taken or not skip_blank):
            break
        if not text:
            continue
        match = split_line(rules, text)
        if ((_ends_text(match) and not text[:1].islower()) or has_box(text)
                or opens_dated_field(text)):
            # (a line in lower case carries a wrapped sentence on)
            # (not before the text starts: a label under a label is a label)
            if not ((taken or not skip_blank) and owns_label(match, key)) or has_box(text):
                break
            if owned is not None:
                owned.add(number)
        taken.append(text)
    return taken


def owns_label(match: LabelMatch | None, key: str | None) -> bool:
    """Whether a line inside a free text of field ``key`` that reads as a label is the text's
    own: a field is not asked twice in a row, so a label of the same field is a sentence of
    its answer."""
    return key is not None and match is not None and match.rule.key == key and (
        match.decided or all(other.key == key for other in match.others))


def _ends_text(match: LabelMatch | None) -> bool:
    """Whether a line read as a label ends the text above it: not when it is only weakly
    like one ('No CE-marked alternative exists' under 'Justification' is its first line)."""
    return match is not None and (match.decided or bool(match.value) or match.score >= UNDECIDED)


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
    return label_cues(rules, text) >= 2


def label_cues(rules: ExtractionRules, text: str) -> int:
    """How much a plain text looks like a form: 2 (surely), 1 (one label alone), 0."""
    # A 'Label: value' line or a ticked box a rule knows is enough; lines that merely start
    # with a label must be two, as prose may start one by chance (one is enough on the page
    # after a form's page: the form's last label and the signature).
    weak: set[str] = set()
    alone = False
    for line in text.splitlines():
        if _strong_cue(rules, line):
            return 2
        rule = _weak_cue(rules, line)
        if rule is not None:
            weak.add(rule)
            if len(weak) >= 2:
                return 2
            hit = match_label(rules, line)
            alone = alone or (hit is not None and hit.decided)  # the whole line a label
    return 1 if alone else 0


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
    texts = _FoldedCues(folded, frozenset(folded.split()), title, frozenset(title.split()))
    ranked = [(strength, rule.priority, -index, rule)
              for index, (rule, phrases) in enumerate(kind_phrases(rules))
              if (strength := _strength(rule, phrases, cues, texts))]
    if not ranked:
        return "other", None
    best = max(ranked, key=lambda hit: hit[:3])[3]
    return best.kind, best.id


@dataclass(frozen=True)
class _FoldedCues:
    """The first text and its title zone folded, in spaces, with their words."""

    text: str
    text_words: frozenset[str]
    title: str
    title_words: frozenset[str]


def _strength(rule: KindRule, phrases: Sequence[Spaced], cues: KindCues,
              texts: _FoldedCues) -> int:
    """2: a strong cue (name, title); 1: a phrase on the first page or fields alone; 0.
    ``phrases``: the rule's phrases (``kind_phrases``)."""
    if not all(key in cues.field_keys for key in rule.requires_fields):
        return 0
    if (any(p.search(cues.filename) for p in rule.filenames)
            or any(p.search(name) for p in rule.form_fields for name in cues.form_names)
            or any(phrase.found_in(texts.title, texts.title_words) for phrase in phrases)):
        return 2
    if any(phrase.found_in(texts.text, texts.text_words) for phrase in phrases):
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
    words = frozenset(folded.split())
    return [language for phrase, language in _phrase_languages(rules)
            if phrase.found_in(folded, words)]


def _phrase_languages(rules: ExtractionRules) -> tuple[tuple[Spaced, str], ...]:
    """Every kind phrase (``spaced``) with its language, in the rules' order (once)."""
    return memoised(rules, "phrase_languages", "", lambda rules, _: tuple(
        (spaced(p.folded), p.language) for rule in rules.kinds for p in rule.phrases))


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
    parts = split_parts(rules, findings.segments, lambda line: field_line(rules, line))
    parts = _with_leading_part(parts, kind, kind_rule, findings.segments)
    several = len({p.kind for p in parts}) > 1
    if parts and (kind == "other" or several):
        # A title only a heading names; and a file in parts is what its first part is, not
        # what a phrase of its first page says ('Third party with a mandate' is no mandate).
        kind, kind_rule = parts[0].kind, parts[0].kind_rule
    return ExtractedDocument(
        filename=info.filename, sha256=info.sha256, content_type=info.content_type,
        size=info.size, kind=kind, kind_rule=kind_rule, pages=findings.pages,
        language=guess_language(rules, findings.labels_hit, findings.text),
        text=findings.text, fields=fields, signatures=signatures,
        near_misses=(*findings.near_misses, *_unanswered(findings.labels_hit, fields)),
        parts=parts if several else (),
        page_problems=findings.page_problems,
    )


def _with_leading_part(parts: tuple[DocumentPart, ...], kind: str, kind_rule: str | None,
                       segments: Sequence[Segment]) -> tuple[DocumentPart, ...]:
    """The parts, with the pages before the first heading as a part of the file's own kind:
    a national form whose title no heading names, with a mandate from page 2."""
    first = segments[0].first_page if segments else None
    if (not parts or kind in ("other", parts[0].kind) or first is None
            or parts[0].first_page is None or parts[0].first_page <= first):
        return parts
    last = parts[0].first_page - 1
    return (DocumentPart(kind, kind_rule, f"pages {first}-{last}", first, last), *parts)


def field_line(rules: ExtractionRules, line: str) -> bool:
    """Whether a line is a known field's 'Label: value'."""
    match = split_line(rules, line)
    return match is not None and match.decided and bool(match.value)


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
