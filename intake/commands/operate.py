"""Handlers of the command-line subcommands (parsing of arguments is in intake.commands.cli)."""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path

from config.errors import ConfigError
from config.settings import Settings, mask_url_password
from intake.commands import exits
from intake.commands.cases import case_rows, print_case_table
from intake.pipeline import CycleReport, poll_mailbox
from intake.replies.outbox import drain_outbox
from intake.runtime import Runtime, database_url, open_runtime

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "config" / "samples"
# How often `run` looks for acknowledgements whose retry is due (besides after every poll).
OUTBOX_RETRY_SECONDS = 30
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
        report = poll_mailbox(runtime, settings.mailbox(name), stop)
        log.info("%s", report.summary())
        drain()  # acknowledgements leave right after their case is filed

    from intake.commands.review import digest_job
    from intake.mailbox.push import one_at_a_time, push_intake

    # A push-triggered cycle and a scheduled one for the same mailbox wait for each other.
    poll = one_at_a_time(cycle)
    jobs = [Job("outbox", drain, interval_seconds=OUTBOX_RETRY_SECONDS),
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
    return exits.OK if all(not r.failed for r in reports) else exits.NEEDS_ATTENTION


def run_cycle(runtime: Runtime, settings: Settings, only: str | None = None,
              *, send: bool = True) -> list[CycleReport]:
    """Poll the mailboxes once, print what was filed, and drain the outbox."""
    mailboxes = [settings.mailbox(only)] if only else list(settings.mailboxes)
    reports = []
    for mailbox in mailboxes:
        report = poll_mailbox(runtime, mailbox)
        for filed in report.filed:
            print(filed.log_line())
        for key, error in report.failed:
            print(f"needs attention: {key.mailbox}/{key.folder} uid {key.uid}: {error}")
        print(report.summary())
        reports.append(report)
    if send:
        print(drain_outbox(runtime).summary())
    return reports


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
            print_case_table(case_rows(s))
    finally:
        runtime.close()
    print(f"\ndatabase: {mask_url_password(database_url(settings))}")
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
