"""The case page: one self-contained HTML file showing a case and where every value came from.

``case_to_html`` takes the JSON data of ``storage.export.case_to_dict`` (optionally with the
``field_history``, ``waiting``, ``generated_at`` and ``timezone`` keys that
``storage.reports.case_report_data`` and the report command add) and returns the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from triage.reports.fields import (
    conflicts_blocks,
    corrections_table,
    field_history_of,
    fields_table,
    key_order,
    render_value,
)
from triage.reports.html import (
    Html,
    badge,
    duration,
    join,
    local_time,
    mark,
    optional,
    page,
    plain,
    section,
    size,
    table,
    tag,
    void,
    words,
)
from triage.reports.styles import CSS

Data = Mapping[str, Any]

SUMMARY_CARDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Applicant", ("applicant_name", "applicant_role", "contact_name", "contact_email",
                   "contact_phone")),
    ("Device", ("device_name", "device_model", "device_reference", "udi_di", "risk_class",
                "manufacturer_name", "manufacturer_srn", "intended_purpose", "quantity")),
    ("Use", ("hospital_name", "physician_name", "physician_email", "patient_reference",
             "intended_use_date", "signature_date")),
)
CONTENTS = (("summary", "Summary"), ("checklist", "Checklist"), ("decisions", "Decisions"),
            ("fields", "Fields"), ("conflicts", "Conflicts"), ("corrections", "Corrections"),
            ("documents", "Documents"), ("thread", "Messages"),
            ("acknowledgements", "Acknowledgements"), ("events", "Event log"))


def case_to_html(data: Data) -> str:
    """Return the reviewer's page of a case: summary, checklist, fields with sources, thread."""
    return str(page(f"Case {data.get('ref', '?')}", CSS,
                    [_header(data, data.get("timezone")), *case_sections(data)]))


def case_sections(data: Data) -> list[Html]:
    """Return the page's parts below its title: contents, summary, checklist ... event log.

    Documents and messages that carry an ``href`` (the workspace adds one) link to it.
    """
    tz = data.get("timezone")
    history = field_history_of(data)
    return [

        tag("nav", [tag("a", label, href=f"#{anchor}") for anchor, label in CONTENTS],
            class_="contents"),
        _summary(data, tz),
        section("checklist", "Checklist", _checklist(data.get("checklist") or [])),
        section("decisions", "Decisions and the rules behind them",
                _decisions(data.get("triage") or {})),
        section("fields", "Extracted fields", fields_table(history)),
        section("conflicts", "Conflicts between sources", conflicts_blocks(history, tz)),
        section("corrections", "Reviewer corrections", corrections_table(history, tz)),
        section("documents", "Documents", _documents(data.get("documents") or [])),
        section("thread", "Messages", _thread(data, history, tz)),
        section("acknowledgements", "Acknowledgements",
                _acknowledgements(data.get("outgoing") or [], tz)),
        section("events", "Event log", _events(data.get("events") or [], tz)),
    ]


# --- data helpers ---------------------------------------------------------------------------

# --- header and summary ---------------------------------------------------------------------

def status_badges(data: Data) -> list[Html]:
    """Return the status, completeness, urgency and waiting badges of a case."""
    status = str(data.get("status") or "unknown")
    badges = [badge(words(status), "ok" if status in ("complete", "granted") else
                    "bad" if status in ("incomplete", "refused") else "plain")]
    if data.get("urgent"):
        badges.append(badge("URGENT", "bad"))
    waiting = data.get("waiting")
    if waiting:
        badges.append(badge(f"waiting for applicant {duration(waiting.get('waiting_seconds'))}",
                            "warn"))
    return badges


def _header(data: Data, tz: str | None) -> Html:
    """Return the page title: reference, badges, subject, when the page was made."""
    made = data.get("generated_at")
    when = f"Generated {local_time(made, tz)} ({tz or 'UTC'})" if made else ""
    return tag("header",
               tag("h1", f"Case {data.get('ref', '?')} ", status_badges(data)),
               tag("p", data.get("subject") or "(no subject)", class_="subtitle"),
               tag("p", when, class_="generated") if when else None)


