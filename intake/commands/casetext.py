"""A readable one-screen summary of a case, for `cases show`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage.export import case_to_dict
from storage.models import Case

MARKS = {"present": "[x]", "missing": "[ ]", "unclear": "[?]", "not_applicable": "[-]"}


def case_to_text(s: Session, case: Case) -> str:
    """Return the case as plain text: summary, checklist, fields, documents, messages."""
    data = case_to_dict(s, case)
    lines = [*_summary(data), "", "Checklist:", *_checklist(data), "", "Fields:",
             *_fields(data), "", "Documents:", *_documents(data), "", "Messages (filed at, UTC):",
             *_messages(data), "", "Acknowledgements:", *_outgoing(data)]
    return "\n".join(lines)


def _summary(data: dict[str, Any]) -> list[str]:
    """Return the header lines."""
    return [
        f"Case {data['ref']}  [{data['status']}]",
        f"  authority {data.get('authority')}, request type {data.get('request_type') or '?'}, "
        f"regulation {data.get('regulation') or '?'}, language {data.get('language') or '?'}",
        f"  urgent: {'yes' if data.get('urgent') else 'no'}"
        + (f" ({'; '.join(data.get('urgent_reasons') or [])})" if data.get("urgent") else ""),
        f"  subject: {data.get('subject', '')}",
        f"  missing: {', '.join(data.get('missing') or []) or 'nothing'}",
    ]


def _checklist(data: dict[str, Any]) -> list[str]:
    """Return one line per checklist item."""
    return [f"  {MARKS.get(i['status'], '[?]')} {i['id']} ({i['severity']}): {i['evidence']}"
            for i in data.get("checklist", [])] or ["  (none)"]


def _fields(data: dict[str, Any]) -> list[str]:
    """Return one line per current field, with where it was found."""
    out = []
    for key, f in sorted(data.get("fields", {}).items()):
        origin = " (reviewer)" if f.get("origin") == "reviewer" else ""
        out.append(f"  {key} = {f['value']}{origin}  <- {f.get('source_text') or ''} "
                   f"[{f.get('rule', '')}, {f.get('confidence', '')}]")
    return out or ["  (none)"]


def _documents(data: dict[str, Any]) -> list[str]:
    """Return one line per document."""
    return [f"  {d['filename']}: {d['kind']}, {d.get('pages') or '?'} p., "
            f"{d['size']} bytes, sha256 {d['sha256'][:12]}"
            + (f", UNREADABLE ({d['error']})" if d.get("error") else "")
            for d in data.get("documents", [])] or ["  (none)"]


def _messages(data: dict[str, Any]) -> list[str]:
    """Return one line per message of the thread."""
    return [f"  {(m.get('filed_at') or '')[:19]} {m['role']:<10} {m.get('sender') or '?'}: "
            f"{m.get('subject', '')}" for m in data.get("messages", [])] or ["  (none)"]


def _outgoing(data: dict[str, Any]) -> list[str]:
    """Return one line per acknowledgement."""
    return [f"  {o['state']:<10} to {o['recipient']}: {o['subject']}"
            for o in data.get("outgoing", [])] or ["  (none)"]
