"""The kind of a message: new request, follow-up, enquiry, automated or other.

Triage is pure: whether a cited reference or a replied-to message belongs to a known case, and
whether the sender is known to it, is looked up by the caller and handed in as ``ThreadHints``;
which case the message may join is decided in ``triage.threading``.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, replace

from config.triage_rules import TriageRules
from parsers.records import ExtractedDocument, FieldValue, ParsedMessage
from triage.caseref import find_case_ref
from triage.decide import cue_votes
from triage.records import Decision, Hit
from triage.threading import ThreadHints, decide_join


@dataclass(frozen=True)
class KindDecision:
    """The kind with its reasons, the case a follow-up belongs to, and flags."""

    kind: str  # a config.vocabulary.MessageKind (triage.engine checks it)
    reasons: tuple[str, ...]
    case_ref: str | None = None
    flags: tuple[str, ...] = ()


def thread_hints(parsed: ParsedMessage, rules: TriageRules, known_refs: Container[str],
                 case_of_message: Mapping[str, str],
                 request_type_of_case: Mapping[str, str] | None = None) -> ThreadHints:
    """Build hints from the caller's lookups: known case references and message-id -> case.

    Who the cases' correspondents are is not given: the sender's standing is not looked up.
    """
    cited = find_case_ref([parsed.subject, parsed.body_text], rules)
    replied = [*parsed.in_reply_to, *parsed.references]
    thread_case = next((case_of_message[m] for m in replied if m in case_of_message), None)
    case = (cited if cited is not None and cited in known_refs else None) or thread_case
    types = request_type_of_case or {}
    return ThreadHints(cited_ref=cited, ref_known=None if cited is None else cited in known_refs,
                       thread_case=thread_case, case_request_type=types.get(case or ""))


def decide_kind(parsed: ParsedMessage, automated: Decision, rules: TriageRules,
                hits: Sequence[Hit], documents: Sequence[ExtractedDocument],
                fields: Mapping[str, FieldValue], hints: ThreadHints | None) -> KindDecision:
    """Decide the kind: automated first, then follow-up, new request, enquiry, other."""
    if automated.value == "yes":
        return KindDecision("automated", automated.reasons)
    join = decide_join(parsed, hints, documents, rules)
    if join is not None and join.outcome == "join":
        return KindDecision("follow_up", join.reasons, join.case_ref)
    if join is not None and join.outcome == "unchecked":
        return KindDecision("follow_up", join.reasons)
    content = _by_content(rules, hits, documents, fields)
    if join is None:
        return content
    if join.outcome == "link":
        return replace(content, reasons=(*join.reasons, *content.reasons), flags=join.flags)
    # A reference that names no case, or a case the sender is not on: the same answer for
    # both, so that a reply never tells whether a reference exists.
    if rules.kind.unknown_case_ref_kind == "follow_up":
        return KindDecision("follow_up", join.reasons, None, join.flags)
    return KindDecision("new_request", (*join.reasons, *content.reasons), None, join.flags)


def request_evidence(rules: TriageRules, documents: Sequence[ExtractedDocument],
                     fields: Mapping[str, FieldValue]) -> tuple[str, ...]:
    """Return why the message carries a request (forms, else enough request fields), or ()."""
    kind_rules = rules.kind
    forms = [d for d in documents if d.kind in kind_rules.request_documents]
    if forms:
        return tuple(f"kind.request_documents: {d.filename} is {d.kind}" for d in forms)
    given = [k for k in kind_rules.request_fields if k in fields]
    if given and len(given) >= kind_rules.request_fields_min:
        return (f"kind.request_fields: {len(given)} request fields given ({', '.join(given)}; "
                f"at least {kind_rules.request_fields_min} needed)",)
    return ()


def _by_content(rules: TriageRules, hits: Sequence[Hit], documents: Sequence[ExtractedDocument],
                fields: Mapping[str, FieldValue]) -> KindDecision:
    """New request on request documents, fields or words; enquiry on question words."""
    evidence = request_evidence(rules, documents, fields)
    if evidence:
        return KindDecision("new_request", evidence)
    return _by_words(rules, hits)


def _by_words(rules: TriageRules, hits: Sequence[Hit]) -> KindDecision:
    """Weigh request words against question words in the sender's own text."""
    votes = list(cue_votes(rules.kind.cues, hits, (), {}))
    request = sum(w for label, w, _ in votes if label == "request")
    enquiry = sum(w for label, w, _ in votes if label == "enquiry")
    reasons = tuple(reason for _, _, reason in votes)
    if enquiry > 0 and enquiry >= request:
        return KindDecision("enquiry", (*reasons, f"question words {enquiry:g} >= request "
                                                  f"words {request:g}, no request form"))
    if request > 0:
        return KindDecision("new_request", (*reasons, f"request words {request:g} > question "
                                                      f"words {enquiry:g}"))
    return KindDecision("other", ("no request form, request fields, request or question words",))
