"""Extraction rules of an authority profile: labels and form-field names onto canonical keys.

The rule file is administrator data (``config/profiles/<name>/extraction.toml``). It is
validated when loaded: an unknown key, canonical field, normaliser or a bad regular
expression stops start-up with the file, line and key. Every rule gets an id made from its
text or written in the file, never from its position (e.g.
``famhp.label.device_name.en.name-of-the-device``, see config/rule_ids.py), that extraction
records on each value it finds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config.errors import ConfigError
from config.regex_safety import backtracking_risk
from config.rule_ids import EXPLICIT_ID, IdSource, duplicate_id, rule_ids
from config.rulefile import (
    check_known_keys,
    locate_array_key,
    locate_key,
    read_toml,
    require,
    rule_error,
)
from config.text import fold
from config.vocabulary import (
    ApplicantRole,
    DocumentKind,
    FieldKey,
    Language,
    NormaliserName,
    Regulation,
    RiskClass,
    names,
)

# The canonical fields, document kinds and languages (config.vocabulary), in their order.
FIELD_KEYS: tuple[str, ...] = names(FieldKey)
DOCUMENT_KINDS: tuple[str, ...] = names(DocumentKind)
LANGUAGES: tuple[str, ...] = names(Language)
# Fields whose normal form is one of a few values: a ticked box must give one of them.
ENUM_VALUES: dict[str, tuple[str, ...]] = {
    FieldKey.APPLICANT_ROLE: names(ApplicantRole),
    FieldKey.REGULATION: names(Regulation),
    FieldKey.RISK_CLASS: names(RiskClass),
}

_TOP_KEYS = ("profile", "include", "fields", "checkboxes", "kinds", "signatures", "synonyms")
_SIGNATURE_KEYS = ("labels", "signed_phrases")
_FIELD_KEYS_ALLOWED = ("normaliser", "labels", "names", "value_pattern", "multiline", "also")
_CHECKBOX_KEYS = ("id", "field", "value", "labels", "names")
_LABEL_KEYS = ("text", "id")
_KIND_KEYS = ("id", "kind", "priority", "filenames", "phrases", "form_fields", "requires_fields",
              "headings")
_MAX_INCLUDE_DEPTH = 3


@dataclass(frozen=True)
class LabelRule:
    """One printed label variant of a canonical field, in one language."""

    id: str
    key: str
    text: str
    folded: str
    language: str


@dataclass(frozen=True)
class NameRule:
    """A regular expression over form-field names (AcroForm, content-control tags)."""

    id: str
    key: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class AlsoRule:
    """A second field found inside the value of the first."""

    id: str
    key: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class FieldRule:
    """How one canonical field is recognised and normalised."""

    key: str
    normaliser: str
    labels: tuple[LabelRule, ...]
    names: tuple[NameRule, ...]
    value_pattern: re.Pattern[str] | None = None
    # A value may continue over the following lines (free text such as a justification).
    multiline: bool = False
    # Other fields the same text may also give ("Applicant: X (manufacturer)"), each with
    # the regular expression that picks their part of it (group 1, or the whole match).
    also: tuple[AlsoRule, ...] = ()


@dataclass(frozen=True)
class CheckboxRule:
    """A ticked box whose label or name means a fixed value (e.g. applicant_role)."""

    id: str
    field: str
    value: str
    labels: tuple[str, ...]  # folded
    names: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Phrase:
    """A title or first-page phrase, folded, with its language."""

    language: str
    folded: str


@dataclass(frozen=True)
class KindRule:
    """Cues that a document is of one canonical kind; the highest priority hit wins."""

    id: str
    kind: str
    priority: int
    filenames: tuple[re.Pattern[str], ...]
    phrases: tuple[Phrase, ...]
    form_fields: tuple[re.Pattern[str], ...]
    requires_fields: tuple[str, ...]
    # A short line matching one of these opens a part of this kind inside a file
    # ("Part 2", "Partie 2", "Deel 2", "Teil 2"): one file may hold several parts.
    headings: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class SignatureRules:
    """Printed signature lines: their labels, and phrases a signature stamp prints."""

    labels: tuple[str, ...]  # folded
    signed_phrases: tuple[str, ...]  # folded


@dataclass(frozen=True)
class ExtractionRules:
    """A validated extraction rule set (one authority profile)."""

    profile: str
    paths: tuple[Path, ...]  # every file read, the including one first
    fields: tuple[FieldRule, ...]
    checkboxes: tuple[CheckboxRule, ...]
    kinds: tuple[KindRule, ...]
    signatures: SignatureRules = field(default_factory=lambda: SignatureRules((), ()))
    # Words that mean the same in labels ("no" -> "number"), folded: word -> first of its group.
    synonyms: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False)
    # Lookups derived from the rules above, built once at load time.
    by_key: Mapping[str, FieldRule] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False)
    by_label: Mapping[str, LabelRule] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False)
    # Folded label -> the languages it is written in ("e mail" is several).
    label_languages: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False)
    # First words of every folded label: a line starting otherwise holds no label.
    first_words: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def field_rule(self, key: str) -> FieldRule | None:
        """Return the rule of a canonical field, if the profile has one."""
        return self.by_key.get(key)

    def label(self, folded: str) -> LabelRule | None:
        """Return the label rule whose folded text is exactly this, if any."""
        return self.by_label.get(folded)


def load_extraction_rules(path: Path) -> ExtractionRules:
    """Read and validate an extraction rule file (following a simple `include`)."""
    return _load(path, depth=0)


def _load(path: Path, depth: int) -> ExtractionRules:
    table = read_toml(path)
    check_known_keys(table, _TOP_KEYS, path, "")
    base = _included(table, path, depth)
    profile = _profile_name(table, path)
    fields = _fields(table, path, profile)
    checkboxes = _checkboxes(table, path, profile)
    kinds = _kinds(table, path, profile)
    signatures = _signatures(table, path)
    synonyms = _synonyms(table, path)
    if base is not None:
        fields = _merge_fields(base.fields, fields)
        checkboxes = checkboxes if "checkboxes" in table else base.checkboxes
        kinds = kinds if "kinds" in table else base.kinds
        signatures = signatures if "signatures" in table else base.signatures
        synonyms = synonyms if "synonyms" in table else dict(base.synonyms)
    paths = (path, *(base.paths if base else ()))
    rules = _assemble(profile, paths, fields, checkboxes, kinds, path)
    return replace(rules, signatures=signatures, synonyms=MappingProxyType(synonyms))


def _included(table: Mapping[str, Any], path: Path, depth: int) -> ExtractionRules | None:
    """Load the file named by `include`, relative to this one."""
    if "include" not in table:
        return None
    name = require(table, "include", str, path, "")
    if depth >= _MAX_INCLUDE_DEPTH:
        raise rule_error(path, "include", f"includes nest deeper than {_MAX_INCLUDE_DEPTH}")
    target = (path.parent / name).resolve()
    if not target.is_file():
        raise rule_error(path, "include", f"included file not found: {target}")
    return _load(target, depth + 1)


def _profile_name(table: Mapping[str, Any], path: Path) -> str:
    """The profile name prefixes rule ids; by default the folder the file sits in."""
    if "profile" not in table:
        return path.parent.name
    name = require(table, "profile", str, path, "")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise rule_error(path, "profile", "must be lower-case letters, digits and '_'")
    return str(name)


# --- fields -----------------------------------------------------------------------------


def _fields(table: Mapping[str, Any], path: Path, profile: str) -> tuple[FieldRule, ...]:
    raw = table.get("fields", {})
    if not isinstance(raw, dict):
        raise rule_error(path, "fields", "must be a table of canonical field keys")
    return tuple(_field(key, value, path, profile) for key, value in raw.items())


def _field(key: str, raw: Any, path: Path, profile: str) -> FieldRule:
    where = f"fields.{key}"
    if key not in FIELD_KEYS:
        raise rule_error(path, where, f"unknown canonical field '{key}' "
                                      f"(known: {', '.join(FIELD_KEYS)})")
    if not isinstance(raw, dict):
        raise rule_error(path, where, "must be a table")
    check_known_keys(raw, _FIELD_KEYS_ALLOWED, path, where)
    normaliser = require(raw, "normaliser", str, path, where)
    if normaliser not in names(NormaliserName):
        known = ", ".join(names(NormaliserName))
        raise rule_error(path, f"{where}.normaliser",
                         f"unknown normaliser '{normaliser}' (known: {known})")
    return FieldRule(
        key=key, normaliser=normaliser,
        labels=_labels(raw.get("labels", {}), path, where, profile, key),
        names=_names(raw, path, where, profile, key),
        value_pattern=_optional_pattern(raw, "value_pattern", path, where),
        multiline=_optional_bool(raw, "multiline", path, where),
        also=_also(raw.get("also", {}), path, where, profile, key),
    )


def _also(raw: Any, path: Path, where: str, profile: str, key: str) -> tuple[AlsoRule, ...]:
    """`also = { other_field = 'regex' }`: other fields read out of this field's text."""
    where = f"{where}.also"
    if not isinstance(raw, dict):
        raise rule_error(path, where, "must be a table of canonical field = 'regex'")
    rules = []
    for other, text in raw.items():
        if other not in FIELD_KEYS or other == key:
            raise _inline_error(path, where, other, f"unknown or same field '{other}'")
        if not isinstance(text, str):
            raise _inline_error(path, where, other, "must be a regular expression string")
        try:
            pattern = re.compile(text, re.IGNORECASE)
        except re.error as exc:
            raise _inline_error(path, where, other, f"bad regular expression: {exc}") from exc
        if (risk := backtracking_risk(text, re.IGNORECASE)) is not None:
            raise _inline_error(path, where, other, f"regular expression {text!r} {risk}")
        rules.append(AlsoRule(f"{profile}.also.{key}.{other}", other, pattern))
    return tuple(rules)