def _fact(label: str, value: Any) -> Html:
    """Return one term and its description."""
    return Html(tag("dt", label) + tag("dd", value))


def _urgency(data: Data) -> Html:
    """Return whether the case is urgent and the rule hits that said so."""
    if data.get("urgent"):
        reasons = data.get("urgent_reasons") or []
        return Html(badge("urgent", "bad") + _reasons(reasons))
    return tag("span", "not urgent", class_="muted")


def _waiting_text(data: Data, tz: str | None) -> Html | str:
    """Return how long the applicant has had our last acknowledgement, if we wait on them."""
    waiting = data.get("waiting")
    if not waiting:
        return tag("span", "no", class_="muted")
    return (f"{duration(waiting.get('waiting_seconds'))}, since our acknowledgement of "
            f"{local_time(waiting.get('since'), tz)} to {waiting.get('recipient', '?')}")


def _request_card(data: Data, tz: str | None) -> Html:
    """Return the card with the request's decisions and status."""
    checklist = data.get("checklist") or []
    missing = [str(item) for item in data.get("missing") or []]  # storage.export decides it
    unclear = {str(i.get("id")) for i in checklist if i.get("status") == "unclear"}
    # Only unclear items left (a scan read badly, a file that could not be opened): the
    # request may be complete, and a person must look before anyone says so.
    complete = ("complete" if checklist and not missing else
                f"needs review: {', '.join(missing)}" if missing and set(missing) <= unclear
                else f"incomplete: {', '.join(missing)}" if missing else "no checklist")
    facts = [
        _fact("Reference", tag("strong", data.get("ref", "?"))),
        _fact("Status", words(data.get("status"))),
        _fact("Completeness", complete),
        _fact("Waiting for applicant", _waiting_text(data, tz)),
        _fact("Request type", words(data.get("request_type"))),
        _fact("Regulation", data.get("regulation") or "—"),
        _fact("Authority", (data.get("authority") or "—").upper()),
        _fact("Language", data.get("language") or "—"),
        _fact("Urgency", _urgency(data)),
        _fact("Applicant e-mail", data.get("applicant_email") or "—"),
        _fact("Received", local_time(data.get("created_at"), tz)),
        _fact("Last change", local_time(data.get("updated_at"), tz)),
        _fact("Rules version", tag("code", str(data.get("rules_version") or "—")[:16])),
    ]
    return tag("div", tag("h3", "Request"), tag("dl", facts, class_="facts"), class_="card")


def _current_value(value: Data) -> Html:
    """Return a current value with where it came from (and who, for a reviewer's)."""
    reviewer = value.get("origin") == "reviewer"
    where = (f"set by {value.get('actor') or 'a reviewer'}" if reviewer
             else value.get("source_text") or "")
    return Html(render_value(value.get("value")) + (" " + badge("reviewer", "info") if reviewer
                                                     else "")
                + tag("div", where, class_="muted"))


def _field_card(title: str, keys: Sequence[str], fields: Data) -> Html:
    """Return a summary card of some current fields."""
    facts = [_fact(words(key), _current_value(fields[key]) if key in fields
                   else tag("span", "not found", class_="muted")) for key in keys]
    return tag("div", tag("h3", title), tag("dl", facts, class_="facts"), class_="card")


def _summary(data: Data, tz: str | None) -> Html:
    """Return the summary: request, applicant, device and use, side by side."""
    fields = data.get("fields") or {}
    cards = [_request_card(data, tz), *(_field_card(t, k, fields) for t, k in SUMMARY_CARDS)]
    return section("summary", "Summary", tag("div", cards, class_="summary"))


# --- checklist and decisions ----------------------------------------------------------------

def checklist_counts(checklist: Sequence[Data]) -> str:
    """Return 'N of M required items present' for the checklist's heading line."""
    required = [i for i in checklist if i.get("severity") == "required"]
    done = [i for i in required if i.get("status") in ("present", "not_applicable")]
    return f"{len(done)} of {len(required)} required items present or not applicable."


