"""Fault injection on real servers: dead and stuck workers, a terminated database backend,
an IMAP outage in the middle of a cycle. Good mail is filed and acknowledged exactly once;
bad mail reaches Needs-attention with its reason; `run` keeps going without a restart.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.failpoints import DIR_ENV, ENV
from storage.models import CaseMessage, Ledger, OutgoingMessage
from tests.dbs import PostgresServer
from tests.intake.e2e import (
    Intake,
    acknowledged_parents,
    labelled,
    message,
    sample_messages,
    write_settings,
)
from tests.intake.test_crash_safety import processes_using
from tests.intake.test_run import SAFETY_NET_SECONDS, start_run_logged, stop_run, wait_until
from tests.servers import DovecotServer, MailboxUser, SmtpServer

KILLER = "killer@fault.test"  # its worker dies on every attempt (an OOM kill, a segfault)
STUCK = "stuck@fault.test"  # its worker never finishes (a pathological PDF)
BUDGET_SECONDS = 20  # generous for a good message on a loaded machine
OUT_OF_OFFICE = 4  # the sample that is kept without a case and never answered


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (the backend this test terminates)."""
    name = pg_server.create("di_faults", pg_template)
    try:
        yield pg_server.url_of(name)
    finally:
        pg_server.drop(name)


def message_id(raw: bytes) -> str:
    """Return a message's Message-ID header as written."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return str(parsed["Message-ID"]).strip()


def ledger_by_message_id(intake: Intake) -> dict[str, Ledger]:
    """Return the ledger rows by Message-ID."""
    database = intake.database()
    try:
        with database.session() as s:
            return {f"<{r.message_id}>": r for r in s.scalars(select(Ledger))}
    finally:
        database.dispose()


def test_faults_cost_only_the_bad_messages_and_run_keeps_going(
        tmp_path: Path, dovecot: DovecotServer, mailbox_user: MailboxUser,
        smtp_server: SmtpServer, pg_url: str) -> None:
    samples = sample_messages()
    killer = message("Derogation request", "Please see the attached form.",
                     message_id=KILLER)
    stuck = message("Derogation request", "Please see the attached form.", message_id=STUCK)
    batch = [samples[0], killer, samples[1], stuck, *samples[2:]]
    config = write_settings(tmp_path, mailbox_user, smtp_server, pg_url,
                            mailbox_extra="poll_interval_seconds = 2", extra=f"""
[replies]
retry_base_seconds = 1
outbox_pass_seconds = 3600

[extraction]
workers = 2
message_budget_seconds = {BUDGET_SECONDS}
max_attempts = 2
""")
    intake = Intake(config, mailbox_user, smtp_server, pg_url)
    for raw in batch:
        mailbox_user.append("INBOX", raw)
    paused = tmp_path / "after_file.paused"
    faults = ",".join([
        f"prepare/{KILLER}:1=kill", f"prepare/{STUCK}:1=hang",
        "sql:case_message:2=pg_terminate",  # the backend dies while the 2nd case is filed
        "after_file:4=pause",  # then the IMAP server goes away, in the middle of the cycle
    ])
    log_file = tmp_path / "run.log"
    process = start_run_logged(intake, log_file, {ENV: faults, DIR_ENV: str(tmp_path)})
    try:
        wait_until(paused.exists, "the intake pausing after its 4th filed message")
        # Stopping the master leaves open sessions alone: end them first, then stop it.
        subprocess.run([shutil.which("doveadm") or "doveadm", "-c", str(dovecot.config),
                        "kick", mailbox_user.user], check=False, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dovecot.stop()
        paused.unlink()
        # Filed before the outage, acknowledged in spite of it (outbox job: once an hour).
        smtp_server.wait_for(4, timeout=SAFETY_NET_SECONDS)
        dovecot.start()
        wait_until(lambda: len(mailbox_user.folder_uids("Needs-attention")) == 2
                   and not mailbox_user.folder_uids("INBOX"), "the batch settled")
        late = labelled("enq_nl_documents")  # run goes on, with no restart
        mailbox_user.append("INBOX", late)
        smtp_server.wait_for(len(batch) - 2, timeout=SAFETY_NET_SECONDS)
        wait_until(lambda: len(mailbox_user.folder_uids("Sent")) == len(smtp_server.received),
                   "the Sent copies queued during the outage")
    except AssertionError as exc:  # say what run was doing
        stop_run(process, log_file)
        lines = [line for line in log_file.read_text().splitlines()
                 if "skipped: maximum number of running instances" not in line]
        raise AssertionError("\n".join([str(exc), "--- run log ---", *lines[-80:]])) from exc
    finally:
        output = stop_run(process, log_file)
    assert process.returncode == 0, output[-5000:]
    assert processes_using(config) == []

    good = [m for i, m in enumerate([*samples, late]) if i != OUT_OF_OFFICE]
    # Each good message acknowledged exactly once, nothing else acknowledged.
    assert acknowledged_parents(smtp_server) == Counter({message_id(m): 1 for m in good})
    assert len(mailbox_user.folder_uids("Processed")) == len(samples) + 1
    rows = ledger_by_message_id(intake)
    assert {rows[message_id(m)].state for m in [*samples, late]} == {"done"}
    database = intake.database()
    with database.session() as s:
        filed = Counter(s.scalars(select(CaseMessage.message_id)))
        outbox = Counter(s.scalars(select(OutgoingMessage.state)))
    database.dispose()
    assert all(count == 1 for count in filed.values()) and len(filed) == len(good)
    assert outbox == Counter({"sent": len(good)})
    # The bad ones: in Needs-attention, with their reason, after their attempts.
    dead, late_worker = rows[f"<{KILLER}>"], rows[f"<{STUCK}>"]
    assert (dead.state, dead.attempts) == ("attention", 2)
    assert dead.error == ("the worker reading the message died (SIGKILL) "
                          "(gave up after 2 attempts)")
    assert (late_worker.state, late_worker.attempts) == ("attention", 2)
    assert f"longer than its time budget of {BUDGET_SECONDS} s" in (late_worker.error or "")
    # The faults happened, and were logged for what they were.
    assert "database unavailable" in output and "trying again" in output
    assert "cycle stopped" in output
    assert "queued for a later pass" in output and "appended to Sent" in output
