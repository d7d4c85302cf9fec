"""The reviewers' queue and daily digest: open cases in the order to look at them.

``digest_to_html`` and ``digest_to_text`` take the JSON data of
``storage.reports.digest_data`` (``failed`` and ``kept`` entries may carry the ``subject``,
``sender`` and ``date`` the report command reads from the kept messages) and return the page
or the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from triage.reports.html import (
    Html,
    badge,
    duration,
    join,
    local_time,
    page,
    parse_time,
    section,
    table,
    tag,
    words,
)
from triage.reports.styles import CSS

Data = Mapping[str, Any]

NO_TYPE = "(none)"


def queue_order(cases: Sequence[Data]) -> list[Data]:
    """Sort open cases: urgent first, then the oldest, then the fewest required items missing."""
    return sorted(cases, key=lambda c: (not c.get("urgent"), _opened(c),
                                        len(c.get("missing") or []), str(c.get("ref"))))


def _opened(case: Data) -> float:
    """Return when a case was opened as a number that sorts oldest first."""
    opened = parse_time(case.get("created_at"))
    if opened is not None:
        return opened.timestamp()
    return -float(case.get("age_seconds") or 0)  # no date: the age tells the same


def count_table(counts: Sequence[Data]) -> tuple[list[str], list[str], dict[tuple[str, str], int]]:
    """Return the statuses, request types and the count of each (status, request type)."""
    cells: dict[tuple[str, str], int] = {}
    for row in counts:
        key = (str(row.get("status")), str(row.get("request_type") or NO_TYPE))
        cells[key] = cells.get(key, 0) + int(row.get("count") or 0)
    statuses = sorted({s for s, _ in cells})
    types = sorted({t for _, t in cells}, key=lambda t: (t == NO_TYPE, t))
    return statuses, types, cells


def completeness(case: Data) -> str:
    """Return 'nothing missing', 'missing: a, b' or 'no checklist' for a queue line."""
    missing = case.get("missing") or []
    if missing:
        return "missing: " + ", ".join(missing)
    # Not "complete": the line shows the status beside it, and one word must not mean two.
    return "nothing missing" if case.get("checklist_items") else "no checklist"


# --- HTML -----------------------------------------------------------------------------------

def digest_to_html(data: Data) -> str:
    """Return the digest page: the queue, the counts, the waiting cases, the failed messages."""
    tz = data.get("timezone")
    cases = queue_order(data.get("open_cases") or [])
    body = [
        tag("header", tag("h1", "Derogation mailbox: daily digest"),
            tag("p", f"Generated {local_time(data.get('generated_at'), tz)} ({tz or 'UTC'}) · "
                     f"{len(cases)} open cases · {len(data.get('waiting') or [])} waiting for "
                     f"the applicant · {len(data.get('failed') or [])} messages need attention",
                class_="subtitle")),
        section("queue", "Open cases, in the order to look at them", _queue(cases, tz)),
        section("counts", "Cases per status and request type", _counts(data.get("counts") or [])),
        section("waiting", "Waiting for the applicant", _waiting(data.get("waiting") or [], tz)),
        section("failed", "Messages that need attention (not filed)",
                _failed(data.get("failed") or [], tz)),
        section("kept", "Messages kept without a case (last day): no acknowledgement",
                _kept(data.get("kept") or [], tz)),
    ]
    return str(page("Derogation mailbox: daily digest", CSS, body))


def case_link(case: Data) -> Html:
    """Return a case's reference, a link to the workspace when the data carries its href."""
    ref = tag("strong", case.get("ref"))
    return tag("a", ref, href=case["href"]) if case.get("href") else ref


def _urgency_cell(case: Data) -> Html:
    """Return the urgent badge and its reasons, or nothing."""
    if not case.get("urgent"):
        return Html("")
    reasons = case.get("urgent_reasons") or []
    return Html(badge("URGENT", "bad") + tag("div", "; ".join(reasons), class_="muted"))


