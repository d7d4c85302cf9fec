"""Normalisers by name: raw form text in, canonical field value out (or None when invalid).

Rule files name a normaliser per canonical field; each returns the value in the normal form
of domain.md together with a confidence factor (1.0 unless the value had to be guessed at
or reduced, as a full patient name is reduced to initials).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from config.text import collapse, fold, strip_accents
from config.vocabulary import NormaliserName

Normalised = tuple[str, float]
Normaliser = Callable[[str], Normalised | None]

# --- text -------------------------------------------------------------------------------


def to_text(raw: str) -> Normalised | None:
    """Trimmed text with single spaces; None when nothing is left."""
    value = collapse(raw.replace("\u00a0", " "))
    return (value, 1.0) if value and not _is_placeholder(value) else None


_PLACEHOLDERS = re.compile(
    r"^(?:[_.…\-\s]+|click (?:or tap )?here to enter text\.?|choose an item\.?"
    r"|cliquez ici pour taper du texte\.?|klik hier om tekst in te voeren\.?"
    r"|klicken sie hier,? um text einzugeben\.?|n/?a)$", re.IGNORECASE)


def _is_placeholder(value: str) -> bool:
    """Word's placeholder prompts and blank lines are not values."""
    return bool(_PLACEHOLDERS.match(value))


# --- dates ------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate((
    "january jan janvier janv januari januar jaenner janner",
    "february feb fevrier fevr fev februari februar",
    "march mar mars maart maerz marz mrt",
    "april apr avril avr",
    "may mai mei",
    "june jun juin juni",
    "july jul juillet juil juli",
    "august aug aout augustus",
    "september sep sept septembre",
    "october oct octobre oktober okt",
    "november nov novembre",
    "december dec decembre dezember dez",
), start=1):
    for _name in _names.split():
        _MONTHS[_name] = _number

_NUMERIC_DMY = re.compile(r"\b(\d{1,2})\s*[./-]\s*(\d{1,2})\s*[./-]\s*(\d{4}|\d{2})\b")
_NUMERIC_YMD = re.compile(r"\b(\d{4})\s*[./-]\s*(\d{1,2})\s*[./-]\s*(\d{1,2})\b")
_WORD_DMY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th|er|e|de|ste|\.)?\s+([a-z]+)\.?,?\s+(\d{4})\b")
_WORD_MDY = re.compile(r"\b([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")


def to_date(raw: str) -> Normalised | None:
    """European numeric or written-out dates (EN/FR/NL/DE) to ISO yyyy-mm-dd."""
    found = dates_in(raw)
    return (found[0].isoformat(), 1.0) if found else None


def to_period(raw: str) -> Normalised | None:
    """A period 'from ... to ...' to an ISO 8601 interval 'yyyy-mm-dd/yyyy-mm-dd'; a length
    alone ('over 12 months', '2 ans') to an ISO 8601 duration ('P12M', 'P2Y')."""
    found = dates_in(raw)
    if len(found) < 2:
        found = _open_start(raw, found)
    if len(found) < 2:
        return _duration(raw) if not found else None
    if found[0] > found[1]:
        return None
    return f"{found[0].isoformat()}/{found[1].isoformat()}", 1.0


_DURATION_UNITS = {
    "M": "months? mois maanden maand monate? monaten",
    "Y": "years? ans? annees? jaar jaren jahre? jahren",
    "W": "weeks? semaines? weken week wochen? woche",
}
_DURATION = re.compile(
    r"\b(\d{1,3})\s*(" + "|".join(u for units in _DURATION_UNITS.values()
                                for u in units.split()) + r")\b")
_UNIT_OF = {re.compile(f"^(?:{'|'.join(units.split())})$"): letter
            for letter, units in _DURATION_UNITS.items()}


def _duration(raw: str) -> Normalised | None:
    """'up to 20 patients over 12 months' -> 'P12M' (the one length the text gives)."""
    found = _DURATION.findall(strip_accents(raw).casefold())
    if len(found) != 1:
        return None
    number, unit = found[0]
    letter = next(letter for pattern, letter in _UNIT_OF.items() if pattern.match(unit))
    return (f"P{int(number)}{letter}", 1.0) if int(number) else None


def dates_in(raw: str) -> list[date]:
    """Every date written in the text, in reading order."""
    text = _date_text(raw)
    hits = sorted(((m.start(), -m.end(), day) for pattern, build in _DATE_FORMS
                   for m in pattern.finditer(text) if (day := build(m)) is not None),
                  key=lambda hit: hit[:2])
    kept: list[date] = []
    reached = -1
    for start, negative_end, day in hits:
        if start >= reached:  # overlapping readings of the same digits: the first wins
            kept.append(day)
            reached = -negative_end
    return kept


def _open_start(raw: str, found: list[date]) -> list[date]:
    """'vom 1. April bis 30. September 2026': the first date borrows the year of the last."""
    partial = _WORD_DM.search(_date_text(raw))
    if len(found) != 1 or partial is None or partial.group(2) not in _MONTHS:
        return found
    start = _make_date(str(found[0].year), str(_MONTHS[partial.group(2)]), partial.group(1))
    if start is None or start >= found[0]:
        return found
    return [start, found[0]]


