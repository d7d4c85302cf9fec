"""Several `run` instances, one PostgreSQL database, one mailbox: the leader is SIGKILLed.

Each instance has a data directory of its own, as on separate machines. The first instance
takes the whole batch in one cycle and dies (SIGKILL, by a failpoint) after filing its third
message; another instance takes the mailbox over and finishes the batch.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from storage.db import advisory_key
from storage.models import CaseMessage, Ledger, OutgoingMessage
from tests.intake.e2e import (
    PASSWORD_ENV,
    REPO,
    Intake,
    acknowledged_parents,
    labelled,
    sample_messages,
    write_settings,
)
from tests.servers import MailboxUser, SmtpServer

pytestmark = [pytest.mark.postgres, pytest.mark.dovecot, pytest.mark.smtp, pytest.mark.slow]

LEADER_DIES_AT = 3  # the leader is killed after committing its third message's case
# Requests and enquiries of the labelled set that open cases of their own (no Message-ID
# of the samples again).
STANDALONE = ("cu_en_complete_manufacturer", "enq_nl_documents", "nd_fr_complete_ivdr",
              "cu_de_complete", "cu_en_body_fields", "cu_en_urgent_complete",
              "cu_fr_complete_flat", "cu_nl_ivdr_complete", "enq_fr_documents",
              "enq_de_documents", "enq_fr_crossborder", "cu_nl_urgent_complete")
FILED_LINE = re.compile(r"\b(filed \S+ \(|kept \S+ message from)")  # one per message filed
SETTLED = {"sent", "uncertain"}  # an acknowledgement's states once its sender is done
SAFETY_NET_S = 300  # generous: the batch takes seconds; only a hang gets near this


def start_instance(tmp: Path, name: str, mailbox_user: MailboxUser, smtp_server: SmtpServer,
                   db_url: str, failpoints: str = "") -> subprocess.Popen[str]:
    """Start `run` with a data directory of its own, named in the database by name."""
    folder = tmp / name
    folder.mkdir()
    # application_name shows which instance holds a lock in pg_locks/pg_stat_activity.
    config = write_settings(folder, mailbox_user, smtp_server,
                            f"{db_url}?application_name={name}",
                            mailbox_extra="poll_interval_seconds = 1",
                            extra="[extraction]\nworkers = 2")
    env = {**os.environ, PASSWORD_ENV: mailbox_user.password}
    env.pop("DEROGATION_INTAKE_FAILPOINTS", None)
    if failpoints:
        env["DEROGATION_INTAKE_FAILPOINTS"] = failpoints
    return subprocess.Popen(
        [sys.executable, "-m", "intake.commands.cli", "--config", str(config), "run"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def lock_holder(db_url: str, name: str) -> str | None:
    """Return the application_name of the session holding the named advisory lock."""
    key = advisory_key(name) & 0xFFFFFFFFFFFFFFFF  # pg_locks shows it as two unsigned halves
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            holder: str | None = connection.scalar(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                " WHERE l.locktype = 'advisory' AND l.granted"
                " AND l.classid::bigint = :high AND l.objid::bigint = :low"),
                {"high": key >> 32, "low": key & 0xFFFFFFFF})
            return holder
    finally:
        engine.dispose()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait until condition() is true, failing after the safety net."""
    deadline = time.monotonic() + SAFETY_NET_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """The instances started by a test, stopped with SIGTERM (killed if stuck) afterwards."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_three_instances_the_leader_killed_mid_batch_every_message_filed_and_acked_once(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer, db_url: str,
        processes: list[subprocess.Popen[str]]) -> None:
    # More messages than a filing group (16): the leader cannot file them all at once.
    batch = [*sample_messages(), *map(labelled, STANDALONE)]
    for data in batch:
        mailbox_user.append("INBOX", data)

    leader = start_instance(tmp_path, "instance-a", mailbox_user, smtp_server, db_url,
                            failpoints=f"after_file:{LEADER_DIES_AT}")
    processes.append(leader)
    # The first instance alone finds the batch: its first cycle holds the mailbox for all of it.
    wait_until(lambda: lock_holder(db_url, "mailbox:famhp") == "instance-a" or
               leader.poll() is not None, "instance-a to hold the mailbox")
    others = [start_instance(tmp_path, name, mailbox_user, smtp_server, db_url)
              for name in ("instance-b", "instance-c")]
    processes.extend(others)

    leader_output, _ = leader.communicate(timeout=SAFETY_NET_S)
    assert leader.returncode == -signal.SIGKILL, leader_output
    wait_until(lambda: not mailbox_user.folder_uids("INBOX"), "the mailbox to be emptied")
    intake = Intake(tmp_path / "instance-a" / "intake.toml", mailbox_user, smtp_server, db_url)
    wait_until(lambda: set(outbox_states(intake)) <= SETTLED, "every acknowledgement to leave")
    for process in others:
        process.send_signal(signal.SIGTERM)
    outputs = [process.communicate(timeout=SAFETY_NET_S)[0] for process in others]

    assert [process.returncode for process in others] == [0, 0], outputs
    assert len(mailbox_user.folder_uids("Processed")) == len(batch)
    # The leader filed three (and those it filed in the same transaction as the third), then
    # another instance took the mailbox over and filed the rest, fetching again the messages
    # the leader had kept in its own data directory.
    by_leader = len(FILED_LINE.findall(leader_output))
    assert LEADER_DIES_AT <= by_leader < len(batch), leader_output
    taken_over = "".join(outputs)
    assert len(FILED_LINE.findall(taken_over)) == len(batch) - by_leader, taken_over
    assert "kept on another machine fetched again" in taken_over, taken_over
    database = intake.database()
    with database.session() as s:
        ledger = list(s.scalars(select(Ledger)))
        filed = Counter(s.scalars(select(CaseMessage.message_id)))
    database.dispose()
    # One ledger row per message, each done; each message in one case once (the
    # out-of-office reply is kept without a case).
    assert len(ledger) == len(batch) and {row.state for row in ledger} == {"done"}
    assert len(filed) == len(batch) - 1 and set(filed.values()) == {1}, filed
    # Every acknowledgement was sent once, but one that the leader's sender was handing over
    # when it was killed: that one is left uncertain, for a person to decide, never resent.
    states = outbox_states(intake)
    assert states["uncertain"] <= 1, states
    assert states["sent"] + states["uncertain"] == len(acked_messages(intake)) > 0
    assert states["sent"] <= len(smtp_server.received) <= states["sent"] + states["uncertain"]
    assert set(acknowledged_parents(smtp_server).values()) == {1}


def outbox_states(intake: Intake) -> Counter[str]:
    """Count the outbox's rows by state."""
    database = intake.database()
    with database.session() as s:
        states = Counter(s.scalars(select(OutgoingMessage.state)))
    database.dispose()
    return states


def acked_messages(intake: Intake) -> list[str]:
    """Return the Message-IDs of the acknowledgements in the outbox."""
    database = intake.database()
    with database.session() as s:
        ids = list(s.scalars(select(OutgoingMessage.message_id)))
    database.dispose()
    return ids