def _completeness_cell(case: Data) -> Html:
    """Return the completeness of a case, missing items in bold."""
    missing = case.get("missing") or []
    if missing:
        return Html(badge("incomplete", "bad") + tag("div", join([tag("code", m)
                                                                  for m in missing])))
    return badge("complete", "ok") if case.get("checklist_items") else badge("no checklist",
                                                                             "plain")


def _queue(cases: Sequence[Data], tz: str | None) -> Html:
    """Return one row per open case."""
    rows = [tag("tr", tag("td", case_link(c)), tag("td", _urgency_cell(c)),
                tag("td", duration(c.get("age_seconds")),
                    tag("div", local_time(c.get("created_at"), tz), class_="muted"),
                    class_="num"),
                tag("td", words(c.get("status"))), tag("td", _completeness_cell(c)),
                tag("td", words(c.get("request_type")),
                    tag("div", c.get("regulation") or "", class_="muted")),
                tag("td", c.get("subject") or "(no subject)",
                    tag("div", c.get("applicant_email") or "", class_="muted")))
            for c in cases]
    return table(["Case", "Urgent", "Age", "Status", "Completeness", "Request", "Subject"],
                 rows, "No open case.", class_="queue")


def _counts(counts: Sequence[Data]) -> Html:
    """Return a table of request types against statuses, with totals."""
    statuses, types, cells = count_table(counts)
    rows = [tag("tr", tag("th", words(t), scope="row"),
                [tag("td", cells.get((s, t), 0)) for s in statuses],
                tag("td", tag("strong", sum(cells.get((s, t), 0) for s in statuses))))
            for t in types]
    totals = tag("tr", tag("th", "total", scope="row"),
                 [tag("td", tag("strong", sum(cells.get((s, t), 0) for t in types)))
                  for s in statuses],
                 tag("td", tag("strong", sum(cells.values()))))
    return table(["Request type", *(words(s) for s in statuses), "Total"],
                 [*rows, totals] if rows else [], "No case on file.", class_="counts")


def _waiting(waiting: Sequence[Data], tz: str | None) -> Html:
    """Return the cases waiting for the applicant, longest wait first."""
    rows = [tag("tr", tag("td", case_link(w)),
                tag("td", duration(w.get("waiting_seconds")), class_="num"),
                tag("td", local_time(w.get("since"), tz)), tag("td", w.get("recipient") or "—"),
                tag("td", join([tag("code", m) for m in w.get("missing") or []]) or "—"))
            for w in waiting]
    return table(["Case", "Waiting", "Since our acknowledgement", "Sent to", "Still missing"],
                 rows, "No case is waiting for an applicant.", class_="waiting")


def _failed(failed: Sequence[Data], tz: str | None) -> Html:
    """Return the messages intake could not file, with their errors."""
    rows = [tag("tr", tag("td", local_time(f.get("received_at"), tz)),
                tag("td", f.get("sender") or "—"), tag("td", f.get("subject") or "—"),
                tag("td", f"{f.get('mailbox')}/{f.get('folder')} uid {f.get('uid')}",
                    tag("div", f.get("message_id") or "no Message-ID", class_="muted mono")),
                tag("td", tag("code", f.get("error") or "unknown error")),
                tag("td", f.get("attempts", 0), class_="num"))
            for f in failed]
    return table(["Received", "From", "Subject", "Where", "Error", "Attempts"], rows,
                 "Every message was filed.", class_="failed")


def _kept(kept: Sequence[Data], tz: str | None) -> Html:
    """Return the messages kept with no case and no acknowledgement, with the reason."""
    rows = [tag("tr", tag("td", local_time(k.get("received_at"), tz)),
                tag("td", k.get("sender") or "—"), tag("td", k.get("subject") or "—"),
                tag("td", f"{k.get('mailbox')}/{k.get('folder')} uid {k.get('uid')}"),
                tag("td", k.get("reason") or "—"))
            for k in kept]
    return table(["Received", "From", "Subject", "Where", "Why no case"], rows,
                 "No message was kept without a case.", class_="kept")