def _checklist(checklist: Sequence[Data]) -> Html:
    """Return the checklist: a mark, the item, its severity and status, and the evidence."""
    rows = [tag("tr", tag("td", mark(str(i.get("status")))), tag("td", tag("code", i.get("id"))),
                tag("td", i.get("severity"), class_="nowrap"),
                tag("td", words(i.get("status")), class_="nowrap"),
                tag("td", i.get("evidence") or "—"),
                class_=f"status-{i.get('status')} severity-{i.get('severity')}")
            for i in checklist]
    intro = tag("p", checklist_counts(checklist)) if checklist else None
    return Html(optional(intro) + table(
        ["", "Item", "Severity", "Status", "Evidence"], rows,
        "No checklist: the request type is not known yet.", class_="checklist"))


def _reasons(reasons: Iterable[Any]) -> Html:
    """Return rule hits as a list."""
    items = [tag("li", r) for r in reasons]
    return tag("ul", items, class_="reasons") if items else tag("span", "—", class_="muted")


def decisions_of(triage: Data) -> list[tuple[str, Any, Sequence[Any]]]:
    """Return (decision, value, rule hits) from a case's triage summary (either shape)."""
    reasons = triage.get("reasons")
    if isinstance(reasons, Mapping):  # the `triage --json` shape: reasons per decision
        return [(name, _value_of(triage.get(name)), list(hits or []))
                for name, hits in reasons.items()]
    rows: list[tuple[str, Any, Sequence[Any]]] = [
        ("kind", triage.get("kind"), list(triage.get("kind_reasons") or []))]
    for name in ("language", "request_type", "regulation", "urgent"):
        decision = triage.get(name)
        if isinstance(decision, Mapping):
            rows.append((name, decision.get("value"), list(decision.get("reasons") or [])))
    if "would_acknowledge" in triage:
        rows.append(("acknowledge", "yes" if triage.get("would_acknowledge") else "no",
                     list(triage.get("acknowledge_reasons") or [])))
    return rows


def _value_of(decision: Any) -> Any:
    """Return a decision's value whether stored as {value, reasons} or as the value itself."""
    return decision.get("value") if isinstance(decision, Mapping) else decision


def _decisions(triage: Data) -> Html:
    """Return each triage decision with the rule hits behind it."""
    rows = [tag("tr", tag("td", words(name), class_="nowrap"),
                tag("td", tag("strong", words(value))), tag("td", _reasons(hits)))
            for name, value, hits in decisions_of(triage)]
    flags = list(triage.get("flags") or [])
    note = tag("p", "Flags: ", join([tag("code", f) for f in flags])) if flags else None
    intro = tag("p", "As triage decided when the latest message was filed, widened to the "
                     "whole case.", class_="muted") if rows else None
    return Html(optional(intro) + table(["Decision", "Value", "Rule hits"], rows,
                                            "No triage recorded.") + optional(note))


# --- documents, thread, acknowledgements, events --------------------------------------------

def _document_status(doc: Data) -> Html:
    """Return 'readable', the reason a document could not be read, or its pages read badly."""
    if doc.get("error"):
        return badge(f"UNREADABLE: {words(doc['error'])}", "bad")
    problems = [tag("div", f"p.{p.get('page')} {p.get('detail') or words(p.get('reason'))}",
                    class_="muted") for p in doc.get("page_problems") or []]
    if problems:
        return Html(badge("pages not read well", "warn") + join(problems, ""))
    return badge("readable", "ok")


_PNG_URI = re.compile(r"^data:image/png;base64,[A-Za-z0-9+/=]{1,60000}$")


def _signatures(doc: Data) -> Html:
    """Each signature of a document: signed or not, what was seen, and the area's picture."""
    parts = []
    for sig in doc.get("signatures") or []:
        picture = str(sig.get("picture") or "")
        image = (void("img", src=picture, alt=f"signing area of {sig.get('name')}",
                      class_="signature") if _PNG_URI.match(picture) else None)
        parts.append(tag("div", badge("signed" if sig.get("signed") else "not signed",
                                      "ok" if sig.get("signed") else "bad"),
                         " ", sig.get("name") or "signature",
                         tag("div", sig.get("evidence"), class_="muted")
                         if sig.get("evidence") else None, optional(image)))
    return Html("".join(parts)) if parts else tag("span", "—", class_="muted")


