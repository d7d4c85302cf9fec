"""The worker pool: a dead or stuck worker costs only its own message, and is replaced."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from config.profile_folders import PROFILES_DIR
from config.profiles import load_profile
from intake.failpoints import ENV as FAILPOINTS
from intake.stages import StageError
from intake.work import Work
from intake.workers import PreparePool, WorkerLost
from parsers.records import Limits
from storage.records import MailboxKey
from tests.intake.e2e import message, sample_messages

# A safety net only: nothing here takes more than a few seconds on an idle machine.
PATIENCE = 300


def work_for(number: int, raw: bytes) -> Work:
    """Return the Work that starts a message's way through the prepare stages."""
    return Work(ledger_id=number, key=MailboxKey("famhp", "INBOX", 1, number),
                profile="famhp", raw=raw)


def wait_until_busy(pool: PreparePool, future: Future[Work]) -> None:
    """Wait until a worker holds the message (its budget has started)."""
    deadline = time.monotonic() + PATIENCE
    while not future.running():
        assert time.monotonic() < deadline, "the message never reached a worker"
        time.sleep(0.02)


@pytest.fixture
def pool() -> PreparePool:
    """A pool of two workers with a generous budget."""
    return PreparePool(2, Limits(), PROFILES_DIR, budget_seconds=PATIENCE, profiles=("famhp",))


def test_a_worker_killed_mid_message_costs_only_that_message(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The message holds its worker (it hangs) until something outside kills the worker,
    # as the kernel's OOM killer would.
    monkeypatch.setenv(FAILPOINTS, "prepare/doomed@test:1=hang")
    pool = PreparePool(1, Limits(), PROFILES_DIR, budget_seconds=PATIENCE, profiles=("famhp",))
    request = sample_messages()[0]
    try:
        doomed = pool.submit(work_for(1, message("doomed", "x", message_id="doomed@test")))
        wait_until_busy(pool, doomed)
        others = [pool.submit(work_for(n, request)) for n in (2, 3)]
        [holder] = pool.worker_pids()
        os.kill(holder, signal.SIGKILL)
        with pytest.raises(WorkerLost) as caught:
            doomed.result(PATIENCE)
        read = [future.result(PATIENCE).ledger_id for future in others]
        replacement = pool.worker_pids()
    finally:
        pool.close()
    assert str(caught.value) == "the worker reading the message died (SIGKILL)"
    assert read == [2, 3]
    assert pool.replaced == 1 and holder not in replacement


def test_a_message_over_its_budget_is_stopped_and_the_next_one_is_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAILPOINTS, "prepare/stuck@test:1=hang")
    pool = PreparePool(1, Limits(), PROFILES_DIR, budget_seconds=3, profiles=("famhp",))
    try:
        stuck = pool.submit(work_for(1, message("stuck", "x", message_id="stuck@test")))
        fine = pool.submit(work_for(2, sample_messages()[0]))
        with pytest.raises(WorkerLost) as caught:
            stuck.result(PATIENCE)
        prepared = fine.result(PATIENCE)
    finally:
        pool.close()
    assert caught.value.over_budget
    assert "longer than its time budget of 3 s" in str(caught.value)
    assert prepared.extraction is not None and prepared.extraction.documents
    assert pool.replaced == 1


def test_a_worker_killed_by_the_message_itself_reports_how(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAILPOINTS, "prepare/crash@test:1=kill")
    pool = PreparePool(1, Limits(), PROFILES_DIR, budget_seconds=PATIENCE, profiles=("famhp",))
    try:
        with pytest.raises(WorkerLost) as caught:
            pool.submit(work_for(1, message("crash", "x", message_id="crash@test"))) \
                .result(PATIENCE)
        again = pool.submit(work_for(2, sample_messages()[1])).result(PATIENCE)
    finally:
        pool.close()
    assert str(caught.value) == "the worker reading the message died (SIGKILL)"
    assert not caught.value.over_budget
    assert again.parsed is not None and again.ledger_id == 2


def test_an_unreadable_message_is_a_stage_error_not_a_lost_worker(pool: PreparePool) -> None:
    try:
        with pytest.raises(StageError):
            pool.submit(work_for(1, b"")).result(PATIENCE)
    finally:
        pool.close()
    assert pool.replaced == 0


def test_workers_end_with_the_pool(pool: PreparePool, tmp_path: Path) -> None:
    pool.start()
    pids = pool.worker_pids()
    pool.close()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in \
            Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_worker_reads_with_the_profiles_rules_and_never_loads_the_language_models(
        pool: PreparePool) -> None:
    # Workers never triage: the triage rules (whose check imports spaCy, tens of MB) are
    # not theirs to load, yet what they read carries the whole profile's version.
    try:
        prepared = pool.submit(work_for(1, sample_messages()[0])).result(PATIENCE)
        maps = [Path(f"/proc/{pid}/maps").read_text() for pid in pool.worker_pids()]
    finally:
        pool.close()
    assert prepared.extraction is not None
    assert prepared.extraction.rules_version == load_profile("famhp", PROFILES_DIR).version
    assert prepared.extraction.all_fields(), "the sample request's form was read"
    for mapped in maps:
        assert "/spacy/" not in mapped and "/thinc/" not in mapped
