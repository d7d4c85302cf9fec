"""Triage results as the ``triage --json`` object (docs/contracts.md) and as a text report."""

from __future__ import annotations

from dataclasses import asdict

from parsers.records import ExtractedDocument, FieldValue, ParsedMessage, Source
from triage.records import ChecklistItem, TriageResult

_MARKS = {"present": "✓", "missing": "✗", "unclear": "?", "not_applicable": "–"}


def triage_to_json(parsed: ParsedMessage, result: TriageResult) -> dict[str, object]:
    """Return the ``triage --json`` object of one message (shape of docs/contracts.md)."""
    return {
        "message_id": parsed.message_id,
        "sender": parsed.sender,
        "subject": parsed.subject,
        "language": result.language.value,
        "kind": result.kind,
        "case_ref": result.case_ref,
        "authority": result.authority,
        "request_type": result.request_type.value,
        "regulation": result.regulation.value,
        "fields": {key: field_to_json(value) for key, value in result.fields.items()},
        "documents": [document_to_json(d) for d in result.documents],
        "checklist": [item_to_json(i) for i in result.checklist],
        "missing": list(result.missing),
        "complete": result.complete,
        "urgent": result.urgent.value == "yes",
        "would_acknowledge": result.would_acknowledge,
        "reasons": {
            "kind": list(result.kind_reasons),
            "language": list(result.language.reasons),
            "request_type": list(result.request_type.reasons),
            "regulation": list(result.regulation.reasons),
            "urgent": list(result.urgent.reasons),
        },
    }


def field_to_json(value: FieldValue) -> dict[str, object]:
    """Return a field's value, source, rule and confidence."""
    return {"value": value.value, "source": source_to_json(value.source), "rule": value.rule,
            "confidence": value.confidence}


def source_to_json(source: Source) -> dict[str, object]:
    """Return a source without its null keys, plus its human-readable ``text``."""
    shown: dict[str, object] = {k: v for k, v in asdict(source).items() if v is not None}
    shown["text"] = source.describe()
    return shown


def document_to_json(doc: ExtractedDocument) -> dict[str, object]:
    """Return the summary of one document."""
    return {"filename": doc.filename, "sha256": doc.sha256, "kind": doc.kind,
            "pages": doc.pages, "error": doc.error,
            "parts": [{"kind": p.kind, "rule": p.kind_rule, "where": p.where}
                      for p in doc.parts]}


def item_to_json(item: ChecklistItem) -> dict[str, object]:
    """Return one checklist item."""
    return {"id": item.id, "severity": item.severity, "status": item.status,
            "evidence": item.evidence}


def triage_to_text(parsed: ParsedMessage, result: TriageResult) -> str:
    """Return a readable report: what the message is, what it holds, what it lacks, and why."""
    lines = [*_header_lines(parsed, result), "", "Fields:"]
    lines += [f"  {k}: {v.value}  [{v.source.describe()}; {v.rule}; {v.confidence:.2f}]"
              for k, v in sorted(result.fields.items())] or ["  (none)"]
    lines += ["", "Documents:"]
    lines += [_document_line(d) for d in result.documents] or ["  (none)"]
    if result.checklist:
        lines += ["", "Checklist:"]
        lines += [f"  {_MARKS[i.status]} {i.id} ({i.severity}): {i.evidence}"
                  for i in result.checklist]
        missing = ", ".join(result.missing) or "nothing"
        lines += ["", f"Missing: {missing}", f"Complete: {'yes' if result.complete else 'no'}"]
    lines += ["", "Reasons:", *_reason_lines(result)]
    return "\n".join(lines) + "\n"


def _header_lines(parsed: ParsedMessage, result: TriageResult) -> list[str]:
    """The decisions, one per line."""
    lines = [
        f"Message:      {parsed.message_id or '(no Message-ID)'}",
        f"From:         {parsed.sender or '(none)'}",
        f"Subject:      {parsed.subject}",
        f"Kind:         {result.kind}",
        f"Case:         {result.case_ref or '-'}",
        f"Authority:    {result.authority}",
        f"Language:     {result.language.value}",
        f"Request type: {result.request_type.value or '-'}",
        f"Regulation:   {result.regulation.value or '-'}",
        f"Urgent:       {result.urgent.value}",
        f"Acknowledge:  {'yes' if result.would_acknowledge else 'no'}",
    ]
    if result.flags:
        lines.append(f"Flags:        {', '.join(result.flags)}")
    return lines


def _document_line(doc: ExtractedDocument) -> str:
    """One document: name, kind, pages, and its error if it could not be read."""
    pages = f", {doc.pages} p." if doc.pages is not None else ""
    error = f"  UNREADABLE: {doc.error}" if doc.error else ""
    parts = "".join(f"; part {p.kind} {p.where}" for p in doc.parts)
    return f"  {doc.filename} ({doc.kind}{pages}{parts}){error}"


def _reason_lines(result: TriageResult) -> list[str]:
    """Every decision's reasons, indented under its name."""
    sections = {
        "kind": result.kind_reasons, "language": result.language.reasons,
        "request_type": result.request_type.reasons, "regulation": result.regulation.reasons,
        "urgent": result.urgent.reasons, "acknowledge": result.acknowledge_reasons,
    }
    lines: list[str] = []
    for name, reasons in sections.items():
        lines.append(f"  {name}:")
        lines += [f"    - {r}" for r in reasons] or ["    - (none)"]
    return lines