def _names(raw: Mapping[str, Any], path: Path, where: str, profile: str,
           key: str) -> tuple[NameRule, ...]:
    """Field-name patterns, each with an id made from the pattern's words."""
    patterns = _patterns(raw, "names", path, where)
    ids = _unique_ids([IdSource(f"{profile}.name.{key}", None, p.pattern, p.pattern)
                       for p in patterns], path, f"{where}.names")
    return tuple(NameRule(i, key, p) for i, p in zip(ids, patterns, strict=True))


def _labels(raw: Any, path: Path, where: str, profile: str, key: str) -> tuple[LabelRule, ...]:
    """Label variants per language, each with an id made from its text (or written)."""
    where = f"{where}.labels"
    if not isinstance(raw, dict):
        raise rule_error(path, where, "must be a table of languages (en, fr, nl, de)")
    check_known_keys(raw, LANGUAGES, path, where)
    texts = [(lang, *entry) for lang in raw for entry in _label_entries(raw, lang, path, where)]
    ids = _unique_ids([IdSource(f"{profile}.label.{key}.{lang}", own, text, text)
                       for lang, text, own in texts], path, where)
    labels = tuple(LabelRule(i, key, text, fold(text), lang)
                   for i, (lang, text, _) in zip(ids, texts, strict=True))
    for label in labels:
        if not label.folded:
            raise rule_error(path, f"{where}.{label.language}",
                             f"label '{label.text}' has no letters or digits")
    return labels


