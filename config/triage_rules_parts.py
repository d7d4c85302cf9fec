"""The readers of ``triage.toml``'s sections: automated-mail rules, cues and the single tables.

``RuleContext`` binds the validation helpers to one file so that every error names it; the readers
here turn ``[automated]``, the ``[[<section>.cue]]`` tables, ``[kind]``, ``[request_type]``,
``[regulation]``, ``[urgency]``, ``[case_ref]``, ``[acknowledge]`` and ``[text]`` into the
records of ``config.triage_rules``; ``config.triage_rules_load`` calls them. The checklists
are read in ``config.triage_rules_checklists``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.regex_safety import backtracking_risk
from config.rulefile import check_known_keys, locate_array_key, require, rule_error
from config.triage_rules import (
    AUTOMATED_WHERE,
    AutomatedRule,
    AutomatedRules,
    Cue,
    KindRules,
    RegulationRules,
    RequestTypeRules,
    UrgencyRules,
)
from config.vocabulary import DocumentKind, FieldKey, Language, MessageKind, Regulation, names


class RuleContext:
    """Validation helpers bound to one file, so that every error names it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, reason: str, item: tuple[str, int] | None = None) -> ConfigError:
        """Build an error; ``item`` locates the n-th ``[[header]]`` table of an array."""
        if item is None:
            return rule_error(self.path, key, reason)
        line = locate_array_key(self.path, item[0], item[1], key.rsplit(".", 1)[-1])
        return ConfigError(reason, path=str(self.path), line=line, key=key)

    def table(self, data: Mapping[str, Any], name: str, where: str = "") -> dict[str, Any]:
        """Return a sub-table that must exist."""
        value: dict[str, Any] = require(data, name, dict, self.path, where)
        return value

    def names(self, table: Mapping[str, Any], name: str, where: str, *,
              required: bool = False, item: tuple[str, int] | None = None) -> tuple[str, ...]:
        """Return a list of non-empty strings (absent: empty unless required)."""
        key = f"{where}.{name}" if where else name
        if name not in table:
            if required:
                raise self.error(where or name, f"missing key '{name}'", item)
            return ()
        value = table[name]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "must be a list of non-empty strings", item)
        return tuple(value)

    def vocabulary(self, values: Sequence[str], known: frozenset[str] | Sequence[str],
                   key: str, what: str, item: tuple[str, int] | None = None) -> None:
        """Refuse a value outside a canonical vocabulary."""
        for value in values:
            if value not in known:
                raise self.error(key, f"unknown {what} '{value}' "
                                      f"(known: {', '.join(sorted(known))})", item)

    def regexes(self, values: Sequence[str], key: str, item: tuple[str, int] | None = None,
                *, multiline: bool = False) -> tuple[re.Pattern[str], ...]:
        """Compile case-insensitive expressions; a bad one is a ConfigError."""
        return tuple(self.regex(v, key, item, multiline=multiline) for v in values)

    def regex(self, value: str, key: str, item: tuple[str, int] | None = None, *,
              multiline: bool = False, extra_flags: int = 0) -> re.Pattern[str]:
        """Compile one case-insensitive expression, refusing one that backtracks badly."""
        flags = re.IGNORECASE | (re.MULTILINE if multiline else 0) | extra_flags
        try:
            compiled = re.compile(value, flags)
        except re.error as exc:
            raise self.error(key, f"bad regular expression {value!r}: {exc}", item) from exc
        risk = backtracking_risk(value, flags)
        if risk:
            raise self.error(key, f"regular expression {value!r} {risk}", item)
        return compiled

    def items(self, table: Mapping[str, Any], name: str,
              where: str) -> list[tuple[dict[str, Any], tuple[str, int]]]:
        """Return an array of tables with, for each, its header and index (for lines)."""
        key = f"{where}.{name}"
        value = table.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, "must be an array of tables ([[...]])")
        return [(v, (key, i)) for i, v in enumerate(value)]

    def number(self, table: Mapping[str, Any], name: str, where: str, default: float,
               item: tuple[str, int] | None = None) -> float:
        """Return a non-negative number (int or float; booleans refused)."""
        value = table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.error(f"{where}.{name}", "must be a non-negative number", item)
        return float(value)

    def integer(self, table: Mapping[str, Any], name: str, where: str, default: int) -> int:
        """Return a non-negative integer."""
        value = table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(f"{where}.{name}", "must be a non-negative integer")
        return value


_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


# -- automated -------------------------------------------------------------------------------

_AUTOMATED_RULE_KEYS = ("id", "where", "header", "patterns", "lang", "only_without_attachments",
                        "decisive")
