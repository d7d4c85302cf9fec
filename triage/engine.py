"""Triage of one message: kind, language, request type, regulation, urgency, checklist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from config.triage_rules import TriageRules
from config.vocabulary import MessageKind
from parsers.records import ExtractedDocument, Extraction, FieldValue, ParsedMessage
from triage.automated import automated_verdict, weigh_automated
from triage.case import message_fields
from triage.checklist import evaluate_checklist
from triage.decide import cue_votes, decide_regulation, decide_request_type, decide_urgency
from triage.kind import KindDecision, decide_kind, request_evidence
from triage.language import detect_language
from triage.nlp import find_cues, strip_quotes
from triage.records import Decision, Hit, TriageResult
from triage.threading import ThreadHints

__all__ = ["message_language", "triage_message"]

# The sender's own words say most about the language they want an answer in; the subject is
# short and often formulaic; forms are often filled in on another language's template.
_BODY_WEIGHT = 4.0
_SUBJECT_WEIGHT = 1.0
_FORMS_WEIGHT = 1.5
_REQUEST_KINDS = (MessageKind.NEW_REQUEST, MessageKind.FOLLOW_UP)


def triage_message(parsed: ParsedMessage, extraction: Extraction, rules: TriageRules,
                   authority: str, hints: ThreadHints | None = None) -> TriageResult:
    """Decide everything triage says about one message, each decision with its reasons."""
    fields = message_fields(extraction.all_fields())
    automated = weigh_automated(automated_verdict(parsed, rules.automated),
                                request_evidence(rules, extraction.documents, fields))
    body = strip_quotes(parsed.body_text, rules)
    forms = [d for d in extraction.documents if d.kind in rules.kind.request_documents]
    language = message_language(parsed.subject, body, forms)
    if automated.value == "yes":
        return _automated_result(automated, language, authority, fields, extraction, rules)
    hits = _message_hits(parsed.subject, body, language.value or "en", rules)
    kind = decide_kind(parsed, automated, rules, hits, extraction.documents, fields, hints)
    if automated.reasons:  # cues that a request outweighed: shown beside the kind's reasons
        kind = replace(kind, reasons=(*kind.reasons, *automated.reasons))
    request_type = _request_type(kind, rules, hits, extraction.documents, fields, hints)
    checklist = (evaluate_checklist(request_type.value, fields, extraction.documents,
                                    parsed.subject, rules)
                 if request_type.value and kind.kind in _REQUEST_KINDS else ())
    acknowledge, acknowledge_reasons = _acknowledge(kind, parsed, rules)
    return TriageResult(
        kind=MessageKind(kind.kind), kind_reasons=kind.reasons, language=language,
        authority=authority, request_type=request_type,
        regulation=decide_regulation(rules, hits, fields),
        urgent=decide_urgency(rules, hits, fields, parsed.date),
        case_ref=kind.case_ref, fields=fields, all_fields=extraction.all_fields(),
        documents=extraction.documents, checklist=checklist, would_acknowledge=acknowledge,
        acknowledge_reasons=acknowledge_reasons,
        rules_version=extraction.rules_version or rules.version, flags=kind.flags)


def _automated_result(automated: Decision, language: Decision, authority: str,
                      fields: dict[str, FieldValue], extraction: Extraction,
                      rules: TriageRules) -> TriageResult:
    """Automated mail is kept and reported but never read further nor acknowledged."""
    skipped = ("automated message",)
    return TriageResult(
        kind=MessageKind.AUTOMATED, kind_reasons=automated.reasons, language=language,
        authority=authority, request_type=Decision(None, skipped),
        regulation=Decision(None, skipped), urgent=Decision("no", skipped), case_ref=None,
        fields=fields, all_fields=extraction.all_fields(), documents=extraction.documents,
        checklist=(), would_acknowledge=False,
        acknowledge_reasons=("automated messages are never acknowledged (mail loops)",),
        rules_version=extraction.rules_version or rules.version)


def message_language(subject: str, body: str, forms: Sequence[ExtractedDocument]) -> Decision:
    """Detect the applicant's language from the body, the subject and the request forms."""
    texts = [body, subject, *(d.text for d in forms)]
    share = _FORMS_WEIGHT / len(forms) if forms else 0.0
    weights = [_BODY_WEIGHT, _SUBJECT_WEIGHT, *([share] * len(forms))]
    names = ["body", "subject", *(d.filename for d in forms)]
    return detect_language(texts, weights, names)


def _message_hits(subject: str, body: str, lang: str, rules: TriageRules) -> tuple[Hit, ...]:
    """Cues in the sender's own words: the subject and the unquoted body.

    Not the forms' text: it is mostly the printed template, which names both request types
    and both regulations; what the applicant filled in arrives as fields and document kinds.
    """
    return find_cues(subject, lang, rules, "subject") + find_cues(body, lang, rules, "body")


def _request_type(kind: KindDecision, rules: TriageRules, hits: Sequence[Hit],
                  documents: Sequence[ExtractedDocument], fields: dict[str, FieldValue],
                  hints: ThreadHints | None) -> Decision:
    """A request's type; a follow-up takes its case's type when the caller knows it."""
    if kind.kind not in _REQUEST_KINDS:
        return Decision(None, (f"not a request ({kind.kind})",))
    if kind.kind == MessageKind.FOLLOW_UP and hints is not None and hints.case_request_type:
        return Decision(hints.case_request_type, (f"request type of case {kind.case_ref}",))
    if kind.kind == MessageKind.FOLLOW_UP and not any(
            cue_votes(rules.request_type.cues, hits, documents, fields)):
        # The profile's default is for requests; a bare follow-up takes its case's type.
        return Decision(None, ("follow-up without cues: the case's request type applies",))
    return decide_request_type(rules, hits, documents, fields)


def _acknowledge(kind: KindDecision, parsed: ParsedMessage,
                 rules: TriageRules) -> tuple[bool, tuple[str, ...]]:
    """Whether the office would answer, and why (never automated mail: loops)."""
    if kind.kind not in rules.acknowledge_kinds:
        return False, (f"{kind.kind} messages are not acknowledged (acknowledge.kinds)",)
    if not parsed.sender:
        return False, ("no sender address to answer",)
    return True, (f"{kind.kind} messages are acknowledged (acknowledge.kinds)",)
