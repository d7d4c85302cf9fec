"""Is a message sent by a machine? Auto-replies, bounces, receipts, lists, no-reply senders.

RFC 3834 asks responders never to answer automatic mail; acknowledging an out-of-office
reply or a bounce would start a mail loop. The signs are rules in the profile's triage file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from config.triage_rules import AutomatedRule, AutomatedRules, TriageRules
from parsers.records import ParsedMessage
from triage.records import Decision

_EXCERPT = 60


def is_automated(parsed: ParsedMessage, rules: TriageRules | AutomatedRules) -> Decision:
    """Return value "yes"/"no" with one reason per rule that hit (none when "no")."""
    if isinstance(rules, TriageRules):
        rules = rules.automated
    reasons = tuple(reason for rule in rules.rules
                    for reason in _hits(parsed, rule, rules.body_max_chars))
    return Decision("yes" if reasons else "no", reasons)


def _hits(parsed: ParsedMessage, rule: AutomatedRule, body_max_chars: int) -> Iterator[str]:
    """Yield a reason for each place where the rule hits."""
    if rule.only_without_attachments and parsed.attachments:
        return
    for what, value in _values(parsed, rule, body_max_chars):
        if not rule.patterns:
            yield f"{rule.id}: {what} {_show(value)}"
            continue
        match = _first_match(rule.patterns, value)
        if match is not None:
            # A pattern may match an empty string (a look-ahead): then show the whole value.
            shown = _show(match.group(0) or value)
            yield f"{rule.id}: {what} matches {match.re.pattern!r} ({shown})"


def _values(parsed: ParsedMessage, rule: AutomatedRule,
            body_max_chars: int) -> Iterator[tuple[str, str]]:
    """Yield (description, text) pairs that the rule looks at."""
    if rule.where == "header" and rule.header:
        for value in parsed.header_values(rule.header):
            yield f"header {rule.header}:", value
    elif rule.where == "return_path":
        yield from _return_path(parsed, bool(rule.patterns))
    elif rule.where == "sender" and parsed.sender:
        yield "sender", parsed.sender
    elif rule.where == "subject" and parsed.subject:
        yield "subject", parsed.subject
    elif rule.where == "body" and parsed.body_text:
        yield "body", parsed.body_text[:body_max_chars]
    elif rule.where == "attachment_type":
        for attachment in parsed.attachments:
            yield f"part {attachment.filename} of type", attachment.declared_type.lower()


def _return_path(parsed: ParsedMessage, with_patterns: bool) -> Iterator[tuple[str, str]]:
    """The null reverse path "<>" (RFC 5321) when no patterns are given, else the address."""
    path = parsed.return_path
    if path is None:
        return
    if not with_patterns:
        if path.strip() in ("", "<>"):
            yield "Return-Path is the null path", "<>"
        return
    if path.strip():
        yield "Return-Path", path.strip()


def _first_match(patterns: tuple[re.Pattern[str], ...], text: str) -> re.Match[str] | None:
    """Return the first match of any pattern (search anywhere in the text)."""
    for pattern in patterns:
        match = pattern.search(text)
        if match is not None:
            return match
    return None


def _show(text: str) -> str:
    """Quote a short, single-line excerpt for a reason."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _EXCERPT else flat[:_EXCERPT] + "…")
