"""The state of a case, from its messages and its reviewers' acts (pure: records in, records out).

Filing, ``reprocess``, the reviewers' corrections and ``rules eval`` all call ``case_state``, so
that what evaluation measures is what filing stores. The policy, in one place:

- **Which messages count**: those from the applicant's side (roles ``request``, ``follow_up``,
  ``enquiry``, ``other``). An auto-reply or a re-sent duplicate is kept but decides nothing.
- **Which value stands for a field**: the reviewer's latest correction; else the newest message
  that states the field with at least ``ENOUGH_CONFIDENCE``; else, when no message states it
  that confidently, the most confident statement (the newest on a tie). A message states the
  value ``message_fields`` picks among its candidates. Values other messages stated that
  differ are kept as the field's ``disagreements`` for the reports to show.
- **Attributes**: the request type and the language of the first message that states one
  stick (replies stay in the applicant's first language); the regulation is the one the
  standing fields give (so a reviewer's correction of ``regulation`` or ``risk_class`` moves
  it), else the newest message's that states one; urgency sticks: once a message is urgent,
  the case is, with every message's reasons.
- **Checklist**: the request type's checklist over the standing values, the documents of the
  counted messages and the first message's subject; ``missing`` is ``missing_items``.
- **Status**: a reviewer's decision (any status a reviewer set with ``cases status``, with
  its note) stands until a reviewer sets another: a field correction or a ``reprocess``
  never undoes it. Otherwise ``complete`` or ``incomplete`` from the checklist; a case
  without a checklist is an ``enquiry`` when it opened as one, else ``incomplete``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from config.triage_rules import TriageRules
from config.vocabulary import CaseStatus, MessageKind, MessageRole
from parsers.records import ExtractedDocument, FieldValue
from triage.checklist import evaluate_checklist
from triage.decide import decide_regulation
from triage.records import ChecklistItem, Decision, TriageResult, missing_items

__all__ = ["ENOUGH_CONFIDENCE", "CaseState", "FieldState", "MessageFacts", "ReviewerDecision",
           "case_state", "derived_status", "facts_of", "message_fields", "opening_role",
           "widened"]

# Below this a value was guessed (a label far from its value, a name cut to initials): a newer
# message stating it so weakly does not replace a value stated with more certainty.
ENOUGH_CONFIDENCE = 0.7
# The messages whose words decide a case: not auto-replies nor re-sent duplicates.
COUNTED_ROLES = frozenset({MessageRole.REQUEST, MessageRole.FOLLOW_UP, MessageRole.ENQUIRY,
                           MessageRole.OTHER})
_NONE_STATED = ("no message states one",)


@dataclass(frozen=True)
class MessageFacts:
    """What one filed message says, as triage read it: the input of ``case_state``."""

    role: MessageRole
    subject: str
    request_type: Decision
    regulation: Decision
    language: Decision
    urgent: Decision  # value "yes" / "no"
    fields: Mapping[str, FieldValue]  # the value the message states per key
    documents: tuple[ExtractedDocument, ...]


@dataclass(frozen=True)
class ReviewerDecision:
    """A status a reviewer set (``cases status``), with who and why: it sticks."""

    status: CaseStatus
    actor: str
    note: str


@dataclass(frozen=True)
class FieldState:
    """One field of a case: the value that stands, where it came from, and the disagreements."""

    key: str
    value: FieldValue  # what stands: the reviewer's correction, else ``extracted``
    extracted: FieldValue | None  # the value the messages give (also under a correction)
    message: int | None  # index in the messages of the one that stated ``extracted``
    disagreements: tuple[FieldValue, ...]  # other values stated, newest first

    @property
    def corrected(self) -> bool:
        """Whether a reviewer's value stands."""
        return self.extracted is not self.value


@dataclass(frozen=True)
class CaseState:
    """A case as its messages and reviewers make it: attributes, fields, checklist, status."""

    request_type: Decision
    regulation: Decision
    language: Decision
    urgent: Decision
    fields: Mapping[str, FieldState]
    documents: tuple[ExtractedDocument, ...]
    checklist: tuple[ChecklistItem, ...]
    status: CaseStatus
    status_reason: str

    @property
    def values(self) -> dict[str, FieldValue]:
        """The value that stands per key."""
        return {key: state.value for key, state in self.fields.items()}

    @property
    def missing(self) -> tuple[str, ...]:
        """Ids of the required items missing or unclear."""
        return missing_items(self.checklist)

    @property
    def complete(self) -> bool:
        """Whether the case has a checklist and lacks nothing required."""
        return bool(self.checklist) and not self.missing


def case_state(messages: Sequence[MessageFacts], corrections: Iterable[FieldValue],
               decision: ReviewerDecision | None, rules: TriageRules) -> CaseState:
    """Return the state of a case from its messages (oldest first), corrections and decision.

    ``corrections`` are the reviewers' values, oldest first (a later one for a key wins).
    """
    counted = [(n, m) for n, m in enumerate(messages) if m.role in COUNTED_ROLES]
    fields = _fields(counted, {c.key: c for c in corrections})
    values = {key: state.value for key, state in fields.items()}
    request_type = _first(m.request_type for _, m in counted)
    documents = tuple(d for _, m in counted for d in m.documents)
    subject = messages[0].subject if messages else ""
    checklist = (evaluate_checklist(request_type.value, values, documents, subject, rules)
                 if request_type.value else ())
    status, why = _status(decision, checklist, messages[0].role if messages else None)
    return CaseState(request_type, _regulation(counted, values, rules),
                     _first(m.language for _, m in counted), _urgency(m for _, m in counted),
                     fields, documents, checklist, status, why)


