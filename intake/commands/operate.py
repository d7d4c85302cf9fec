"""Handlers of the command-line subcommands (parsing of arguments is in intake.commands.cli)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from config.errors import ConfigError, IntakeError
from config.profiles import load_profile
from config.settings import MailboxSettings, Settings, settings_to_dict
from intake.pipeline import CycleReport, poll_mailbox
from intake.replies.outbox import drain_outbox
from intake.runtime import Runtime, database_url, open_runtime

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "config" / "samples"
log = logging.getLogger(__name__)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Poll every mailbox on its schedule and drain the outbox until SIGTERM/SIGINT."""
    from intake.scheduler import Job, run_scheduler

    runtime = open_runtime(settings)
    log.info("language models loaded in %.1f s", runtime.warm_up_triage())
    stop = threading.Event()
    drain_lock = threading.Lock()  # one delivery pass at a time: a reply is claimed once

    def drain() -> None:
        with drain_lock:
            report = drain_outbox(runtime)
        if report.sent or report.failed or report.uncertain:
            log.info("%s", report.summary())

    def cycle(name: str) -> None:
        try:
            report = poll_mailbox(runtime, settings.mailbox(name), stop)
            log.info("%s", report.summary())
        finally:
            # Acknowledgements leave right after their case is filed, even when the cycle
            # stopped early (the mailbox or the database went away in the middle of it).
            drain()

    from intake.commands.review import digest_job
    from intake.mailbox.push import one_at_a_time, push_intake

    # A push-triggered cycle and a scheduled one for the same mailbox wait for each other.
    poll = one_at_a_time(cycle)
    jobs = [Job("outbox", drain, interval_seconds=settings.replies.outbox_pass_seconds),
            Job("digest", lambda: digest_job(runtime), daily_at=settings.reports.digest_time)]
    try:
        with push_intake(runtime, poll, stop) as watched:
            if watched:
                log.info("push intake (IMAP IDLE) on: %s", ", ".join(watched))
            run_scheduler([(m.name, m.poll_interval_seconds) for m in settings.mailboxes],
                          poll, extra_jobs=jobs, stop_event=stop,
                          timezone=settings.general.timezone)
    finally:
        runtime.close()
    return 0


def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    """Run one intake cycle of every mailbox (or one), then one outbox pass."""
    runtime = open_runtime(settings)
    try:
        reports = run_cycle(runtime, settings, args.mailbox, send=not args.no_send)
    finally:
        runtime.close()
    if any(r.interrupted for r in reports):
        return 1
    return 0 if all(not r.failed for r in reports) else 3


def run_cycle(runtime: Runtime, settings: Settings, only: str | None = None,
              *, send: bool = True) -> list[CycleReport]:
    """Poll the mailboxes once, print what was filed, and drain the outbox.

    The outbox is drained even when a cycle stopped early: the cases filed before the
    mailbox or the database went away are acknowledged all the same.
    """
    mailboxes = [settings.mailbox(only)] if only else list(settings.mailboxes)
    reports = []
    try:
        for mailbox in mailboxes:
            reports.append(_poll_and_print(runtime, mailbox))
    finally:
        if send:
            print(drain_outbox(runtime).summary())
    return reports