def _documents(documents: Sequence[Data]) -> Html:
    """Return the documents: name, kind, pages, size, short hash, readability."""
    rows = [tag("tr", tag("td", tag("a" if d.get("href") else "span", d.get("filename"),
                                   class_="mono", href=d.get("href"),
                                   download=bool(d.get("href")))),
                tag("td", words(d.get("kind")),
                    tag("div", d.get("kind_rule") or "no rule: fallback", class_="muted"),
                    *[tag("div", "part: ", words(p.get("kind")), f" ({p.get('where')})")
                      for p in d.get("parts") or () if isinstance(p, Mapping)]),
                tag("td", d.get("pages") if d.get("pages") is not None else "—", class_="num"),
                tag("td", size(d.get("size")), class_="num"),
                tag("td", tag("code", str(d.get("sha256") or "")[:12], title=d.get("sha256"))),
                tag("td", _document_status(d)), tag("td", _signatures(d)),
                class_="unreadable" if d.get("error") else None) for d in documents]
    return table(["File", "Kind", "Pages", "Size", "SHA-256", "Readable", "Signatures"], rows,
                 "No attachment.", class_="documents")


def _added(message: Data, documents: Sequence[Data], history: Sequence[Data]) -> Html:
    """Return what a message brought: its documents and the fields found in them."""
    mid = message.get("message_id")
    files = [tag("span", d.get("filename"), class_="mono") for d in documents
             if mid and d.get("message_id") == mid]
    keys = key_order(e["key"] for e in history if mid and e.get("message_id") == mid)
    parts: list[Html] = []
    if files:
        parts.append(tag("div", "documents: ", join(files)))
    if keys:
        parts.append(tag("div", "fields: ", join(keys)))
    return Html("".join(parts)) if parts else tag("span", "nothing new", class_="muted")


def _thread(data: Data, history: Sequence[Data], tz: str | None) -> Html:
    """Return the messages of the case in the order they were filed."""
    documents = data.get("documents") or []
    rows = [tag("tr", tag("td", local_time(m.get("sent_at"), tz),
                          tag("div", f"filed {local_time(m.get('filed_at'), tz)}",
                              class_="muted")),
                tag("td", m.get("sender") or "—"),
                tag("td", m.get("subject") or "(no subject)",
                    tag("div", tag("a", "original message (.eml)", href=m["href"], download=True))
                    if m.get("href") else None),
                tag("td", words(m.get("role")), tag("div", words(m.get("kind")), class_="muted")),
                tag("td", _added(m, documents, history)))
            for m in data.get("messages") or []]
    return table(["Sent", "From", "Subject", "Role", "Added"], rows, "No message filed.",
                 class_="thread")


def _ack_state(row: Data) -> Html:
    """Return an acknowledgement's delivery state as a badge."""
    state = str(row.get("state") or "?")
    kind = {"sent": "ok", "failed": "bad", "uncertain": "warn", "held": "warn",
            "suppressed": "plain"}.get(state, "info")
    return badge(state, kind)


def _acknowledgements(outgoing: Sequence[Data], tz: str | None) -> Html:
    """Return the replies queued for the case and whether they left."""
    rows = [tag("tr", tag("td", local_time(o.get("created_at"), tz)),
                tag("td", o.get("recipient") or "—"), tag("td", o.get("subject") or "—"),
                tag("td", words(o.get("kind"))), tag("td", _ack_state(o)),
                tag("td", local_time(o.get("sent_at"), tz)),
                tag("td", o.get("attempts", 0), class_="num"),
                tag("td", o.get("last_error") or "—")) for o in outgoing]
    return table(["Queued", "To", "Subject", "Template", "State", "Sent", "Attempts", "Error"],
                 rows, "No acknowledgement was queued.", class_="acknowledgements")


def _events(events: Sequence[Data], tz: str | None) -> Html:
    """Return the audit trail, oldest first."""
    rows = [tag("tr", tag("td", local_time(e.get("at"), tz), class_="nowrap"),
                tag("td", e.get("actor") or "—"), tag("td", words(e.get("action"))),
                tag("td", plain(e.get("detail") or {})))
            for e in events]
    return table(["When", "Who", "What", "Detail"], rows, "No event recorded.",
                 class_="events")
