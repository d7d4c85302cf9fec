"""The scheduler: polls at once and on their interval, one at a time, stopping cleanly."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from intake.scheduler import Job, StopFlag, run_scheduler


def run_in_thread(target: Callable[[], None]) -> threading.Thread:
    """Start the scheduler in a thread (signals then stay with the test runner)."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_polls_every_mailbox_at_once_then_on_its_interval() -> None:
    stop = StopFlag()
    calls: dict[str, list[float]] = defaultdict(list)
    started = time.monotonic()
    thread = run_in_thread(lambda: run_scheduler(
        [("famhp", 0.2), ("ansm", 0.2)], lambda name: calls[name].append(time.monotonic()),
        stop_event=stop))

    wait_until(lambda: len(calls["famhp"]) >= 3 and len(calls["ansm"]) >= 3)
    stop.set()
    thread.join(10)

    assert not thread.is_alive()
    assert calls["famhp"][0] - started < 1.0 and calls["ansm"][0] - started < 1.0


def test_a_slow_poll_never_runs_twice_at_once() -> None:
    stop = StopFlag()
    running: dict[str, int] = defaultdict(int)
    most: dict[str, int] = defaultdict(int)
    runs: list[str] = []
    lock = threading.Lock()

    def poll(name: str) -> None:
        with lock:
            running[name] += 1
            most[name] = max(most[name], running[name])
        time.sleep(0.35)  # longer than the interval
        with lock:
            running[name] -= 1
            runs.append(name)

    thread = run_in_thread(lambda: run_scheduler([("famhp", 0.1)], poll, stop_event=stop))
    wait_until(lambda: len(runs) >= 3)
    stop.set()
    thread.join(10)
    assert most["famhp"] == 1


def test_a_failing_poll_is_logged_and_polled_again(caplog: pytest.LogCaptureFixture) -> None:
    stop = StopFlag()
    attempts: list[int] = []

    def poll(name: str) -> None:
        attempts.append(1)
        raise RuntimeError("IMAP server unreachable")

    thread = run_in_thread(lambda: run_scheduler([("famhp", 0.1)], poll, stop_event=stop))
    wait_until(lambda: len(attempts) >= 3)
    stop.set()
    thread.join(10)
    assert "job poll famhp: failed" in caplog.text
    assert "IMAP server unreachable" in caplog.text


def test_extra_jobs_run_on_their_interval() -> None:
    stop = StopFlag()
    outbox_runs: list[float] = []
    digest_runs: list[float] = []
    jobs = [Job("outbox", lambda: outbox_runs.append(time.monotonic()), interval_seconds=0.1,
                run_now=True),
            Job("digest", lambda: digest_runs.append(time.monotonic()), daily_at="07:30")]
    thread = run_in_thread(lambda: run_scheduler([], lambda name: None, extra_jobs=jobs,
                                                 stop_event=stop, timezone="Europe/Brussels"))
    wait_until(lambda: len(outbox_runs) >= 3)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_jobs_that_do_not_run_at_once_are_not_paused() -> None:
    # APScheduler 3 adds a job given next_run_time=None paused: the outbox retry and the
    # digest of `run` never ran. Neither job here runs at start-up; both must run later.
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    stop = StopFlag()
    retries: list[float] = []
    digests: list[datetime] = []
    zone = ZoneInfo("Europe/Brussels")
    at = (datetime.now(zone) + timedelta(seconds=3)).replace(microsecond=0)
    jobs = [Job("outbox", lambda: retries.append(time.monotonic()), interval_seconds=0.2),
            Job("digest", lambda: digests.append(datetime.now(zone)),
                daily_at=at.strftime("%H:%M:%S"))]
    thread = run_in_thread(lambda: run_scheduler([], lambda name: None, extra_jobs=jobs,
                                                 stop_event=stop, timezone="Europe/Brussels"))
    wait_until(lambda: len(retries) >= 2 and len(digests) == 1, timeout=60)
    stop.set()
    thread.join(10)
    assert digests[0] >= at  # at its configured time, not at start-up


def test_a_job_needs_a_schedule() -> None:
    with pytest.raises(ValueError, match="interval_seconds or daily_at"):
        run_scheduler([], lambda name: None, extra_jobs=[Job("nothing", lambda: None)],
                      stop_event=StopFlag())


def test_stop_waits_for_the_message_in_hand(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="intake.scheduler")
    stop = StopFlag()
    events: list[str] = []

    def poll(name: str) -> None:
        for number in range(10):
            events.append(f"start {number}")
            time.sleep(0.1)
            events.append(f"done {number}")
            if stop.is_set():  # between messages, never inside one
                return

    thread = run_in_thread(lambda: run_scheduler([("famhp", 60)], poll, stop_event=stop))
    wait_until(lambda: "start 2" in events)
    stop.set()
    thread.join(10)

    assert not thread.is_alive()
    assert events[-1].startswith("done ")
    assert events.count("done 9") == 0
    assert [e for e in events if e.startswith("start")] == \
        [e.replace("done", "start") for e in events if e.startswith("done")]
    assert "job poll famhp: start" in caplog.text and "job poll famhp: done" in caplog.text


SCRIPT = """\
import logging, sys, time
from intake.scheduler import StopFlag, run_scheduler

logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
journal = open(sys.argv[1], "a", buffering=1)
stop = StopFlag()

def poll(name):
    for number in range(20):
        journal.write(f"start {number}\\n")
        time.sleep(0.2)
        journal.write(f"done {number}\\n")
        if stop.is_set():
            break

run_scheduler([("famhp", 60)], poll, stop_event=stop)
journal.write("exited cleanly\\n")
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_process_after_the_job_in_hand(tmp_path: Path,
                                                          signum: signal.Signals) -> None:
    script = tmp_path / "intake_daemon.py"
    script.write_text(SCRIPT)
    journal = tmp_path / "journal.txt"
    process = subprocess.Popen([sys.executable, str(script), str(journal)],
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: journal.exists() and "start 1" in journal.read_text())
        process.send_signal(signum)
        _out, errors = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, errors
    lines = journal.read_text().splitlines()
    assert lines[-1] == "exited cleanly"
    started = [line for line in lines if line.startswith("start")]
    finished = [line.replace("done", "start") for line in lines if line.startswith("done")]
    assert started == finished and len(finished) < 20  # stopped early, no half message
    assert f"received {signum.name}" in errors
    assert "job poll famhp: start" in errors and "job poll famhp: done" in errors
    assert "scheduler stopped" in errors