def message_fields(values: Iterable[FieldValue]) -> dict[str, FieldValue]:
    """Return the value a message states per key: the most confident, the earliest on a tie."""
    best: dict[str, FieldValue] = {}
    for value in values:
        if not value.value.strip():
            continue
        current = best.get(value.key)
        if current is None or value.confidence > current.confidence:
            best[value.key] = value
    return best


def _fields(counted: Sequence[tuple[int, MessageFacts]],
            corrections: Mapping[str, FieldValue]) -> dict[str, FieldState]:
    """Every key stated by a counted message or corrected by a reviewer."""
    stated: dict[str, list[tuple[int, FieldValue]]] = {}
    for number, message in counted:
        for key, value in message.fields.items():
            if value.value.strip():
                stated.setdefault(key, []).append((number, value))
    return {key: _field(key, stated.get(key, []), corrections.get(key))
            for key in sorted({*stated, *corrections})}


def _field(key: str, statements: Sequence[tuple[int, FieldValue]],
           correction: FieldValue | None) -> FieldState:
    """Apply the policy to one key."""
    number, extracted = _standing(statements) if statements else (None, None)
    value = correction if correction is not None else extracted
    assert value is not None  # a key is here because it was stated or corrected
    others = tuple(dict.fromkeys(v.value for _, v in reversed(statements)
                                 if v.value != value.value))
    newest = {v.value: v for _, v in statements}
    return FieldState(key, value, extracted, number, tuple(newest[o] for o in others))


def _standing(statements: Sequence[tuple[int, FieldValue]]) -> tuple[int, FieldValue]:
    """The newest confident statement, else the most confident one (the newest on a tie)."""
    confident = [s for s in statements if s[1].confidence >= ENOUGH_CONFIDENCE]
    if confident:
        return confident[-1]
    return max(reversed(statements), key=lambda s: s[1].confidence)


def _first(decisions: Iterable[Decision]) -> Decision:
    """The first decision that states a value: it sticks."""
    return next((d for d in decisions if d.value), Decision(None, _NONE_STATED))


def _regulation(counted: Sequence[tuple[int, MessageFacts]], values: Mapping[str, FieldValue],
                rules: TriageRules) -> Decision:
    """The regulation the standing fields give, else the newest message's that states one."""
    from_fields = decide_regulation(rules, (), values)
    if from_fields.value is not None:
        return Decision(from_fields.value, ("from the case's fields", *from_fields.reasons))
    return _first(m.regulation for _, m in reversed(counted))


def _urgency(messages: Iterable[MessageFacts]) -> Decision:
    """Urgent once any message is, with every urgent message's reasons."""
    reasons = [r for m in messages if m.urgent.value == "yes" for r in m.urgent.reasons]
    if reasons:
        return Decision("yes", tuple(dict.fromkeys(reasons)))
    return Decision("no", ("no message is urgent",))


def _status(decision: ReviewerDecision | None, checklist: Sequence[ChecklistItem],
            opening: MessageRole | None) -> tuple[CaseStatus, str]:
    """A reviewer's decision, else the status the checklist gives."""
    if decision is not None:
        return decision.status, f"decided by {decision.actor}: {decision.note}"
    status = derived_status(checklist, opening)
    if checklist:
        missing = missing_items(checklist)
        return status, ("missing " + ", ".join(missing)) if missing else "nothing missing"
    return status, "no checklist applies"


def derived_status(checklist: Sequence[ChecklistItem],
                   opening: MessageRole | None) -> CaseStatus:
    """The status intake gives a case no reviewer has decided."""
    if checklist:
        return CaseStatus.INCOMPLETE if missing_items(checklist) else CaseStatus.COMPLETE
    return CaseStatus.ENQUIRY if opening == MessageRole.ENQUIRY else CaseStatus.INCOMPLETE


def opening_role(kind: MessageKind) -> MessageRole:
    """The role of a message that opens a case."""
    return {MessageKind.NEW_REQUEST: MessageRole.REQUEST,
            MessageKind.ENQUIRY: MessageRole.ENQUIRY}.get(kind, MessageRole.OTHER)


def facts_of(result: TriageResult, role: MessageRole, subject: str) -> MessageFacts:
    """Return what a triaged message says, for ``case_state``."""
    return MessageFacts(role, subject, result.request_type, result.regulation, result.language,
                        result.urgent, result.fields, result.documents)


def widened(result: TriageResult, state: CaseState) -> TriageResult:
    """Return a message's triage widened to its case (what the case row summarises)."""
    return replace(result, request_type=state.request_type, regulation=state.regulation,
                   language=state.language, urgent=state.urgent, fields=state.values,
                   checklist=state.checklist)