def _label_entries(raw: Mapping[str, Any], lang: str, path: Path,
                   where: str) -> list[tuple[str, str | None]]:
    """A language's labels: "text", or { text = "...", id = "..." } to fix the rule's id."""
    where = f"{where}.{lang}"
    items = raw.get(lang, [])
    entries: list[tuple[str, str | None]] = []
    for item in items if isinstance(items, list) else [None]:
        if isinstance(item, str):
            entries.append((item, None))
        elif (isinstance(item, dict) and isinstance(item.get("text"), str)
              and set(item) <= set(_LABEL_KEYS)):
            entries.append((item["text"], _explicit_id(item, path, where)))
        else:
            raise rule_error(path, where, 'must be a list of labels: "text" or '
                                          '{ text = "...", id = "..." }')
    return entries


def _explicit_id(raw: Mapping[str, Any], path: Path, where: str) -> str | None:
    """The `id` a rule file writes for a rule (the last part of its rule id), if any."""
    if "id" not in raw:
        return None
    value = raw["id"]
    if not isinstance(value, str) or not EXPLICIT_ID.fullmatch(value):
        raise rule_error(path, f"{where}.id", "an id is lower-case letters, digits, '_' and '-'")
    return value


def _unique_ids(sources: list[IdSource], path: Path, where: str) -> tuple[str, ...]:
    """Ids of a group of rules; one id for two rules means the same rule is written twice."""
    ids = rule_ids(sources)
    twice = duplicate_id(ids)
    if twice is not None:
        raise rule_error(path, where, f"rule id '{ids[twice]}' is given to two rules "
                                      f"('{sources[twice].text}' written twice?)")
    return ids


