"""Typed records produced by triage: what a message is and what a request still lacks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from config.vocabulary import NOT_DONE, ItemStatus, MessageKind, Severity
from parsers.records import ExtractedDocument, FieldValue


@dataclass(frozen=True)
class Decision:
    """One triage decision with the rule hits that led to it."""

    value: str | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChecklistItem:
    """One completeness item of the case's request type."""

    id: str  # canonical: form_part1, physician_signature, mandate_proof, ...
    severity: Severity
    status: ItemStatus
    evidence: str  # which document or field satisfied it, or why not


@dataclass(frozen=True)
class TriageResult:
    """Everything triage decided about one message, with the reasons."""

    kind: MessageKind
    kind_reasons: tuple[str, ...]
    language: Decision  # "en" | "fr" | "nl" | "de"
    authority: str  # profile name: "famhp", "ansm"
    request_type: Decision  # compassionate_use, national_derogation, ... or None
    regulation: Decision  # "MDR" | "IVDR" | None
    urgent: Decision  # value "yes" / "no"
    case_ref: str | None  # a case reference cited in the message
    # Canonical field key -> chosen value (the best source wins; all kept in `all_fields`).
    fields: dict[str, FieldValue]
    all_fields: tuple[FieldValue, ...]
    documents: tuple[ExtractedDocument, ...]
    checklist: tuple[ChecklistItem, ...]
    would_acknowledge: bool
    acknowledge_reasons: tuple[str, ...] = ()
    rules_version: str = ""
    flags: tuple[str, ...] = field(default=())  # e.g. "unknown_case_ref", "duplicate"

    @property
    def missing(self) -> tuple[str, ...]:
        """Ids of required checklist items that are not present."""
        return missing_items(self.checklist)

    @property
    def complete(self) -> bool:
        """A request is complete when every required item is present."""
        return bool(self.checklist) and not self.missing


def missing_items(items: Iterable[ChecklistItem],
                  severity: Severity = Severity.REQUIRED) -> tuple[str, ...]:
    """Ids of the items of a severity that are missing or unclear: what a case still lacks."""
    return tuple(i.id for i in items if i.severity == severity and i.status in NOT_DONE)


@dataclass(frozen=True)
class Hit:
    """One cue found in one text."""

    cue: str  # rule id, e.g. "urgency.urgent-nl"
    label: str  # what it votes for
    text: str  # the words as written
    where: str  # "subject", "body" or a file name
    start: int  # character offsets in the text
    end: int

    def describe(self) -> str:
        """Return e.g. "urgency.urgent-nl: 'spoed' in subject"."""
        return f"{self.cue}: {self.text!r} in {self.where}"
