"""Composing the acknowledgement an applicant receives (pure: the outbox sends it).

The reply threads under the applicant's message (In-Reply-To, References), carries the case
reference once in its subject, says it is automatic (RFC 3834 ``Auto-Submitted``) and is
built with the stdlib ``EmailMessage`` under the SMTP policy, so folding and RFC 2047 encoding
are right. Nothing the applicant wrote reaches a header with a control character in it.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from config.templates import RenderedText, TemplateSet
from config.vocabulary import FALLBACK_LANGUAGE, Language, Severity, names
from intake.replies.policy import reply_recipient, usable_address
from parsers.records import ParsedMessage
from triage.records import ChecklistItem, TriageResult, missing_items

MAX_REFERENCES = 20  # RFC 5322 lets a thread grow without end; mail clients cope with ~20
# What a reply repeats of the incoming message is capped: anyone may write to the mailbox
# and name a third party's address, so the reply must not carry their text to it.
MAX_SUBJECT_CHARS = 120
MAX_DEVICE_CHARS = 60
MAX_NAME_CHARS = 80
MAX_DOCUMENTS = 10
MAX_ID_CHARS = 250

# Reply and forward prefixes of the mail clients our applicants use (EN, FR, NL, DE, ...),
# with the counters some add ("Re[2]:", "AW(3):").
_PREFIX = re.compile(
    r"^\s*(?:re|aw|antw|antwoord|antwort|fw|fwd|wg|tr|doorst|rv|sv|vs|ref|réf)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*", re.IGNORECASE)
_LABEL_SEPARATOR = re.compile(r"^\s*[-–—:|]+\s*")
# Anything a mail client would turn into a link: a scheme, "www.", or an e-mail address.
_LINK = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.|mailto:)\S*|\S+@\S+\.\S+")
_ID_TOKEN = re.compile(r"[^A-Za-z0-9_-]+")
_MSGID = re.compile(r"^[!-~]+$")  # printable ASCII without spaces
_FOLD_AT = 78
# Message ids are written pre-folded and never refolded: the stdlib would turn an id longer
# than a line into an RFC 2047 encoded word, which no mail client threads on.
_POLICY = policy.SMTP.clone(refold_source="none")


@dataclass(frozen=True)
class OutgoingMail:
    """An acknowledgement ready for the outbox: the exact bytes to hand to SMTP."""

    message_id: str  # without angle brackets
    recipient: str
    subject: str
    raw: bytes
    template: str
    language: str = FALLBACK_LANGUAGE  # the language it was written in, after fallback


def choose_template(result: TriageResult, case_known: bool) -> str:
    """Return the template that answers a message: new_*, follow_up, enquiry or unknown_ref."""
    if result.kind == "automated":
        raise ValueError("automated messages are never acknowledged")
    if case_known:
        return "follow_up"
    if result.case_ref is not None or result.kind == "follow_up":
        # It names (or continues) a case we do not have: say so rather than guess.
        return "unknown_ref"
    if result.kind == "new_request":
        return "new_complete" if result.complete else "new_incomplete"
    return "enquiry"


def compose_acknowledgement(parsed: ParsedMessage, result: TriageResult, *, case_ref: str,
                            template: str, documents_received: Sequence[str],
                            checklist: Sequence[ChecklistItem], templates: TemplateSet,
                            our_address: str, our_domain: str, now: datetime,
                            use_reply_to: bool = False) -> OutgoingMail:
    """Render and assemble the acknowledgement of one message, threaded under it."""
    recipient = _checked_recipient(parsed, now, use_reply_to)
    context = reply_context(parsed, result, case_ref=case_ref, documents=documents_received,
                            checklist=checklist, contact_address=our_address, now=now)
    rendered = templates.render(template, _language(result), context)
    subject = reply_subject(case_ref, rendered.subject_label, parsed.subject,
                            templates.subject_labels())
    message_id = new_message_id(case_ref, our_domain)
    msg = EmailMessage(policy=_POLICY)
    _address_headers(msg, our_address, recipient, parsed)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{message_id}>"
    _thread_headers(msg, parsed)
    _automatic_headers(msg)
    _body(msg, rendered)
    return OutgoingMail(message_id, recipient, subject, msg.as_bytes(), template,
                        rendered.language)


def _checked_recipient(parsed: ParsedMessage, now: datetime, use_reply_to: bool) -> str:
    recipient = reply_recipient(parsed, use_reply_to)
    if recipient is None:
        raise ValueError("no usable recipient: never reply to a null return path or no sender")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (the Date header carries the offset)")
    return recipient


def _body(msg: EmailMessage, rendered: RenderedText) -> None:
    msg.set_content(rendered.text, cte="quoted-printable")
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    # Last: setting the body clears or moves every Content-* header set before it.
    msg["Content-Language"] = rendered.language


def reply_context(parsed: ParsedMessage, result: TriageResult, *, case_ref: str,
                  documents: Sequence[str], checklist: Sequence[ChecklistItem],
                  contact_address: str, now: datetime) -> dict[str, Any]:
    """Return what a template sees: the case, its documents and what it still lacks.

    Never a reference the sender cited (whether it names a case is not theirs to learn),
    never a link, and of the sender's own text only short, capped pieces.
    """
    device = result.fields.get("device_name")
    return {
        "case_ref": case_ref,
        "request_type": result.request_type.value,
        "regulation": result.regulation.value,
        # Only the device, never a patient field: the reference is all we repeat.
        "device_name": echo_text(device.value, MAX_DEVICE_CHARS) if device else None,
        "documents": document_names(documents),
        "missing": _items(checklist, Severity.REQUIRED),
        "advisory": _items(checklist, Severity.ADVISORY),
        "contact_address": contact_address,
        "original_subject": echo_text(parsed.subject, MAX_SUBJECT_CHARS),
        "received_on": now.date(),
    }


def document_names(names: Sequence[str]) -> list[str]:
    """Return the first file names, capped and without links, then how many more there are."""
    shown = [echo_text(name, MAX_NAME_CHARS) for name in names[:MAX_DOCUMENTS]]
    if len(names) > MAX_DOCUMENTS:
        shown.append(f"… (+{len(names) - MAX_DOCUMENTS})")
    return shown


def echo_text(value: str, limit: int) -> str:
    """Return a sender's text fit to repeat: one line, links removed, capped (with "…")."""
    text = clean_text(_LINK.sub("[link removed]", clean_text(value, 4 * limit)), 4 * limit)
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _items(checklist: Sequence[ChecklistItem], severity: Severity) -> list[dict[str, str]]:
    """The items of a severity the case lacks, with their status (missing or unclear)."""
    status = {item.id: item.status for item in checklist}
    return [{"id": item, "status": status[item]} for item in missing_items(checklist, severity)]


