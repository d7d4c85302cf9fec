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
from config.settings import Settings
from config.vocabulary import CaseStatus, names
from intake.reviewing import ReviewError, case_url, correct_field, merge_into, record_decision
from intake.runtime import Runtime, open_database, open_runtime
from storage.blobs import BlobStore
from storage.cases import case_by_ref
from storage.ledger import ledger_raw
from storage.models import Case, JsonDict, Ledger
from storage.reports import case_report_data, digest_data
from triage.reports.case_page import case_to_html
from triage.reports.digest import digest_to_html, digest_to_text

log = logging.getLogger(__name__)

STDOUT = "-"


class ReportError(IntakeError):
    """A report could not be made (unknown case, a folder where a file is wanted)."""


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
    """Return the digest data: queue, counts, waiting cases, failed and kept messages."""
    with rt.database.session() as s:
        data = digest_data(s, now)
        for part in ("failed", "kept"):
            data[part] = [{**f, **failed_headers(s, int(f["ledger_id"]), rt.blobs)}
                          for f in data[part]]
    data["timezone"] = rt.settings.general.timezone
    base = rt.settings.web.public_base_url
    if base:  # the digest links each case to the reviewers' workspace
        for entry in (*data["open_cases"], *data["waiting"]):
            entry["href"] = case_url(base, str(entry["ref"]))
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
    except (ReportError, ReviewError) as exc:
        print(f"derogation-intake: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()


def _report_case(rt: Runtime, ref: str | None, output: Path | None) -> int:
    """Render one case page to a file, into a folder (default: the reports folder) or stdout."""
    if not ref:
        raise ReportError("report case needs a case reference")
    with rt.database.session() as s:
        html = case_page(s, ref, rt.settings.general.timezone, now_utc())
        name = f"{safe_filename(_case(s, ref).ref)}.html"
    if output is not None and str(output) == STDOUT:
        sys.stdout.write(html)
        return 0
    folder = rt.settings.reports.output_dir
    path = output / name if output is not None and output.is_dir() else output or folder / name
    print(f"case page written to {write_atomically(path, html)}")
    return 0


def _report_digest(rt: Runtime, output_dir: Path | None, text: bool) -> int:
    """Print the text digest, or write the HTML digest into the reports folder."""
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise ReportError(f"--output-dir {output_dir} is a file, not a folder")
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


def cmd_cases_set(args: argparse.Namespace, settings: Settings) -> int:
    """Record a reviewer's value for a field (`cases set REF FIELD VALUE [--actor NAME]`)."""
    actor = args.actor or default_actor()
    database = open_database(settings)
    try:
        with database.session() as s:
            case = _case(s, args.ref)
            value, before, changes = correct_field(s, case, args.field, args.value, actor,
                                                     settings.general.profiles_dir)
            ref, status = case.ref, case.status
    except (ReportError, ReviewError) as exc:
        print(f"derogation-intake: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    was = f" (was {before!r})" if before is not None else ""
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
    database = open_database(settings)
    try:
        with database.session() as s:
            case = _case(s, args.ref)
            before = record_decision(s, case, args.status, note, actor,
                                     settings.general.profiles_dir)
            ref = case.ref
    except (ReportError, ReviewError) as exc:
        print(f"derogation-intake: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"{ref}: status {before} -> {args.status} by {actor}: {note}")
    return 0


def cmd_cases_merge(args: argparse.Namespace, settings: Settings) -> int:
    """Merge a case into another (`cases merge REF OTHER [--actor NAME]`)."""
    actor = args.actor or default_actor()
    database = open_database(settings)
    try:
        with database.session() as s:
            target, source = _case(s, args.ref), _case(s, args.other)
            changes = merge_into(s, target, source, actor, settings.general.profiles_dir)
            ref, status = target.ref, target.status
    except (ReportError, ReviewError, StorageError) as exc:
        print(f"derogation-intake: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"{args.other} merged into {ref} by {actor}; status {status}")
    for change in changes:
        print(f"  checklist {change}")
    return 0