def _date_text(raw: str) -> str:
    return strip_accents(raw).casefold().replace("1er", "1")


def _numeric(year: int, month: int, day: int) -> Callable[[re.Match[str]], date | None]:
    return lambda m: _make_date(m.group(year), m.group(month), m.group(day))


def _worded(year: int, month: int, day: int) -> Callable[[re.Match[str]], date | None]:
    def build(m: re.Match[str]) -> date | None:
        number = _MONTHS.get(m.group(month))
        return _make_date(m.group(year), str(number), m.group(day)) if number else None
    return build


_WORD_DM = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th|er|e|de|ste|\.)?\s+([a-z]+)\b")
_DATE_FORMS = ((_NUMERIC_YMD, _numeric(1, 2, 3)), (_NUMERIC_DMY, _numeric(3, 2, 1)),
               (_WORD_DMY, _worded(3, 2, 1)), (_WORD_MDY, _worded(3, 1, 2)))


def _make_date(year: str, month: str, day: str) -> date | None:
    """Build a date; two-digit years are this century (forms are about the near future)."""
    full_year = int(year) + 2000 if len(year) == 2 else int(year)
    try:
        return date(full_year, int(month), int(day))
    except ValueError:
        return None


# --- contact details --------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def to_email(raw: str) -> Normalised | None:
    """The first e-mail address in the text, lower-cased."""
    match = _EMAIL.search(raw)
    return (match.group(0).lower(), 1.0) if match else None


_TRUNK = re.compile(r"(?<=\d)\s*\(0\)\s*")
_PHONE_JUNK = re.compile(r"[^\d+]+")


def to_phone(raw: str) -> Normalised | None:
    """Digits with an optional leading +, groups separated by single spaces."""
    text = raw.strip()
    text = "+" + text[2:] if text.startswith("00") else text
    # "+32 (0)2 ..." : the trunk zero is not dialled from abroad.
    text = _TRUNK.sub(" ", text)
    grouped = collapse(_PHONE_JUNK.sub(" ", text)).replace("+ ", "+")
    digits = sum(c.isdigit() for c in grouped)
    if not 6 <= digits <= 16 or "+" in grouped[1:]:
        return None
    return grouped, 1.0


# --- device classification --------------------------------------------------------------

_MDR_CLASS = re.compile(r"(?:^|[^a-z0-9])(iii|iib|iia|ii b|ii a|2b|2a|3|i|1)(?:s|m|r)?(?![a-z0-9])")
_IVDR_CLASS = re.compile(r"(?:^|[^a-z0-9])(?:klasse|classe|class|kl|cl)?\s*([a-d])(?![a-z0-9])")
_CLASS_NAMES = {"iii": "III", "3": "III", "iib": "IIb", "ii b": "IIb", "2b": "IIb",
                "iia": "IIa", "ii a": "IIa", "2a": "IIa", "i": "I", "1": "I"}
_CLASS_WORD = re.compile(r"\b(?:class|classe|klasse|kl|cl)\b\.?")


def to_risk_class(raw: str) -> Normalised | None:
    """MDR I/IIa/IIb/III or IVDR A/B/C/D, from text such as 'klasse IIa' or 'Class C'."""
    text = strip_accents(raw).casefold().strip()
    after_word = _CLASS_WORD.split(text, maxsplit=1)[-1]
    for candidate in (after_word, text):
        mdr = _MDR_CLASS.search(candidate.strip())
        if mdr:
            return _CLASS_NAMES[mdr.group(1)], 1.0
    ivdr = _IVDR_CLASS.search(after_word.strip())
    if ivdr and (_CLASS_WORD.search(text) or len(text) <= 3):
        return ivdr.group(1).upper(), 1.0
    return None


_IVDR_CUES = re.compile(r"2017\s*/\s*746|\bivdr?\b|in[ -]?vitro|\bdiv\b|\bdmdiv\b|\biv[dr]\b")
_MDR_CUES = re.compile(r"2017\s*/\s*745|\bmdr\b|medical devices? regulation|\bdm\b"
                       r"|dispositifs? medica|medische hulpmiddel|medizinprodukte")


def to_regulation(raw: str) -> Normalised | None:
    """MDR or IVDR from a regulation's name or number, or from an IVDR-only class letter."""
    text = strip_accents(raw).casefold()
    if _IVDR_CUES.search(text):
        return "IVDR", 1.0
    if _MDR_CUES.search(text):
        return "MDR", 1.0
    klass = to_risk_class(raw)
    if klass and klass[0] in "ABCD":
        return "IVDR", 0.8
    return None


# The regulation's own names and numbers, which a form's free words ('dispositif médical')
# never are.
_NAMED_REGULATIONS = {"MDR": re.compile(r"2017\s*/\s*745|\bmdr\b|\brdm\b"),
                      "IVDR": re.compile(r"2017\s*/\s*746|\bivdr\b|\brdiv\b")}