# Signs a machine sets and a person does not type: decisive unless the rule says otherwise.
_DECISIVE_PLACES = ("header", "return_path", "attachment_type")


def read_automated(ctx: RuleContext, table: dict[str, Any]) -> AutomatedRules:
    """Validate ``[automated]`` and its ``[[automated.rule]]`` tables."""
    check_known_keys(table, ("rule", "body_max_chars"), ctx.path, "automated")
    rules = tuple(_automated_rule(ctx, t, item)
                  for t, item in ctx.items(table, "rule", "automated"))
    check_unique(ctx, [r.id for r in rules], "automated.rule")
    return AutomatedRules(rules=rules,
                          body_max_chars=ctx.integer(table, "body_max_chars", "automated", 4000))


def _automated_rule(ctx: RuleContext, t: dict[str, Any], item: tuple[str, int]) -> AutomatedRule:
    """Validate one automated-mail rule."""
    where = f"{item[0]}[{item[1]}]"
    known_item_keys(ctx, t, _AUTOMATED_RULE_KEYS, where, item)
    rule_id = item_str(ctx, t, "id", where, item)
    place = item_str(ctx, t, "where", where, item)
    ctx.vocabulary([place], AUTOMATED_WHERE, f"{where}.where", "place", item)
    header = t.get("header")
    if (place == "header") != isinstance(header, str):
        raise ctx.error(f"{where}.header", "a header rule needs 'header' (and only it does)",
                        item)
    patterns = ctx.regexes(ctx.names(t, "patterns", where, item=item), f"{where}.patterns", item)
    if not patterns and place not in ("header", "return_path"):
        raise ctx.error(f"{where}.patterns", "needs at least one pattern", item)
    return AutomatedRule(id=f"automated.{rule_id}", where=place,
                         header=header.lower() if isinstance(header, str) else None,
                         patterns=patterns, lang=_lang(ctx, t, where, item),
                         only_without_attachments=_item_bool(
                             ctx, t, "only_without_attachments", where, item),
                         decisive=_item_bool(ctx, t, "decisive", where, item,
                                             default=place in _DECISIVE_PLACES))


# -- cues ------------------------------------------------------------------------------------

_CUE_KEYS = ("id", "lang", "phrases", "patterns", "regex", "documents", "fields", "weight")


def _cues(ctx: RuleContext, table: Mapping[str, Any], section: str, label_key: str,
          labels: Sequence[str]) -> tuple[Cue, ...]:
    """Validate the ``[[<section>.cue]]`` tables; ``label_key`` names what each votes for."""
    cues = tuple(_cue(ctx, t, item, section, label_key, labels)
                 for t, item in ctx.items(table, "cue", section))
    return cues


def _cue(ctx: RuleContext, t: dict[str, Any], item: tuple[str, int], section: str, label_key: str,
         labels: Sequence[str]) -> Cue:
    """Validate one cue table."""
    where = f"{item[0]}[{item[1]}]"
    known_item_keys(ctx, t, (*_CUE_KEYS, label_key), where, item)
    label = item_str(ctx, t, label_key, where, item)
    ctx.vocabulary([label], labels, f"{where}.{label_key}", label_key.replace("_", " "), item)
    documents = ctx.names(t, "documents", where, item=item)
    ctx.vocabulary(documents, names(DocumentKind), f"{where}.documents", "document kind", item)
    fields = ctx.names(t, "fields", where, item=item)
    ctx.vocabulary(fields, names(FieldKey), f"{where}.fields", "field", item)
    cue = Cue(id=f"{section}.{item_str(ctx, t, 'id', where, item)}", label=label,
              lang=_lang(ctx, t, where, item), phrases=ctx.names(t, "phrases", where, item=item),
              patterns=_token_patterns(ctx, t, where, item),
              regexes=ctx.regexes(ctx.names(t, "regex", where, item=item), f"{where}.regex", item),
              documents=documents, fields=fields,
              weight=ctx.number(t, "weight", where, 1.0, item))
    if not (cue.phrases or cue.patterns or cue.regexes or cue.documents or cue.fields):
        raise ctx.error(where, "a cue needs phrases, patterns, regex, documents or fields", item)
    return cue


def _token_patterns(ctx: RuleContext, t: Mapping[str, Any], where: str,
                    item: tuple[str, int]) -> tuple[tuple[Mapping[str, Any], ...], ...]:
    """Check the shape of spaCy token patterns (their content is checked by spaCy later)."""
    value = t.get("patterns", [])
    ok = isinstance(value, list) and all(
        isinstance(p, list) and p and all(isinstance(tok, dict) and tok for tok in p)
        for p in value)
    if not ok:
        raise ctx.error(f"{where}.patterns", "must be a list of token patterns, each a list "
                                             "of tables such as [{LOWER = \"urgent\"}]", item)
    return tuple(tuple(p) for p in value)


