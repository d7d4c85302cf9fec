"""Is a message sent by a machine? Auto-replies, bounces, receipts, lists, no-reply senders.

RFC 3834 asks responders never to answer automatic mail; acknowledging an out-of-office
reply or a bounce would start a mail loop. The signs are rules in the profile's triage file.
A decisive sign (a header a machine sets, the null return path, a report part) settles it;
words of the subject, body or sender are only cues, which a request form or request fields
outweigh: "CE-markering afwezig" or "patient on holiday" are ordinary words in this mailbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from config.triage_rules import AutomatedRule, AutomatedRules, TriageRules
from parsers.records import ParsedMessage
from triage.records import Decision

_EXCERPT = 60


@dataclass(frozen=True)
class AutomatedVerdict:
    """Whether automated-mail rules hit, and whether one of them was decisive."""

    decision: Decision  # "yes"/"no" with one reason per hit
    decisive: bool


def is_automated(parsed: ParsedMessage, rules: TriageRules | AutomatedRules) -> Decision:
    """Return value "yes"/"no" with one reason per rule that hit (none when "no")."""
    return automated_verdict(parsed, rules).decision


def automated_verdict(parsed: ParsedMessage,
                      rules: TriageRules | AutomatedRules) -> AutomatedVerdict:
    """Return the hits of the automated-mail rules and whether any is decisive."""
    if isinstance(rules, TriageRules):
        rules = rules.automated
    hits = [(rule, reason) for rule in rules.rules
            for reason in _hits(parsed, rule, rules.body_max_chars)]
    decision = Decision("yes" if hits else "no", tuple(reason for _, reason in hits))
    return AutomatedVerdict(decision, any(rule.decisive for rule, _ in hits))


def weigh_automated(verdict: AutomatedVerdict, request: Sequence[str]) -> Decision:
    """Return the final verdict: cues alone give way to a request form or request fields.

    ``request`` holds the reasons that make the message a request (empty when none).
    """
    if verdict.decision.value != "yes" or verdict.decisive or not request:
        return verdict.decision
    cues = "; ".join(verdict.decision.reasons)
    return Decision("no", (f"automated-mail cues outweighed by {request[0]} (only headers "
                           f"are decisive): {cues}",))


def _hits(parsed: ParsedMessage, rule: AutomatedRule, body_max_chars: int) -> Iterator[str]:
    """Yield a reason for each place where the rule hits."""
    if rule.only_without_attachments and _files(parsed):
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


def _files(parsed: ParsedMessage) -> bool:
    """Tell whether the message carries a file: a signature's inline logo does not count."""
    return any(not a.is_inline_image(parsed.body_html) for a in parsed.attachments)


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
