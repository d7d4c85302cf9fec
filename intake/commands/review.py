"""Reviewers' commands: `report case|digest`, `cases set|status`, and the daily digest job.

The handlers gather plain data through ``storage.reports`` and hand it to ``triage.reports``
to render; they own the I/O around it (files, the e-mail of the digest, the command line).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP, default
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from config.errors import IntakeError, StorageError
from config.extraction_rules import FIELD_KEYS
from config.profiles import load_profile
from config.settings import Settings
from config.vocabulary import CaseStatus, names
from intake.runtime import Runtime, open_runtime
from parsers.normalise import normalise
from storage.blobs import BlobStore
from storage.cases import case_by_ref, set_status
from storage.casestate import record_case_state, stored_case_state
from storage.events import add_event
from storage.fields import current_fields, set_reviewer_field
from storage.ledger import ledger_raw
from storage.models import Case, JsonDict, Ledger
from storage.reports import case_report_data, digest_data
from triage.reports.case_page import case_to_html
from triage.reports.digest import digest_to_html, digest_to_text

log = logging.getLogger(__name__)

STDOUT = "-"


class ReportError(IntakeError):
    """A report or a reviewer's change could not be made (unknown case, field or status)."""


# --- building the reports -------------------------------------------------------------------

def now_utc() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def case_page(s: Session, ref: str, timezone: str, now: datetime) -> str:
    """Return the HTML page of the case with this reference."""
    case = _case(s, ref)
    data = case_report_data(s, case, now)
    data["timezone"] = timezone
    return case_to_html(data)


def _case(s: Session, ref: str) -> Case:
    """Return the case with this reference, or raise ReportError."""
    case = case_by_ref(s, ref)
    if case is None:
        raise ReportError(f"no case {ref!r}")
    return case


def failed_headers(s: Session, ledger_id: int, blobs: BlobStore | None) -> dict[str, str]:
    """Return the sender, subject and date of a kept message, as far as they can be read."""
    row = s.get(Ledger, ledger_id)
    if row is None:
        return {}
    try:
        header = BytesHeaderParser(policy=default).parsebytes(ledger_raw(s, row, blobs))
        found = {"sender": header.get("From"), "subject": header.get("Subject"),
                 "date": header.get("Date")}
    except StorageError as exc:
        return {"subject": f"(message not readable: {exc})"}
    except Exception:  # a header this broken is why the message failed: show the rest
        return {}
    return {k: str(v) for k, v in found.items() if v is not None}


def digest(rt: Runtime, now: datetime) -> JsonDict:
    """Return the digest data: the queue, counts, waiting cases and failed messages."""
    with rt.database.session() as s:
        data = digest_data(s, now)
        data["failed"] = [{**f, **failed_headers(s, int(f["ledger_id"]), rt.blobs)}
                          for f in data["failed"]]
    data["timezone"] = rt.settings.general.timezone
    return data


def write_atomically(path: Path, text: str) -> Path:
    """Write text to a file through a temporary file and a rename (never half a report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def safe_filename(ref: str) -> str:
    """Return a case reference usable as a file name (references are ours, but be sure)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in ref).strip(".") or "case"


# --- report case | digest -------------------------------------------------------------------