# --- text -----------------------------------------------------------------------------------

def digest_to_text(data: Data) -> str:
    """Return the digest as plain text (the e-mail's text part)."""
    tz = data.get("timezone")
    cases = queue_order(data.get("open_cases") or [])
    lines = [f"Derogation mailbox: daily digest, {local_time(data.get('generated_at'), tz)} "
             f"({tz or 'UTC'})", "",
             f"OPEN CASES ({len(cases)}), in the order to look at them:",
             *(_case_line(c) for c in cases), *([] if cases else ["  none"]), "",
             "CASES PER STATUS AND REQUEST TYPE:", *_count_lines(data.get("counts") or []), "",
             f"WAITING FOR THE APPLICANT ({len(data.get('waiting') or [])}):",
             *_waiting_lines(data.get("waiting") or [], tz), "",
             f"NEEDS ATTENTION: messages not filed ({len(data.get('failed') or [])}):",
             *_failed_lines(data.get("failed") or [], tz), "",
             f"KEPT WITHOUT A CASE, last day, not acknowledged ({len(data.get('kept') or [])}):",
             *_kept_lines(data.get("kept") or [], tz)]
    return "\n".join(lines) + "\n"


def _case_line(case: Data) -> str:
    """Return one queue line and its subject line."""
    urgent = "URGENT " if case.get("urgent") else ""
    link = f"\n      {case['href']}" if case.get("href") else ""
    return (f"  {urgent}{case.get('ref')}  {duration(case.get('age_seconds'))} old  "
            f"status {words(case.get('status'))}  {words(case.get('request_type'))}  "
            f"{completeness(case)}\n      {_one_line(case.get('subject') or '(no subject)')}"
            f"{link}")


def _one_line(text: str, limit: int = 120) -> str:
    """Return text on one line (a subject may fold), capped for a digest."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _count_lines(counts: Sequence[Data]) -> list[str]:
    """Return one line per request type with its count per status."""
    statuses, types, cells = count_table(counts)
    if not types:
        return ["  none"]
    return [f"  {words(t)}: " + ", ".join(f"{words(s)} {cells[(s, t)]}" for s in statuses
                                          if cells.get((s, t)))
            for t in types] + [f"  total: {sum(cells.values())}"]


def _waiting_lines(waiting: Sequence[Data], tz: str | None) -> list[str]:
    """Return one line per case waiting for the applicant."""
    return [f"  {w.get('ref')}  waiting {duration(w.get('waiting_seconds'))} (since "
            f"{local_time(w.get('since'), tz)}, to {w.get('recipient')})  missing: "
            f"{', '.join(w.get('missing') or []) or '-'}" for w in waiting] or ["  none"]


def _kept_lines(kept: Sequence[Data], tz: str | None) -> list[str]:
    """Return two lines per message kept without a case: what it was and why."""
    lines = []
    for k in kept:
        lines.append(f"  {local_time(k.get('received_at'), tz)}  from {k.get('sender') or '?'}: "
                     f"{_one_line(k.get('subject') or '(no subject)')}")
        lines.append(f"      why: {_one_line(k.get('reason') or '-', 300)}")
    return lines or ["  none"]


def _failed_lines(failed: Sequence[Data], tz: str | None) -> list[str]:
    """Return two lines per message that failed intake: where and what went wrong."""
    lines = []
    for f in failed:
        lines.append(f"  {local_time(f.get('received_at'), tz)}  {f.get('mailbox')}/"
                     f"{f.get('folder')} uid {f.get('uid')}  from {f.get('sender') or '?'}: "
                     f"{_one_line(f.get('subject') or '(no subject)')}")
        lines.append(f"      error: {_one_line(f.get('error') or 'unknown error')}")
    return lines or ["  none"]