def _inline_error(path: Path, table: str, name: str, reason: str) -> ConfigError:
    """An error on a key of an inline table: the line is the table's own."""
    return ConfigError(reason, path=str(path), line=locate_key(path, table),
                       key=f"{table}.{name}")


def _merge_fields(base: tuple[FieldRule, ...], own: tuple[FieldRule, ...],
                  ) -> tuple[FieldRule, ...]:
    """A field table written in the including file replaces the included one."""
    mine = {rule.key: rule for rule in own}
    kept = tuple(rule for rule in base if rule.key not in mine)
    return kept + own


# --- checkboxes -------------------------------------------------------------------------


def _checkboxes(table: Mapping[str, Any], path: Path, profile: str,
                ) -> tuple[CheckboxRule, ...]:
    raw = _array_of_tables(table, "checkboxes", path)
    rules = [_checkbox(entry, index, path) for index, entry in enumerate(raw)]
    ids = _unique_ids([IdSource(f"{profile}.checkbox.{rule.field}",
                                _explicit_id(entry, path, f"checkboxes[{index}]"), rule.value,
                                _content(entry)) for index, (entry, rule)
                       in enumerate(zip(raw, rules, strict=True))], path, "checkboxes")
    return tuple(replace(rule, id=i) for i, rule in zip(ids, rules, strict=True))


def _content(raw: Mapping[str, Any]) -> str:
    """A rule table's content, written out the same way whatever its order in the file."""
    return json.dumps({k: v for k, v in raw.items() if k != "id"}, sort_keys=True,
                      ensure_ascii=False, default=str)


def _checkbox(raw: Mapping[str, Any], index: int, path: Path) -> CheckboxRule:
    where = f"checkboxes[{index}]"
    _check_array_keys(raw, _CHECKBOX_KEYS, path, "checkboxes", index)
    key = _array_require(raw, "field", str, path, "checkboxes", index)
    if key not in FIELD_KEYS:
        raise _array_error(path, "checkboxes", index, "field", f"unknown canonical field '{key}'")
    value = _array_require(raw, "value", str, path, "checkboxes", index)
    if key in ENUM_VALUES and value not in ENUM_VALUES[key]:
        raise _array_error(path, "checkboxes", index, "value",
                           f"'{value}' is not a value of {key} "
                           f"({', '.join(ENUM_VALUES[key])})")
    labels = tuple(fold(t) for t in _strings(raw, "labels", path, where))
    return CheckboxRule(
        id="",  # given by _checkboxes, which sees every box
        field=key, value=value, labels=labels,
        names=_patterns(raw, "names", path, where),
    )


# --- document kinds ---------------------------------------------------------------------


def _kinds(table: Mapping[str, Any], path: Path, profile: str) -> tuple[KindRule, ...]:
    raw = _array_of_tables(table, "kinds", path)
    rules = [_kind(entry, index, path) for index, entry in enumerate(raw)]
    ids = _unique_ids([IdSource(f"{profile}.kind", _explicit_id(entry, path, f"kinds[{index}]"),
                                rule.kind, _content(entry)) for index, (entry, rule)
                       in enumerate(zip(raw, rules, strict=True))], path, "kinds")
    return tuple(replace(rule, id=i) for i, rule in zip(ids, rules, strict=True))