def regulations_named(text: str) -> set[str]:
    """The regulations a text names by their name or number (MDR, RDM, 2017/745; IVDR ...)."""
    folded = strip_accents(text).casefold()
    return {name for name, pattern in _NAMED_REGULATIONS.items() if pattern.search(folded)}


# --- applicant role ---------------------------------------------------------------------

# Order matters: "tiers mandaté" holds "mandat", "gemandateerde derde" holds no "gemachtigde".
# A party acting on a mandate ('under a mandate', 'sur mandat', 'op basis van een mandaat')
# is a mandated third party; the French authorised representative is a "mandataire".
_ROLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("mandated_third_party", re.compile(
        r"third|tiers|tierce|derde|dritte|mandated_third_party"
        r"|\b(?:mandate|mandated|mandat|mandatee?s?|mandaat|gemandateerd\w*|mandatiert\w*)\b"
        r"|in opdracht|on behalf of|pour le compte|im auftrag")),
    ("authorised_representative", re.compile(
        r"authori[sz]ed|representative|mandataire|gemachtigde|bevollmachtigte|vertreter"
        r"|vertegenwoordiger|representant|\bec[ -]?rep\b|\bauth\.?\s*rep\b")),
    ("manufacturer", re.compile(
        r"manufactur|fabricant|fabriquant|fabrikant|hersteller|producent|producteur|producer"
        r"|\bmaker\b|\bmanuf\b|\bfabr\b|\bmfr\b")),
)


def to_role(raw: str) -> Normalised | None:
    """manufacturer / authorised_representative / mandated_third_party from EN/FR/NL/DE."""
    text = strip_accents(raw).casefold()
    return next(((role, 1.0) for role, cue in _ROLES if cue.search(text)), None)


# --- quantity ---------------------------------------------------------------------------

_NUMBER_WORDS: dict[str, int] = {}
for _value, _words in enumerate((
    "one un une een eins ein eine", "two deux twee zwei", "three trois drie drei",
    "four quatre vier", "five cinq vijf funf fuenf", "six zes sechs",
    "seven sept zeven sieben", "eight huit acht", "nine neuf negen neun",
    "ten dix tien zehn", "eleven onze elf", "twelve douze twaalf zwolf zwoelf",
), start=1):
    for _word in _words.split():
        _NUMBER_WORDS[_word] = _value

_DIGITS = re.compile(r"(?<![\d.,/-])(\d{1,6})(?![\d.,/]\d)")


def to_quantity(raw: str) -> Normalised | None:
    """An integer count from '2 units', 'deux (2)', '3 stuks' or 'drei'."""
    text = strip_accents(raw).casefold()
    # 'for 12 months, 20 patients': a length of time is no count.
    text = _DURATION.sub(" ", text)
    match = _DIGITS.search(text)
    if match:
        return str(int(match.group(1))), 1.0
    word = next((w for w in fold(text).split() if w in _NUMBER_WORDS), None)
    return (str(_NUMBER_WORDS[word]), 0.9) if word else None


# --- identifiers ------------------------------------------------------------------------

_SRN = re.compile(r"\b([A-Z]{2})\s*-\s*(MF|AR|IM|PR)\s*-\s*(\d{9})\b")


def to_srn(raw: str) -> Normalised | None:
    """A EUDAMED single registration number, upper-case, e.g. BE-MF-000012345."""
    match = _SRN.search(raw.upper())
    return ("-".join(match.groups()), 1.0) if match else None


# --- patient reference ------------------------------------------------------------------

_NAME_WORD = re.compile(r"^[A-ZÀ-Þ][a-zà-ÿ'’-]+$")
_FULL_NAME_CONFIDENCE = 0.5


def to_patient_reference(raw: str) -> Normalised | None:
    """Initials or a pseudonym as written; a full name is cut down to its initials."""
    text = to_text(raw)
    if text is None:
        return None
    words = text[0].split()
    if 2 <= len(words) <= 4 and all(_NAME_WORD.match(w) for w in words):
        # Patient data stays minimal: keep only the initials, and say we guessed.
        return "".join(f"{w[0]}." for w in words), _FULL_NAME_CONFIDENCE
    return text


# One function per name of the vocabulary (tests/parsers/test_normalise.py checks both agree).
NORMALISERS: dict[NormaliserName, Normaliser] = {
    NormaliserName.TEXT: to_text,
    NormaliserName.DATE: to_date,
    NormaliserName.EMAIL: to_email,
    NormaliserName.PHONE: to_phone,
    NormaliserName.RISK_CLASS: to_risk_class,
    NormaliserName.REGULATION: to_regulation,
    NormaliserName.ROLE: to_role,
    NormaliserName.QUANTITY: to_quantity,
    NormaliserName.SRN: to_srn,
    NormaliserName.PATIENT_REFERENCE: to_patient_reference,
    NormaliserName.PERIOD: to_period,
}


def normalise(name: str, raw: str) -> Normalised | None:
    """Apply the named normaliser; None when the text holds no valid value."""
    return NORMALISERS[NormaliserName(name)](raw)