def validate_token_patterns(ctx: RuleContext, cues: Sequence[Cue]) -> None:
    """Let spaCy's own validator judge the token patterns, so a typo stops loading."""
    if not any(c.patterns for c in cues):
        return
    # Imported here: spaCy is heavy and only needed when a rule file has token patterns.
    from spacy.errors import MatchPatternError
    from spacy.matcher import Matcher
    from spacy.vocab import Vocab

    matcher = Matcher(Vocab(), validate=True)
    for cue in cues:
        try:
            matcher.add(cue.id, [[dict(t) for t in p] for p in cue.patterns])
        except (MatchPatternError, ValueError) as exc:
            section, _, cue_id = cue.id.partition(".")
            raise ConfigError(f"bad token pattern: {exc}".strip(), path=str(ctx.path),
                              line=_line_of_value(ctx.path, cue_id),
                              key=f"{section}.cue.patterns") from exc


def _line_of_value(path: Path, value: str) -> int | None:
    """Return the line of ``id = "<value>"`` (to place errors found after parsing)."""
    pattern = re.compile(rf'^\s*id\s*=\s*["\']{re.escape(value)}["\']')
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.search(line):
            return number
    return None


def check_unique_cue_ids(ctx: RuleContext, cues: Sequence[Cue]) -> None:
    """Two cues with one id would make reasons ambiguous."""
    check_unique(ctx, [c.id for c in cues], "cue")


def check_unique(ctx: RuleContext, ids: Sequence[str], key: str) -> None:
    """Refuse a repeated rule id."""
    seen: set[str] = set()
    for rule_id in ids:
        if rule_id in seen:
            raise ConfigError(f"rule id '{rule_id}' is used twice", path=str(ctx.path),
                              line=_line_of_value(ctx.path, rule_id.split(".", 1)[-1]),
                              key=f"{key}.id")
        seen.add(rule_id)


# -- sections --------------------------------------------------------------------------------

def read_kind(ctx: RuleContext, table: dict[str, Any]) -> KindRules:
    """Validate ``[kind]``."""
    check_known_keys(table, ("request_documents", "request_fields", "request_fields_min", "cue",
                             "unknown_case_ref_kind", "opening_documents",
                             "shared_mail_domains"), ctx.path, "kind")
    unknown_ref = table.get("unknown_case_ref_kind", "new_request")
    ctx.vocabulary([str(unknown_ref)], ("new_request", "follow_up"), "kind.unknown_case_ref_kind",
                   "kind")
    documents = ctx.names(table, "request_documents", "kind")
    ctx.vocabulary(documents, names(DocumentKind), "kind.request_documents", "document kind")
    fields = ctx.names(table, "request_fields", "kind")
    ctx.vocabulary(fields, names(FieldKey), "kind.request_fields", "field")
    opening = ctx.names(table, "opening_documents", "kind") if "opening_documents" in table \
        else documents
    ctx.vocabulary(opening, names(DocumentKind), "kind.opening_documents", "document kind")
    domains = ctx.names(table, "shared_mail_domains", "kind")
    for domain in domains:
        if not _DOMAIN.match(domain):
            raise ctx.error("kind.shared_mail_domains", f"'{domain}' is not a mail domain")
    return KindRules(request_documents=documents, request_fields=fields,
                     request_fields_min=ctx.integer(table, "request_fields_min", "kind", 3),
                     cues=_cues(ctx, table, "kind", "kind", ("request", "enquiry")),
                     unknown_case_ref_kind=str(unknown_ref), opening_documents=opening,
                     shared_mail_domains=frozenset(d.lower() for d in domains))


def read_request_type(
    ctx: RuleContext, table: dict[str, Any], types: tuple[str, ...]
) -> RequestTypeRules:
    """Validate ``[request_type]``: every cue names a request type of the profile."""
    check_known_keys(table, ("default", "cue"), ctx.path, "request_type")
    default = require(table, "default", str, ctx.path, "request_type")
    ctx.vocabulary([default], types, "request_type.default", "request type")
    return RequestTypeRules(types=types, default=default,
                            cues=_cues(ctx, table, "request_type", "type", types))