def _kind(raw: Mapping[str, Any], index: int, path: Path) -> KindRule:
    where = f"kinds[{index}]"
    _check_array_keys(raw, _KIND_KEYS, path, "kinds", index)
    kind = _array_require(raw, "kind", str, path, "kinds", index)
    if kind not in DOCUMENT_KINDS:
        raise _array_error(path, "kinds", index, "kind", f"unknown document kind '{kind}' "
                                                          f"(known: {', '.join(DOCUMENT_KINDS)})")
    priority = _array_require(raw, "priority", int, path, "kinds", index)
    required = _strings(raw, "requires_fields", path, where)
    unknown = [k for k in required if k not in FIELD_KEYS]
    if unknown:
        raise _array_error(path, "kinds", index, "requires_fields",
                           f"unknown canonical field '{unknown[0]}'")
    return KindRule(
        id="", kind=kind, priority=int(priority),
        filenames=_patterns(raw, "filenames", path, where),
        phrases=_phrases(raw.get("phrases", {}), path, where),
        form_fields=_patterns(raw, "form_fields", path, where),
        requires_fields=required,
        headings=_patterns(raw, "headings", path, where),
    )


def _phrases(raw: Any, path: Path, where: str) -> tuple[Phrase, ...]:
    where = f"{where}.phrases"
    if not isinstance(raw, dict):
        raise rule_error(path, where, "must be a table of languages (en, fr, nl, de)")
    check_known_keys(raw, LANGUAGES, path, where)
    return tuple(Phrase(lang, fold(text)) for lang in raw
                 for text in _strings(raw, lang, path, where) if fold(text))


# --- synonyms -----------------------------------------------------------------------------


_PHRASE_WORDS = 4


def _synonyms(table: Mapping[str, Any], path: Path) -> dict[str, str]:
    """`[synonyms] en = [["number", "no", "nr"], ...]`: each word or phrase -> the first of
    its group."""
    raw = table.get("synonyms", {})
    if not isinstance(raw, dict):
        raise rule_error(path, "synonyms", "must be a table of languages (en, fr, nl, de)")
    check_known_keys(raw, LANGUAGES, path, "synonyms")
    found: dict[str, str] = {}
    for lang, groups in raw.items():
        where = f"synonyms.{lang}"
        if not isinstance(groups, list) or not all(
                isinstance(g, list) and len(g) >= 2 and all(isinstance(w, str) for w in g)
                for g in groups):
            raise rule_error(path, where, "must be a list of word lists, two words or more each")
        for group in groups:
            words = [fold(w) for w in group]
            # The canonical word is one word; the others may be short phrases that stand for
            # it ("raison sociale" for a company's name).
            if len(words[0].split()) != 1 or any(not 1 <= len(w.split()) <= _PHRASE_WORDS
                                                 for w in words[1:]):
                raise rule_error(path, where, f"{group}: the first synonym must be one word, "
                                              f"the others at most {_PHRASE_WORDS} words")
            for word in words[1:]:
                if found.get(word, words[0]) != words[0]:
                    raise rule_error(path, where, f"'{word}' is already a synonym of "
                                                  f"'{found[word]}'")
                found[word] = words[0]
    return found


# --- signature lines -------------------------------------------------------------------


def _signatures(table: Mapping[str, Any], path: Path) -> SignatureRules:
    raw = table.get("signatures", {})
    if not isinstance(raw, dict):
        raise rule_error(path, "signatures", "must be a table")
    check_known_keys(raw, _SIGNATURE_KEYS, path, "signatures")
    return SignatureRules(_language_texts(raw, "labels", path, "signatures"),
                          _language_texts(raw, "signed_phrases", path, "signatures"))


def _language_texts(table: Mapping[str, Any], name: str, path: Path,
                    where: str) -> tuple[str, ...]:
    """Folded texts of a per-language table (en, fr, nl, de)."""
    raw = table.get(name, {})
    where = f"{where}.{name}"
    if not isinstance(raw, dict):
        raise rule_error(path, where, "must be a table of languages (en, fr, nl, de)")
    check_known_keys(raw, LANGUAGES, path, where)
    return tuple(fold(t) for lang in raw for t in _strings(raw, lang, path, where) if fold(t))