def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Write a case page (`report case REF`) or the digest (`report digest`)."""
    runtime = open_runtime(settings)
    try:
        if args.what == "case":
            return _report_case(runtime, args.ref, args.output)
        return _report_digest(runtime, args.output_dir, args.text)
    except ReportError as exc:
        print(f"derogation-intake: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()


def _report_case(rt: Runtime, ref: str | None, output: Path | None) -> int:
    """Render one case page to a file (default: the reports folder) or stdout."""
    if not ref:
        raise ReportError("report case needs a case reference")
    with rt.database.session() as s:
        html = case_page(s, ref, rt.settings.general.timezone, now_utc())
        name = safe_filename(_case(s, ref).ref)
    if output is not None and str(output) == STDOUT:
        sys.stdout.write(html)
        return 0
    path = write_atomically(output or rt.settings.reports.output_dir / f"{name}.html", html)
    print(f"case page written to {path}")
    return 0


def _report_digest(rt: Runtime, output_dir: Path | None, text: bool) -> int:
    """Print the text digest, or write the HTML digest into the reports folder."""
    now = now_utc()
    data = digest(rt, now)
    if text:
        sys.stdout.write(digest_to_text(data))
        return 0
    path = write_digest(data, output_dir or rt.settings.reports.output_dir, now)
    print(f"digest written to {path}")
    return 0


def write_digest(data: Mapping[str, Any], folder: Path, now: datetime) -> Path:
    """Write the HTML digest as digest-YYYY-MM-DD.html (UTC date) in a folder."""
    return write_atomically(folder / f"digest-{now:%Y-%m-%d}.html", digest_to_html(data))


# --- the daily digest job -------------------------------------------------------------------

def digest_message(settings: Settings, data: Mapping[str, Any], now: datetime) -> EmailMessage:
    """Return the digest as an e-mail: a text part and an HTML alternative."""
    general = settings.general
    msg = EmailMessage(policy=SMTP)
    msg["From"] = general.our_address
    msg["To"] = ", ".join(digest_recipients(settings))
    msg["Subject"] = (f"Derogation mailbox digest {now:%Y-%m-%d}: "
                      f"{len(data.get('open_cases') or [])} open, "
                      f"{len(data.get('failed') or [])} need attention")
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("digest", domain=general.our_domain or None)
    # RFC 3834: generated, not a reply; no responder should answer it (no loops).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(digest_to_text(data))
    msg.add_alternative(digest_to_html(data), subtype="html")
    return msg


def digest_recipients(settings: Settings) -> list[str]:
    """Return the digest's recipients (reports.digest_to: one address or several, commas)."""
    return [a.strip() for a in settings.reports.digest_to.split(",") if a.strip()]


def digest_job(runtime: Runtime) -> None:
    """Render the digest, keep it in the reports folder and e-mail it to reports.digest_to."""
    settings = runtime.settings
    now = now_utc()
    data = digest(runtime, now)
    path = write_digest(data, settings.reports.output_dir, now)
    recipients = digest_recipients(settings)
    if not recipients:
        log.info("digest written to %s; reports.digest_to is empty: not sent", path)
        return
    raw = digest_message(settings, data, now).as_bytes()
    answer = runtime.delivery.send(raw, settings.general.our_address, recipients)
    log.info("digest written to %s and sent to %s: %s", path, ", ".join(recipients), answer)


# --- cases set | status ---------------------------------------------------------------------

