"""The kind of a message: new request, follow-up, enquiry, automated or other.

Triage is pure: whether a cited reference or a replied-to message belongs to a known case is
looked up by the caller and handed in as ``ThreadHints``.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

from config.triage_rules import TriageRules
from parsers.records import ExtractedDocument, FieldValue, ParsedMessage
from triage.caseref import find_case_ref, normalise_case_ref
from triage.decide import cue_votes
from triage.nlp import Hit
from triage.records import Decision

UNKNOWN_CASE_REF = "unknown_case_ref"


@dataclass(frozen=True)
class ThreadHints:
    """What the case store knows about the references a message cites."""

    cited_ref: str | None = None  # a case reference found in the message (find_case_ref)
    ref_known: bool | None = None  # does it name an existing case? None: not looked up
    thread_case: str | None = None  # case of a known message named by In-Reply-To/References
    case_request_type: str | None = None  # request type of that case, for follow-ups


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
    """Build hints from the caller's lookups: known case references and message-id -> case."""
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
    cited = hints.cited_ref if hints and hints.cited_ref else find_case_ref(
        [parsed.subject, parsed.body_text], rules)
    thread = _thread(parsed, cited, hints)
    if thread is not None:
        return thread
    content = _by_content(rules, hits, documents, fields)
    if cited is not None:
        # A reference no case has (a typo, another office's): a person must check it.
        why = f"cites {cited}, which names no known case (kind.unknown_case_ref_kind)"
        if rules.kind.unknown_case_ref_kind == "follow_up":
            return KindDecision("follow_up", (why,), None, (UNKNOWN_CASE_REF,))
        return KindDecision("new_request", (why, *content.reasons), None, (UNKNOWN_CASE_REF,))
    return content


def _thread(parsed: ParsedMessage, cited: str | None,
            hints: ThreadHints | None) -> KindDecision | None:
    """Return a follow-up decision when the message belongs to a case, else None."""
    known = hints.ref_known if hints else None
    if cited is not None and known is not False:
        checked = "known case" if known else "not looked up"
        return KindDecision("follow_up", (f"cites case reference {cited} ({checked})",),
                            normalise_case_ref(cited))
    if hints is not None and hints.thread_case:
        return KindDecision("follow_up", (f"replies to a message of case {hints.thread_case}",),
                            hints.thread_case)
    replied = parsed.in_reply_to or parsed.references
    if replied and hints is None:
        return KindDecision("follow_up", (f"replies to <{replied[0]}> (thread not looked up)",))
    return None


def _by_content(rules: TriageRules, hits: Sequence[Hit], documents: Sequence[ExtractedDocument],
                fields: Mapping[str, FieldValue]) -> KindDecision:
    """New request on request documents, fields or words; enquiry on question words."""
    kind_rules = rules.kind
    forms = [d for d in documents if d.kind in kind_rules.request_documents]
    if forms:
        return KindDecision("new_request", tuple(
            f"kind.request_documents: {d.filename} is {d.kind}" for d in forms))
    given = [k for k in kind_rules.request_fields if k in fields]
    if given and len(given) >= kind_rules.request_fields_min:
        return KindDecision("new_request", (
            f"kind.request_fields: {len(given)} request fields given ({', '.join(given)}; "
            f"at least {kind_rules.request_fields_min} needed)",))
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