# --- assembling and checking the whole ----------------------------------------------------


def _assemble(profile: str, paths: tuple[Path, ...], fields: tuple[FieldRule, ...],
              checkboxes: tuple[CheckboxRule, ...], kinds: tuple[KindRule, ...],
              path: Path) -> ExtractionRules:
    by_label = _label_lookup(fields, path)
    languages: dict[str, set[str]] = {}
    for rule in fields:
        for label in rule.labels:
            languages.setdefault(label.folded, set()).add(label.language)
    return ExtractionRules(
        profile=profile, paths=paths, fields=fields, checkboxes=checkboxes, kinds=kinds,
        by_key=MappingProxyType({rule.key: rule for rule in fields}),
        by_label=MappingProxyType(by_label),
        label_languages=MappingProxyType({k: frozenset(v) for k, v in languages.items()}),
        first_words=frozenset(folded.split()[0] for folded in by_label),
    )


def _label_lookup(fields: tuple[FieldRule, ...], path: Path) -> dict[str, LabelRule]:
    """Folded label -> rule; one printed label may not mean two different fields."""
    lookup: dict[str, LabelRule] = {}
    for rule in fields:
        for label in rule.labels:
            other = lookup.get(label.folded)
            if other is not None and other.key != label.key:
                raise rule_error(path, f"fields.{label.key}.labels.{label.language}",
                                 f"label '{label.text}' is also a label of '{other.key}'")
            lookup.setdefault(label.folded, label)
    return lookup


# --- typed getters with file, line and key --------------------------------------------------


def _strings(table: Mapping[str, Any], name: str, path: Path, where: str) -> tuple[str, ...]:
    """An optional list of strings."""
    value = table.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise rule_error(path, f"{where}.{name}", "must be a list of strings")
    return tuple(value)


def _patterns(table: Mapping[str, Any], name: str, path: Path, where: str,
              ) -> tuple[re.Pattern[str], ...]:
    """An optional list of regular expressions, compiled (case-insensitive by default)."""
    return tuple(_compile(text, path, f"{where}.{name}")
                 for text in _strings(table, name, path, where))


def _optional_pattern(table: Mapping[str, Any], name: str, path: Path, where: str,
                      ) -> re.Pattern[str] | None:
    if name not in table:
        return None
    return _compile(require(table, name, str, path, where), path, f"{where}.{name}")


def _optional_bool(table: Mapping[str, Any], name: str, path: Path, where: str) -> bool:
    return bool(require(table, name, bool, path, where)) if name in table else False


def _compile(text: str, path: Path, key: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise rule_error(path, key, f"bad regular expression '{text}': {exc}") from exc
    if (risk := backtracking_risk(text, re.IGNORECASE)) is not None:
        raise rule_error(path, key, f"regular expression {text!r} {risk}")
    return compiled


def _array_of_tables(table: Mapping[str, Any], name: str, path: Path,
                     ) -> list[Mapping[str, Any]]:
    value = table.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise rule_error(path, name, f"must be an array of tables ([[{name}]])")
    return value


def _check_array_keys(raw: Mapping[str, Any], allowed: tuple[str, ...], path: Path,
                      array: str, index: int) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise _array_error(path, array, index, unknown[0], f"unknown key '{unknown[0]}' "
                                                           f"(allowed: {', '.join(allowed)})")


def _array_require(raw: Mapping[str, Any], name: str, kind: type, path: Path, array: str,
                   index: int) -> Any:
    if name not in raw:
        raise _array_error(path, array, index, None, f"missing key '{name}'")
    value = raw[name]
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise _array_error(path, array, index, name,
                           f"must be {kind.__name__}, not {type(value).__name__}")
    return value


def _array_error(path: Path, array: str, index: int, name: str | None,
                 reason: str) -> ConfigError:
    """A ConfigError on the n-th [[array]] table, pointing at its own line."""
    key = f"{array}[{index}].{name}" if name else f"{array}[{index}]"
    return ConfigError(reason, path=str(path), line=locate_array_key(path, array, index, name),
                       key=key)
