"""`derogation-intake run` as the agency runs it: a long-lived process, push intake, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from intake.failpoints import DIR_ENV, ENV
from parsers.headers import raw_message_id
from storage.models import OutgoingMessage
from tests.intake.e2e import (
    PASSWORD_ENV,
    REPO,
    Intake,
    acknowledged_parents,
    sample_messages,
    write_settings,
)
from tests.servers import MailboxUser, SmtpServer

# Safety nets against a hang only; nothing here waits that long on an idle machine.
SAFETY_NET_SECONDS = 300
DIGEST_DELAY = 75  # seconds from writing the settings to the digest's time
DIGEST_TO = "reviewers@fagg-afmps.be"


def start_run(intake: Intake) -> subprocess.Popen[str]:
    """Start `run` in its own process, as a service manager would."""
    env = {**os.environ, PASSWORD_ENV: intake.user.password}
    return subprocess.Popen(
        [sys.executable, "-m", "intake.commands.cli", "--config", str(intake.config), "run"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_run_files_new_mail_as_it_arrives_and_stops_cleanly_on_sigterm(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer, db_url: str) -> None:
    config = write_settings(tmp_path, mailbox_user, smtp_server, db_url,
                            mailbox_extra="poll_interval_seconds = 3600")
    intake = Intake(config, mailbox_user, smtp_server, db_url)
    first, second = sample_messages()[0], sample_messages()[2]
    mailbox_user.append("INBOX", first)
    process = start_run(intake)
    try:
        smtp_server.wait_for(1, timeout=120)  # the first scheduled cycle, at start-up
        mailbox_user.append("INBOX", second)
        smtp_server.wait_for(2, timeout=120)  # no poll is due for an hour: IDLE woke it
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "push intake (IMAP IDLE) on: famhp" in output
    # The NLP models load beside the intake (it takes mail meanwhile), and say so.
    assert "language models loaded in" in output
    assert "scheduler stopped" in output
    assert mailbox_user.folder_uids("INBOX") == []
    assert len(mailbox_user.folder_uids("Processed")) == 2


def test_run_acknowledges_a_request_once_its_case_is_committed(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer, db_url: str) -> None:
    # No outbox pass is due for an hour, and the intake is held right after filing, before it
    # touches the mailbox or ends its cycle: only the case's commit can send the reply.
    config = write_settings(tmp_path, mailbox_user, smtp_server, db_url,
                            mailbox_extra="poll_interval_seconds = 3600",
                            extra="[replies]\noutbox_pass_seconds = 3600\n")
    intake = Intake(config, mailbox_user, smtp_server, db_url)
    request = sample_messages()[0]
    mailbox_user.append("INBOX", request)
    paused, log_file = tmp_path / "after_file.paused", tmp_path / "run.log"
    process = start_run_logged(intake, log_file, {ENV: "after_file:1=pause",
                                                  DIR_ENV: str(tmp_path)})
    try:
        wait_until(paused.exists, "the intake holding after its first filed message")
        smtp_server.wait_for(1, timeout=SAFETY_NET_SECONDS)
        still_in_inbox = mailbox_user.folder_uids("INBOX")
        paused.unlink()
        wait_until(lambda: not mailbox_user.folder_uids("INBOX"), "the message moved")
    finally:
        output = stop_run(process, log_file)
    assert process.returncode == 0, output
    assert len(still_in_inbox) == 1  # acknowledged while the mailbox was not yet changed
    assert list(acknowledged_parents(smtp_server)) == [f"<{raw_message_id(request)}>"]
    assert len(mailbox_user.folder_uids("Processed")) == 1


def start_run_logged(intake: Intake, log_file: Path,
                     extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `run` with its log in a file (a pipe nobody reads would fill up and block it)."""
    env = {**os.environ, PASSWORD_ENV: intake.user.password}
    env.pop("DEROGATION_INTAKE_FAILPOINTS", None)
    env.update(extra_env or {})
    with log_file.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "intake.commands.cli", "--config", str(intake.config),
             "run"], cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)


def stop_run(process: subprocess.Popen[str], log_file: Path) -> str:
    """Stop `run` as a service manager does and return its log."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SAFETY_NET_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return log_file.read_text(errors="replace")


def wait_until(condition: Callable[[], bool], what: str,
               timeout: float = SAFETY_NET_SECONDS) -> None:
    """Wait for a condition, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout} s: {what}")
        time.sleep(0.2)


def outbox_states(intake: Intake) -> list[tuple[str, int]]:
    """Return (state, attempts) of every outgoing message."""
    database = intake.database()
    try:
        with database.session() as s:
            return [(r.state, r.attempts) for r in s.scalars(select(OutgoingMessage))]
    finally:
        database.dispose()


def test_run_retries_the_outbox_after_a_relay_outage_and_sends_the_digest_on_time(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer, db_url: str) -> None:
    # The digest is due a little after start-up (run loads its language models first);
    # no poll is due for an hour, so only the outbox job can retry the acknowledgement.
    digest_at = datetime.now(ZoneInfo("Europe/Brussels")) + timedelta(seconds=DIGEST_DELAY)
    config = write_settings(
        tmp_path, mailbox_user, smtp_server, db_url,
        mailbox_extra="poll_interval_seconds = 3600\nidle = false",
        extra=f"""
[replies]
retry_base_seconds = 1
outbox_pass_seconds = 1

[reports]
digest_to = "{DIGEST_TO}"
digest_time = "{digest_at:%H:%M:%S}"
""")
    intake = Intake(config, mailbox_user, smtp_server, db_url)
    smtp_server.stop()  # the relay is down when the acknowledgement is first tried
    mailbox_user.append("INBOX", sample_messages()[0])
    log_file = tmp_path / "run.log"
    process = start_run_logged(intake, log_file)
    try:
        wait_until(lambda: any(state == "pending" and attempts >= 1
                               for state, attempts in outbox_states(intake)),
                   "a failed first attempt at the acknowledgement")
        started = datetime.now(ZoneInfo("Europe/Brussels"))
        smtp_server.start()  # the relay is back: the outbox job must retry on its own
        [ack] = smtp_server.wait_for(1, timeout=SAFETY_NET_SECONDS)
        assert started < digest_at, "start-up took longer than the digest delay"
        mails = smtp_server.wait_for(2, timeout=SAFETY_NET_SECONDS)
        received_at = datetime.now(ZoneInfo("Europe/Brussels"))
    finally:
        output = stop_run(process, log_file)
    assert process.returncode == 0, output
    assert ack.rcpt_tos != (DIGEST_TO,)
    digest = mails[1]
    assert digest.rcpt_tos == (DIGEST_TO,), output
    assert received_at >= digest_at.replace(microsecond=0)  # at its time, not at start-up
    assert b"Subject:" in digest.data and "job digest: done" in output
    assert outbox_states(intake) == [("sent", 2)]