def _poll_and_print(runtime: Runtime, mailbox: MailboxSettings) -> CycleReport:
    """Run one mailbox's cycle and print one line per message and a summary."""
    report = poll_mailbox(runtime, mailbox)
    for filed in report.filed:
        print(filed.log_line())
    for key, error in report.failed:
        print(f"needs attention: {key.mailbox}/{key.folder} uid {key.uid}: {error}")
    for key, error in report.retrying:
        print(f"will try again: {key.mailbox}/{key.folder} uid {key.uid}: {error}")
    print(report.summary())
    if report.interrupted:
        print(f"derogation-intake: {mailbox.name}: cycle stopped: {report.interrupted}",
              file=sys.stderr)
    return report


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Seed the local Maildir with sample requests once, run one cycle, say where to look."""
    maildirs = [m for m in settings.mailboxes if m.type == "maildir" and m.path is not None]
    if not maildirs:
        raise ConfigError("demo needs a Maildir mailbox (the embedded default has one)")
    seeded = seed_samples(maildirs[0].path or Path(), args.samples or SAMPLES_DIR)
    print(f"sample requests: {seeded} new in {maildirs[0].path}" if seeded
          else "sample requests: already seeded (nothing new to file)")
    runtime = open_runtime(settings)
    try:
        run_cycle(runtime, settings)
        with runtime.database.session() as s:
            print_case_table(_case_rows(s))
    finally:
        runtime.close()
    print(f"\ndatabase: {database_url(settings)}")
    print(f"acknowledgements: {settings.smtp.outbox_maildir} (a Maildir: one file per message)")
    print("next: derogation-intake cases show REF | cases export --format csv")
    return 0


def seed_samples(maildir: Path, samples: Path) -> int:
    """Copy the sample messages into the Maildir's new/ once; return how many were added."""
    from intake.mailbox.maildir import store_message

    marker = maildir / ".samples-seeded"
    if marker.exists():
        return 0
    files = sorted(samples.glob("*.eml"))
    for path in files:
        store_message(maildir, path.read_bytes())
    marker.write_text("\n".join(p.name for p in files) + "\n", encoding="utf-8")
    return len(files)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the database migrations."""
    from storage.db import make_safe, upgrade

    url = database_url(settings)
    settings.general.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    print(f"database upgraded: {make_safe(url)}")
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print the resolved settings with secrets masked, after checking every profile."""
    for mailbox in settings.mailboxes:
        load_profile(mailbox.profile)
    print(json.dumps(settings_to_dict(settings, mask_secrets=True), indent=2, default=str))
    print(f"settings OK: {settings.config_path}", file=sys.stderr)
    return 0