def read_regulation(ctx: RuleContext, table: dict[str, Any]) -> RegulationRules:
    """Validate ``[regulation]``."""
    check_known_keys(table, ("field", "field_weight", "risk_classes", "risk_class_weight", "cue"),
                     ctx.path, "regulation")
    field = table.get("field", "regulation")
    ctx.vocabulary([field], names(FieldKey), "regulation.field", "field")
    classes = table.get("risk_classes", {})
    if not isinstance(classes, dict):
        raise ctx.error("regulation.risk_classes", "must be a table such as { A = \"IVDR\" }")
    for name, regulation in classes.items():
        ctx.vocabulary([str(regulation)], names(Regulation), f"regulation.risk_classes.{name}",
                       "regulation")
    return RegulationRules(
        field=field, risk_classes=dict(classes),
        field_weight=ctx.number(table, "field_weight", "regulation", 10.0),
        risk_class_weight=ctx.number(table, "risk_class_weight", "regulation", 5.0),
        cues=_cues(ctx, table, "regulation", "regulation", names(Regulation)))


def read_urgency(ctx: RuleContext, table: dict[str, Any]) -> UrgencyRules:
    """Validate ``[urgency]``."""
    check_known_keys(table, ("days_threshold", "date_field", "cue"), ctx.path, "urgency")
    field = table.get("date_field", "intended_use_date")
    ctx.vocabulary([field], names(FieldKey), "urgency.date_field", "field")
    return UrgencyRules(days_threshold=ctx.integer(table, "days_threshold", "urgency", 14),
                        date_field=field,
                        cues=_cues(ctx, table, "urgency", "means", ("urgent", "not_urgent")))


def read_case_ref(ctx: RuleContext, table: dict[str, Any]) -> re.Pattern[str]:
    """Validate ``[case_ref]``: the pattern of the references the office gives to cases."""
    check_known_keys(table, ("pattern",), ctx.path, "case_ref")
    pattern = require(table, "pattern", str, ctx.path, "case_ref")
    if "(" in pattern.replace("(?:", ""):
        raise ctx.error("case_ref.pattern", "use (?:...) groups only: the whole match is the "
                                            "reference")
    # Word boundaries: a reference inside a longer token is not a reference. References are
    # ASCII: \d must not take Arabic-Indic or full-width digits for reference digits.
    return ctx.regex(rf"(?<![\w-])(?:{pattern})(?![\w-])", "case_ref.pattern",
                     extra_flags=re.ASCII)


def read_acknowledge(ctx: RuleContext, table: dict[str, Any]) -> frozenset[str]:
    """Validate ``[acknowledge]``: the message kinds that get an acknowledgement."""
    check_known_keys(table, ("kinds",), ctx.path, "acknowledge")
    kinds = ctx.names(table, "kinds", "acknowledge", required=True)
    ctx.vocabulary(kinds, names(MessageKind), "acknowledge.kinds", "message kind")
    if "automated" in kinds:
        raise ctx.error("acknowledge.kinds", "automated mail is never acknowledged (mail loops)")
    return frozenset(kinds)


def read_text(ctx: RuleContext, table: Any) -> dict[str, Any]:
    """Validate the keys of ``[text]``: how much text the matchers read, where quotes start."""
    if not isinstance(table, dict):
        raise ctx.error("text", "must be a table")
    check_known_keys(table, ("max_chars", "quote_separators"), ctx.path, "text")
    return table


# -- small helpers ---------------------------------------------------------------------------

def known_item_keys(ctx: RuleContext, t: Mapping[str, Any], allowed: Sequence[str], where: str,
                     item: tuple[str, int]) -> None:
    """Refuse an unknown key in an array-of-tables entry, on its own line."""
    unknown = sorted(set(t) - set(allowed))
    if unknown:
        raise ctx.error(f"{where}.{unknown[0]}", f"unknown key '{unknown[0]}' "
                                                 f"(allowed: {', '.join(sorted(allowed))})", item)


def item_str(ctx: RuleContext, t: Mapping[str, Any], name: str, where: str,
              item: tuple[str, int]) -> str:
    """Return a required non-empty string of an array-of-tables entry."""
    if name not in t:
        raise ctx.error(where, f"missing key '{name}'", item)
    value = t[name]
    if not isinstance(value, str) or not value:
        raise ctx.error(f"{where}.{name}", "must be a non-empty string", item)
    return value


def _item_bool(ctx: RuleContext, t: Mapping[str, Any], name: str, where: str,
               item: tuple[str, int], default: bool = False) -> bool:
    """Return an optional boolean."""
    value = t.get(name, default)
    if not isinstance(value, bool):
        raise ctx.error(f"{where}.{name}", "must be true or false", item)
    return value


def _lang(ctx: RuleContext, t: Mapping[str, Any], where: str, item: tuple[str, int]) -> str | None:
    """Return an optional language code among the four the office answers in."""
    if "lang" not in t:
        return None
    lang = item_str(ctx, t, "lang", where, item)
    ctx.vocabulary([lang], names(Language), f"{where}.lang", "language", item)
    return lang
