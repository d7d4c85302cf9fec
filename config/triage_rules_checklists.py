"""The readers of ``triage.toml``'s completeness checklists: ``[[checklist.<request type>]]``.

Each item becomes a ``ChecklistRule`` of ``config.triage_rules``: its severity, the condition
it applies under (``only_if``), and the documents, fields, signature or subject pattern that
satisfy it. ``load_triage_rules`` calls ``read_checklists``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from config.rulefile import check_known_keys
from config.triage_rules import (
    ChecklistRule,
    Condition,
    SignatureRule,
)
from config.triage_rules_parts import RuleContext, check_unique, item_str, known_item_keys
from config.vocabulary import ChecklistItemId, DocumentKind, FieldKey, Severity, names

_CHECK_KEYS = ("id", "severity", "label", "only_if", "any_document", "all_fields", "any_fields",
               "signature", "subject_pattern")
_CONDITION = re.compile(r"^\s*(\w+)\s*(==|!=)\s*(\S+)\s*$")


def read_checklists(ctx: RuleContext, table: dict[str, Any],
                types: tuple[str, ...]) -> dict[str, tuple[ChecklistRule, ...]]:
    """Validate ``[[checklist.<request type>]]``: one list per request type of the profile."""
    check_known_keys(table, types, ctx.path, "checklist")
    result: dict[str, tuple[ChecklistRule, ...]] = {}
    for request_type in types:
        rules = tuple(_check(ctx, t, item)
                      for t, item in ctx.items(table, request_type, "checklist"))
        check_unique(ctx, [r.id for r in rules], f"checklist.{request_type}")
        result[request_type] = rules
    return result


def _check(ctx: RuleContext, t: dict[str, Any], item: tuple[str, int]) -> ChecklistRule:
    """Validate one checklist item."""
    where = f"{item[0]}[{item[1]}]"
    known_item_keys(ctx, t, _CHECK_KEYS, where, item)
    item_id = item_str(ctx, t, "id", where, item)
    ctx.vocabulary([item_id], names(ChecklistItemId), f"{where}.id", "checklist item", item)
    severity = item_str(ctx, t, "severity", where, item)
    ctx.vocabulary([severity], names(Severity), f"{where}.severity", "severity", item)
    documents = ctx.names(t, "any_document", where, item=item)
    ctx.vocabulary(documents, names(DocumentKind), f"{where}.any_document", "document kind", item)
    all_fields = ctx.names(t, "all_fields", where, item=item)
    any_fields = ctx.names(t, "any_fields", where, item=item)
    ctx.vocabulary(all_fields, names(FieldKey), f"{where}.all_fields", "field", item)
    ctx.vocabulary(any_fields, names(FieldKey), f"{where}.any_fields", "field", item)
    rule = ChecklistRule(
        id=item_id, severity=severity, label=str(t.get("label", item_id)),
        only_if=_condition(ctx, t, where, item), any_document=documents, all_fields=all_fields,
        any_fields=any_fields, signature=_signature(ctx, t, where, item),
        subject_pattern=(ctx.regex(item_str(ctx, t, "subject_pattern", where, item),
                                   f"{where}.subject_pattern", item)
                         if "subject_pattern" in t else None))
    if not (documents or all_fields or any_fields or rule.signature or rule.subject_pattern):
        raise ctx.error(where, f"item '{item_id}' says nothing that could satisfy it", item)
    return rule


def _condition(ctx: RuleContext, t: Mapping[str, Any], where: str,
               item: tuple[str, int]) -> Condition | None:
    """Parse ``only_if = "field == value"``."""
    if "only_if" not in t:
        return None
    text = item_str(ctx, t, "only_if", where, item)
    match = _CONDITION.match(text)
    if not match:
        raise ctx.error(f"{where}.only_if", "must read 'field == value' or 'field != value'",
                        item)
    ctx.vocabulary([match.group(1)], names(FieldKey), f"{where}.only_if", "field", item)
    return Condition(field=match.group(1), op=match.group(2), value=match.group(3))


def _signature(ctx: RuleContext, t: Mapping[str, Any], where: str,
               item: tuple[str, int]) -> SignatureRule | None:
    """Parse ``signature = { documents = [...], fallback_fields = [...] }``."""
    if "signature" not in t:
        return None
    table = t["signature"]
    key = f"{where}.signature"
    if not isinstance(table, dict):
        raise ctx.error(key, "must be a table { documents = [...], fallback_fields = [...] }",
                        item)
    check_known_keys(table, ("documents", "fallback_fields"), ctx.path, key)
    documents = ctx.names(table, "documents", key, required=True, item=item)
    ctx.vocabulary(documents, names(DocumentKind), f"{key}.documents", "document kind", item)
    fallback = ctx.names(table, "fallback_fields", key, item=item)
    ctx.vocabulary(fallback, names(FieldKey), f"{key}.fallback_fields", "field", item)
    return SignatureRule(documents=documents, fallback_fields=fallback)

