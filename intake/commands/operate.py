"""Handlers of the command-line subcommands (parsing of arguments is in intake.commands.cli)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from config.errors import ConfigError
from config.profile_folders import PROFILES_DIR
from config.settings import MailboxSettings, Settings, mask_url_password
from intake.commands import exits
from intake.commands.cases import case_rows, print_case_table
from intake.logs import scrub_addresses
from intake.pipeline import CycleReport, poll_mailbox
from intake.replies.outbox import DrainReport
from intake.replies.sender import acknowledging
from intake.runtime import Runtime, database_url, open_runtime

if TYPE_CHECKING:
    from intake.observe import RunMonitor

# The sample messages ship with the configuration package, beside the profiles.
SAMPLES_DIR = PROFILES_DIR.parent / "samples"
log = logging.getLogger(__name__)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Poll every mailbox on its schedule and drain the outbox until SIGTERM/SIGINT."""
    from intake.scheduler import Job, run_scheduler

    runtime = open_runtime(settings)
    # Mail is taken while the language models load (seconds): a message that needs one not
    # yet loaded waits for that one alone; the others are there by the time mail is usual.
    threading.Thread(target=_warm_up, args=(runtime,), name="warm-up", daemon=True).start()
    stop = threading.Event()

    def sent(report: DrainReport) -> None:
        if report.sent or report.failed or report.uncertain:
            log.info("%s", report.summary())

    monitor = _monitor(settings, runtime)

    def cycle(name: str) -> None:
        started = time.monotonic()
        try:
            report = poll_mailbox(runtime, settings.mailbox(name), stop)
            log.info("%s", report.summary())
            if monitor is not None:
                monitor.cycled(report, time.monotonic() - started)
        finally:
            # Each acknowledgement left when its case was filed; this pass takes any that
            # could not (the relay away) and those queued by people since.
            sender.wake()

    from intake.commands.review import digest_job
    from intake.mailbox.push import one_at_a_time, push_intake

    # A push-triggered cycle and a scheduled one for the same mailbox wait for each other.
    poll = one_at_a_time(cycle)
    jobs = [Job("outbox", lambda: sender.wake(),
                interval_seconds=settings.replies.outbox_pass_seconds),
            Job("digest", lambda: digest_job(runtime), daily_at=settings.reports.digest_time)]
    try:
        # One pass at a time: a reply is claimed once (and the SMTP session is the sender's).
        with acknowledging(runtime, sent) as sender, \
                push_intake(settings.mailboxes, poll, stop) as watched:
            if watched:
                log.info("push intake (IMAP IDLE) on: %s", ", ".join(watched))
            run_scheduler([(m.name, m.poll_interval_seconds) for m in settings.mailboxes],
                          poll, extra_jobs=jobs, stop_event=stop,
                          timezone=settings.general.timezone,
                          heartbeat=monitor.health.beat if monitor is not None else None)
    finally:
        if monitor is not None:
            monitor.server.close()
        runtime.close()
    return 0


def _warm_up(runtime: Runtime) -> None:
    """Load the language detector and the NLP pipelines, and say how long it took."""
    try:
        log.info("language models loaded in %.1f s", runtime.warm_up_triage())
    except Exception:  # each is loaded again on first use: a warm-up fault stops nothing
        log.exception("loading the language models ahead of use failed")


def _monitor(settings: Settings, runtime: Runtime) -> RunMonitor | None:
    """Serve /healthz, /readyz and /metrics when observability.port is set."""
    if not settings.observability.port:
        return None
    from intake.observe import RunMonitor

    monitor = RunMonitor(settings, runtime.database)
    monitor.server.start()
    log.info("monitoring on http://%s:%d/ (healthz, readyz, metrics)",
             settings.observability.host, monitor.server.port)
    return monitor


def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    """Run one intake cycle of every mailbox (or one), then one outbox pass."""
    runtime = open_runtime(settings)
    try:
        reports = run_cycle(runtime, settings, args.mailbox, send=not args.no_send)
    finally:
        runtime.close()
    if any(r.failed for r in reports):
        return exits.NEEDS_ATTENTION  # a person must look: it wins over "try again later"
    return exits.TEMPFAIL if any(r.interrupted for r in reports) else exits.OK


def run_cycle(runtime: Runtime, settings: Settings, only: str | None = None,
              *, send: bool = True) -> list[CycleReport]:
    """Poll the mailboxes once, print what was filed, and drain the outbox.

    Each acknowledgement leaves as its case is committed; a last pass at the end takes the
    rest, even when a cycle stopped early: the cases filed before the mailbox or the
    database went away are acknowledged all the same.
    """
    mailboxes = [settings.mailbox(only)] if only else list(settings.mailboxes)
    reports = []
    drained = DrainReport()
    try:
        with acknowledging(runtime, drained.add) if send else nullcontext():
            for mailbox in mailboxes:
                reports.append(_poll_and_print(runtime, mailbox))
    finally:
        if send:
            print(drained.summary())
    return reports


def _poll_and_print(runtime: Runtime, mailbox: MailboxSettings) -> CycleReport:
    """Run one mailbox's cycle and print one line per message and a summary."""
    report = poll_mailbox(runtime, mailbox)
    for filed in report.filed:
        print(filed.log_line())
    for key, error in report.failed:
        # Cron mails this output and a timer's goes to the journal: no address in it.
        print(f"needs attention: {key.mailbox}/{key.folder} uid {key.uid}: "
              f"{scrub_addresses(error)}")
    for key, error in report.retrying:
        print(f"will try again: {key.mailbox}/{key.folder} uid {key.uid}: "
              f"{scrub_addresses(error)}")
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
    if not files:
        raise ConfigError(f"no sample messages (*.eml) in {samples}")
    for path in files:
        store_message(maildir, path.read_bytes())
    marker.write_text("\n".join(p.name for p in files) + "\n", encoding="utf-8")
    return len(files)