def default_actor() -> str:
    """Return the name of the person at the keyboard, for the audit trail."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def normalised_value(case: Case, key: str, value: str) -> str:
    """Return a reviewer's value in the field's normal form, or raise ReportError."""
    if key not in FIELD_KEYS:
        raise ReportError(f"unknown field {key!r} (known: {', '.join(FIELD_KEYS)})")
    rule = load_profile(case.authority).extraction.field_rule(key)
    if rule is None:
        return value.strip()
    result = normalise(rule.normaliser, value)
    if result is None:
        raise ReportError(f"{value!r} is not a valid {key} ({rule.normaliser})")
    return result[0]


def recheck_case(s: Session, case: Case, actor: str, reason: str) -> list[str]:
    """Record a case's state after a reviewer's act; return the checklist items that changed.

    The state (``triage.case``) keeps a reviewer's decision: a correction never undoes it.
    """
    state = stored_case_state(s, case, load_profile(case.authority).triage)
    if state.status != case.status:
        set_status(s, case, state.status, actor, reason, decision=False)
    changes = record_case_state(s, case, state, actor)
    for item_id, old, new in changes:
        add_event(s, case, actor, "checklist_changed", {"item": item_id, "from": old, "to": new})
    return [f"{item_id}: {old or 'new'} -> {new}" for item_id, old, new in changes]


def cmd_cases_set(args: argparse.Namespace, settings: Settings) -> int:
    """Record a reviewer's value for a field (`cases set REF FIELD VALUE [--actor NAME]`)."""
    actor = args.actor or default_actor()
    runtime = open_runtime(settings)
    try:
        with runtime.database.session() as s:
            case = _case(s, args.ref)
            value = normalised_value(case, args.field, args.value)
            before = current_fields(s, case).get(args.field)
            set_reviewer_field(s, case, args.field, value, actor)
            changes = recheck_case(s, case, actor, f"checklist re-evaluated after "
                                                   f"{args.field} was set by {actor}")
            ref, status = case.ref, case.status
    except ReportError as exc:
        print(f"derogation-intake: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    was = f" (was {before.value!r})" if before is not None else ""
    print(f"{ref}: {args.field} = {value!r} set by {actor}{was}; status {status}")
    for change in changes:
        print(f"  checklist {change}")
    return 0


def cmd_cases_status(args: argparse.Namespace, settings: Settings) -> int:
    """Record a decision on a case (`cases status REF STATUS --note TEXT [--actor NAME]`)."""
    actor = args.actor or default_actor()
    note = (args.note or "").strip()
    if args.status not in names(CaseStatus):
        print(f"derogation-intake: unknown status {args.status!r} "
              f"(known: {', '.join(names(CaseStatus))})", file=sys.stderr)
        return 1
    if not note:
        print("derogation-intake: a status change needs --note (the reason, for the record)",
              file=sys.stderr)
        return 1
    runtime = open_runtime(settings)
    try:
        with runtime.database.session() as s:
            case = _case(s, args.ref)
            before = case.status
            set_status(s, case, args.status, actor, note)
            recheck_case(s, case, actor, note)
            ref = case.ref
    except ReportError as exc:
        print(f"derogation-intake: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(f"{ref}: status {before} -> {args.status} by {actor}: {note}")
    return 0


# --- command-line registration (for intake.commands.cli) -----------------------------------

def add_review_arguments(cases: argparse.ArgumentParser) -> None:
    """Add the arguments of `cases set REF FIELD VALUE` and `cases status REF STATUS` to `cases`."""
    cases.add_argument("field_or_status", nargs="?", metavar="FIELD|STATUS",
                       help="set: the field to correct; status: the new status")
    cases.add_argument("value", nargs="?", help="set: the reviewer's value")
    cases.add_argument("--note", help="status: the reason for the decision (required)")
    cases.add_argument("--actor", help="set, status: who decides (default: the login name)")


def cmd_cases_review(args: argparse.Namespace, settings: Settings) -> int:
    """Run `cases set` or `cases status` from the arguments add_review_arguments added."""
    if not args.ref or not args.field_or_status or (args.action == "set") != bool(args.value):
        usage = ("cases set REF FIELD VALUE [--actor NAME]" if args.action == "set"
                 else "cases status REF STATUS --note TEXT [--actor NAME]")
        print(f"derogation-intake: usage: {usage}", file=sys.stderr)
        return 2
    if args.action == "set":
        return cmd_cases_set(argparse.Namespace(ref=args.ref, field=args.field_or_status,
                                                value=args.value, actor=args.actor), settings)
    return cmd_cases_status(argparse.Namespace(ref=args.ref, status=args.field_or_status,
                                               note=args.note, actor=args.actor), settings)


def register_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report case REF [--output FILE]` and `report digest [--output-dir DIR] [--text]`."""
    report = sub.add_parser("report", help="write a case page or the reviewers' digest",
                            description="write a case page or the reviewers' digest")
    report.set_defaults(handler=cmd_report)
    report.add_argument("what", choices=["case", "digest"],
                        help="case: one case's page; digest: the queue of open cases")
    report.add_argument("ref", nargs="?", help="case reference (for case)")
    report.add_argument("--output", type=Path, default=None,
                        help="case: write the page here ('-' for stdout; default: "
                             "reports.output_dir/REF.html)")
    report.add_argument("--output-dir", type=Path, default=None,
                        help="digest: folder of digest-YYYY-MM-DD.html "
                             "(default: reports.output_dir)")
    report.add_argument("--text", action="store_true",
                        help="digest: print the plain-text digest instead of writing HTML")