def cmd_triage(args: argparse.Namespace, settings: Settings) -> int:
    """Parse and triage files offline; print JSON lines or a readable report."""
    from intake.commands.probe import probe_file

    profile = load_profile(args.profile or (settings.mailboxes[0].profile
                                            if settings.mailboxes else "famhp"))
    status = 0
    for path in args.files:
        try:
            output = probe_file(path, profile, as_json=args.json)
        except (IntakeError, OSError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(output)
    return status


def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    """List the outbox, run one delivery pass, or release or cancel acknowledgements."""
    from intake.replies.outbox import drain_outbox

    runtime = open_runtime(settings)
    try:
        if args.action == "send":
            print(drain_outbox(runtime).summary())
        elif args.action in ("release", "cancel"):
            return _decide_outgoing(runtime, args)
        else:
            _print_outbox(runtime)
    finally:
        runtime.close()
    return 0


def _decide_outgoing(runtime: Runtime, args: argparse.Namespace) -> int:
    """Release or cancel acknowledgements by id, recording who decided and why."""
    import getpass

    from intake.replies.outbox import cancel_outgoing, release_held, release_outgoing

    actor = getpass.getuser()
    if args.action == "cancel" and not (args.ids and args.note):
        print("derogation-intake: usage: outbox cancel ID... --note TEXT", file=sys.stderr)
        return 2
    if args.action == "cancel":
        rows = cancel_outgoing(runtime.database, args.ids, actor=actor, note=args.note)
    elif args.held:
        rows = release_held(runtime.database, actor=actor, note=args.note)
    else:
        rows = release_outgoing(runtime.database, args.ids, actor=actor, note=args.note)
    for row in rows:
        print(f"{row.id}: {row.state} ({row.recipient}: {row.subject})")
    return 0


def _print_outbox(runtime: Runtime) -> None:
    """Print one line per acknowledgement, its next attempt and its full last error below."""
    from storage.outbox import outbox_list

    with runtime.database.session() as s:
        rows = outbox_list(s)
    print_table(["id", "state", "attempts", "to", "subject"],
                [[str(r.id), r.state, str(r.attempts), r.recipient, r.subject[:60]]
                 for r in rows],
                notes=[_outbox_note(r) for r in rows])


def _outbox_note(row: Any) -> str:
    """Return the indented second line of an outbox row: next attempt and last error."""
    parts = []
    if row.next_attempt_at is not None and row.state == "pending":
        parts.append(f"next attempt {row.next_attempt_at.isoformat(timespec='seconds')}")
    if row.last_error:
        parts.append(row.last_error)
    return "; ".join(parts)


def cmd_cases(args: argparse.Namespace, settings: Settings) -> int:
    """List, show or export cases; set and status record a reviewer's word."""
    if args.action in ("set", "status"):
        from intake.commands.review import cmd_cases_review

        return cmd_cases_review(args, settings)
    runtime = open_runtime(settings)
    try:
        with runtime.database.session() as s:
            if args.action == "list":
                print_case_table(_case_rows(s, args.status))
            elif args.action == "show":
                return _show_case(s, args.ref)
            else:
                _export(s, args.format, args.output)
    finally:
        runtime.close()
    return 0


def _case_rows(s: Any, status: str | None = None) -> list[dict[str, Any]]:
    """Return a summary dict per case, oldest first."""
    from storage.cases import case_missing, list_cases

    return [{"ref": c.ref, "status": c.status, "request_type": c.request_type or "-",
             "regulation": c.regulation or "-", "language": c.language or "-",
             "urgent": "yes" if c.urgent else "",
             "missing": ", ".join(case_missing(s, c)) or "-", "subject": c.subject}
            for c in list_cases(s, status=status)]


def print_case_table(rows: list[dict[str, Any]]) -> None:
    """Print the cases as an aligned table."""
    if not rows:
        print("no cases on file")
        return
    columns = ["ref", "status", "request_type", "regulation", "language", "urgent",
               "missing", "subject"]
    print_table(columns, [[str(r[c]) for c in columns] for r in rows])


def print_table(columns: list[str], rows: Iterable[list[str]],
                notes: Sequence[str] = ()) -> None:
    """Print rows under a header, each column as wide as its widest cell (capped).

    A note, when given for a row, is printed whole on an indented line below it.
    """
    rows = [[cell.replace("\n", " ")[:70] for cell in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    print("  ".join(cell.ljust(w) for cell, w in zip(columns, widths, strict=True)).rstrip())
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index < len(notes) and notes[index]:
            print(f"    {notes[index]}")


def _show_case(s: Any, ref: str | None) -> int:
    """Print a readable summary of one case."""
    from intake.commands.casetext import case_to_text
    from storage.cases import case_by_ref

    case = case_by_ref(s, ref or "") if ref else None
    if case is None:
        print(f"no case {ref!r}", file=sys.stderr)
        return 1
    print(case_to_text(s, case))
    return 0


def _export(s: Any, fmt: str, output: Path | None) -> None:
    """Write every case as JSON or CSV to a file or stdout."""
    from storage.cases import list_cases
    from storage.export import case_to_dict

    cases = [case_to_dict(s, c) for c in list_cases(s)]
    text = json.dumps(cases, indent=2, ensure_ascii=False) if fmt == "json" else _csv(cases)
    if output:
        output.write_text(text, encoding="utf-8")
        print(f"{len(cases)} cases written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))


CSV_FIELDS = ("applicant_name", "applicant_role", "device_name", "device_model", "risk_class",
              "manufacturer_name", "hospital_name", "patient_reference", "intended_use_date",
              "quantity")


def _csv(cases: list[dict[str, Any]]) -> str:
    """Flatten the cases to one CSV row each (fields as columns, lists joined)."""
    buffer = io.StringIO()
    header = ["ref", "status", "authority", "request_type", "regulation", "language", "urgent",
              "complete", "missing", "documents", "messages", "created_at", *CSV_FIELDS]
    writer = csv.writer(buffer)
    writer.writerow(header)
    for case in cases:
        fields = case.get("fields", {})
        writer.writerow([
            case["ref"], case["status"], case.get("authority"), case.get("request_type"),
            case.get("regulation"), case.get("language"), case.get("urgent"),
            case.get("complete"), " ".join(case.get("missing", [])),
            " ".join(d["filename"] for d in case.get("documents", [])),
            len(case.get("messages", [])), case.get("created_at"),
            *[(fields.get(k) or {}).get("value", "") for k in CSV_FIELDS]])
    return buffer.getvalue()
