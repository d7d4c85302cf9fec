"""`derogation-intake run` as the agency runs it: a long-lived process, push intake, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.intake.e2e import PASSWORD_ENV, REPO, Intake, sample_messages, write_settings
from tests.servers import MailboxUser, SmtpServer


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
    # The NLP models load before intake starts, not while the first applicant waits.
    assert output.index("language models loaded in") < output.index("push intake (IMAP IDLE)")
    assert "scheduler stopped" in output
    assert mailbox_user.folder_uids("INBOX") == []
    assert len(mailbox_user.folder_uids("Processed")) == 2
