"""The triage rule file of an authority profile (``triage.toml``), validated when loaded.

Everything triage decides from text is data here: automated-mail rules, message-kind cues,
request-type, regulation and urgency cues, the case-reference pattern and the completeness
checklists. A mistake stops loading with the file, line, key and reason.

This module holds the vocabulary and the records; ``config.triage_rules_load`` reads a
file, the sections are read in ``config.triage_rules_parts`` and the checklists in
``config.triage_rules_checklists``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUTOMATED_WHERE = ("header", "sender", "return_path", "subject", "body", "attachment_type")


@dataclass(frozen=True)
class AutomatedRule:
    """One sign that a message was sent by a machine (RFC 3834 and common practice)."""

    id: str
    where: str  # one of AUTOMATED_WHERE
    header: str | None  # lower-case header name when where == "header"
    patterns: tuple[re.Pattern[str], ...]  # empty: the header's presence is enough
    lang: str | None
    only_without_attachments: bool
    # A decisive sign (a header, the null return path, a report part) makes the message
    # automated whatever it carries; a cue (words of the subject, body or sender) gives way
    # to a request form or request fields, since those words are ordinary in this mailbox.
    decisive: bool = True


@dataclass(frozen=True)
class AutomatedRules:
    """Rules that tell auto-replies, bounces, lists and no-reply senders."""

    rules: tuple[AutomatedRule, ...]
    body_max_chars: int


@dataclass(frozen=True)
class Cue:
    """Words, token patterns or expressions in a text that vote for one label."""

    id: str  # "<section>.<id>", e.g. "urgency.urgent-nl": the rule named in reasons
    label: str  # what a hit votes for: "request", "compassionate_use", "IVDR", "urgent" ...
    lang: str | None
    phrases: tuple[str, ...]  # matched case-insensitively, token by token
    patterns: tuple[tuple[Mapping[str, Any], ...], ...]  # spaCy Matcher token patterns
    regexes: tuple[re.Pattern[str], ...]  # for identifiers, whatever the tokeniser does
    documents: tuple[str, ...]  # document kinds that vote like a text hit
    fields: tuple[str, ...]  # canonical fields whose presence votes
    weight: float


@dataclass(frozen=True)
class KindRules:
    """What makes a message a new request, an enquiry or neither."""

    request_documents: tuple[str, ...]
    request_fields: tuple[str, ...]
    request_fields_min: int
    cues: tuple[Cue, ...]  # labels "request" and "enquiry"
    unknown_case_ref_kind: str  # "new_request" or "follow_up"
    # Documents that open a request: a case reference cited only in the body of a message
    # that carries one links the two cases; it does not merge the new request into the old.
    opening_documents: tuple[str, ...] = ()
    # Mail domains shared by strangers (webmail): a sender at one of them is never known to a
    # case by the domain alone.
    shared_mail_domains: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RequestTypeRules:
    """Cues for the request types of the profile and the type taken when none hits."""

    types: tuple[str, ...]
    default: str
    cues: tuple[Cue, ...]


@dataclass(frozen=True)
class RegulationRules:
    """Where the regulation comes from: a field, a risk class, words in the texts."""

    field: str
    risk_classes: Mapping[str, str]  # canonical risk class -> "MDR" | "IVDR"
    field_weight: float
    risk_class_weight: float
    cues: tuple[Cue, ...]


@dataclass(frozen=True)
class UrgencyRules:
    """Urgency words (and their negations) and the planned-use-date threshold."""

    days_threshold: int
    date_field: str
    cues: tuple[Cue, ...]  # labels "urgent" and "not_urgent"


@dataclass(frozen=True)
class SignatureRule:
    """A signed form: a signed signature field, or the fallback fields, on these documents."""

    documents: tuple[str, ...]
    fallback_fields: tuple[str, ...]


@dataclass(frozen=True)
class Condition:
    """``field == value`` or ``field != value`` over the case's chosen fields."""

    field: str
    op: str  # "==" | "!="
    value: str

    def describe(self) -> str:
        """Return the condition as written in the rule file."""
        return f"{self.field} {self.op} {self.value}"


@dataclass(frozen=True)
class ChecklistRule:
    """One checklist item; it is present when any of its ways is satisfied."""

    id: str
    severity: str  # "required" | "advisory"
    label: str
    only_if: Condition | None
    any_document: tuple[str, ...]
    all_fields: tuple[str, ...]
    any_fields: tuple[str, ...]
    signature: SignatureRule | None
    subject_pattern: re.Pattern[str] | None


@dataclass(frozen=True)
class TriageRules:
    """Every triage rule of one authority profile."""

    path: Path
    version: str  # content hash of the file: recorded with decisions
    authority: str
    automated: AutomatedRules
    kind: KindRules
    request_type: RequestTypeRules
    regulation: RegulationRules
    urgency: UrgencyRules
    case_ref: re.Pattern[str]
    acknowledge_kinds: frozenset[str]
    checklists: Mapping[str, tuple[ChecklistRule, ...]]
    max_text_chars: int  # how much of each text the matchers read
    quote_separators: tuple[re.Pattern[str], ...]  # lines where a quoted message starts

    def all_cues(self) -> tuple[Cue, ...]:
        """Return the text cues of every section (what the matchers are built from)."""
        return (self.kind.cues + self.request_type.cues + self.regulation.cues
                + self.urgency.cues)