def _language(result: TriageResult) -> str:
    value = result.language.value
    return value if value in names(Language) else FALLBACK_LANGUAGE


def clean_text(value: str, limit: int) -> str:
    """Return text fit for one header line: no control or format characters, one line."""
    # CR/LF (and U+2028, NEL, tabs ...) become spaces so words stay apart; other control,
    # format and surrogate characters go: none may split a header or hide text.
    spaced = "".join(" " if ch.isspace() else ch for ch in value)
    kept = "".join(ch for ch in spaced
                   if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    collapsed = " ".join(kept.split())
    return collapsed[:limit].rstrip()


def reply_subject(case_ref: str, label: str, original: str, labels: frozenset[str]) -> str:
    """Return ``[REF] <label> – <original>`` with the tag once, however long the thread."""
    rest = strip_subject(original, case_ref, labels | {label})
    tag = f"[{case_ref}] {label}"
    return f"{tag} – {rest}" if rest else tag


def strip_subject(subject: str, case_ref: str, labels: frozenset[str]) -> str:
    """Remove reply prefixes, our tag and our subject labels from an applicant's subject."""
    tag = re.compile(r"\[\s*" + re.escape(case_ref) + r"\s*\]", re.IGNORECASE)
    text = clean_text(tag.sub(" ", clean_text(subject, 4 * MAX_SUBJECT_CHARS)), 10_000)
    previous = None
    while text != previous:
        previous = text
        text = _PREFIX.sub("", text, count=1)
        text = _strip_label(text, labels).strip()
    return echo_text(text, MAX_SUBJECT_CHARS)


def _strip_label(text: str, labels: frozenset[str]) -> str:
    folded = text.casefold()
    for label in labels:
        if label and folded.startswith(label.casefold()):
            return _LABEL_SEPARATOR.sub("", text[len(label):], count=1)
    return text


def new_message_id(case_ref: str, domain: str) -> str:
    """Return a fresh Message-ID (without brackets): ``<ref>.<random>@<domain>``."""
    if not domain or not _MSGID.match(domain) or any(c in domain for c in "@<>"):
        raise ValueError(f"not a usable domain for a Message-ID: {domain!r}")
    token = _ID_TOKEN.sub("-", case_ref).strip("-") or "ack"
    return f"{token}.{secrets.token_hex(8)}@{domain}"


def clean_message_id(value: str | None) -> str | None:
    """Return a message id without brackets if it is safe to repeat in a header, else None."""
    if not value:
        return None
    ident = value.strip().removeprefix("<").removesuffix(">").strip()
    if not ident or len(ident) > MAX_ID_CHARS or not _MSGID.match(ident):
        return None
    return None if any(c in ident for c in "<>") else ident


def thread_references(parsed: ParsedMessage) -> tuple[str | None, tuple[str, ...]]:
    """Return the parent's id and the References of a reply (RFC 5322 section 3.6.4)."""
    parent = clean_message_id(parsed.message_id)
    earlier = parsed.references or parsed.in_reply_to[:1]
    ids = [i for i in (clean_message_id(r) for r in earlier) if i]
    if parent:
        ids.append(parent)
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_REFERENCES:
        # Keep the thread's root and its most recent messages: what clients thread on.
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1):]
    return parent, tuple(ids)


def _address_headers(msg: EmailMessage, our_address: str, recipient: str,
                     parsed: ParsedMessage) -> None:
    msg["From"] = our_address
    name = clean_text(parsed.sender_name or "", 80)
    # The applicant's display name only when we answer the From address it belongs to.
    if name and recipient == usable_address(parsed.sender):
        msg["To"] = Address(display_name=name, addr_spec=recipient)
    else:
        msg["To"] = recipient


def _thread_headers(msg: EmailMessage, parsed: ParsedMessage) -> None:
    parent, references = thread_references(parsed)
    if parent:
        msg.set_raw("In-Reply-To", fold_ids("In-Reply-To", [parent]))
    if references:
        msg.set_raw("References", fold_ids("References", references))


def fold_ids(name: str, ids: Sequence[str]) -> str:
    """Return ``<id> <id> ...`` folded between ids, lines within 78 characters when possible."""
    lines: list[str] = []
    current, width = "", len(name) + 2
    for token in (f"<{i}>" for i in ids):
        if current and width + len(current) + 1 + len(token) > _FOLD_AT:
            lines.append(current)
            current, width = token, 1
        else:
            current = f"{current} {token}" if current else token
    lines.append(current)
    return "\n ".join(lines)


def _automatic_headers(msg: EmailMessage) -> None:
    # RFC 3834: marks the reply as automatic so that well-behaved responders stay silent;
    # the second header asks Exchange not to send out-of-office replies to it.
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
