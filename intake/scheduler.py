"""Running the mailbox polls (and a few other jobs) on a schedule until told to stop.

SIGTERM or SIGINT sets the stop flag: no new job starts, and the scheduler waits for the jobs
in hand. A poll function consults the same flag between messages, so that it stops after the
message it is working on, never in the middle of one.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

# How often the waiting main thread wakes up, so that signals are handled promptly.
WAKE_SECONDS = 0.5


class StopFlag(threading.Event):
    """Set when the process should stop; long jobs check it between units of work."""


@dataclass(frozen=True)
class Job:
    """A job besides the polls: every ``interval_seconds``, or daily at ``daily_at``.

    ``daily_at`` is a clock time HH:MM or HH:MM:SS in the scheduler's time zone.
    """

    name: str
    func: Callable[[], None]
    interval_seconds: float | None = None
    daily_at: str | None = None
    run_now: bool = False


def run_scheduler(mailboxes: Iterable[tuple[str, float]], poll: Callable[[str], None],
                  extra_jobs: Sequence[Job] = (), stop_event: threading.Event | None = None,
                  timezone: str = "UTC", heartbeat: Callable[[], None] | None = None) -> None:
    """Poll each (mailbox, interval) now and then on its interval until the stop flag is set."""
    stop = stop_event if stop_event is not None else StopFlag()
    zone = ZoneInfo(timezone)
    polls = list(mailboxes)
    scheduler = BackgroundScheduler(
        timezone=zone, executors={"default": ThreadPoolExecutor(len(polls) + len(extra_jobs) + 1)})
    for name, interval in polls:
        _add_poll(scheduler, name, interval, poll, stop, zone)
    for job in extra_jobs:
        _add_job(scheduler, job, stop, zone)
    with _signals_set(stop):
        scheduler.start()
        log.info("scheduler started: %d mailbox(es), %d other job(s)", len(polls),
                 len(extra_jobs))
        while not stop.wait(WAKE_SECONDS):
            if heartbeat is not None:  # liveness (/healthz): the loop turns
                heartbeat()
        log.info("scheduler stopping: waiting for the jobs in hand")
        scheduler.shutdown(wait=True)
    log.info("scheduler stopped")


def _add_poll(scheduler: BackgroundScheduler, name: str, interval: float,
              poll: Callable[[str], None], stop: threading.Event, zone: ZoneInfo) -> None:
    """One interval job per mailbox: first run now, never two at once, late runs merged."""
    scheduler.add_job(
        logged(f"poll {name}", lambda: poll(name), stop),
        IntervalTrigger(seconds=interval, timezone=zone), id=f"poll:{name}",
        next_run_time=datetime.now(zone), coalesce=True, max_instances=1,
        misfire_grace_time=max(int(interval), 1))


def _add_job(scheduler: BackgroundScheduler, job: Job, stop: threading.Event,
             zone: ZoneInfo) -> None:
    """Add an extra job on its interval or at its daily time."""
    if job.daily_at is not None:
        hour, minute, second = ([int(part) for part in job.daily_at.split(":")] + [0])[:3]
        trigger: IntervalTrigger | CronTrigger = CronTrigger(hour=hour, minute=minute,
                                                             second=second, timezone=zone)
        grace = 3600
    elif job.interval_seconds is not None:
        trigger = IntervalTrigger(seconds=job.interval_seconds, timezone=zone)
        grace = max(int(job.interval_seconds), 1)
    else:
        raise ValueError(f"job {job.name}: give interval_seconds or daily_at")
    # APScheduler 3 adds a job given next_run_time=None *paused*: leave it out unless the
    # job runs at once, so that the trigger computes the first run.
    first_run = {"next_run_time": datetime.now(zone)} if job.run_now else {}
    scheduler.add_job(logged(job.name, job.func, stop), trigger, id=job.name,
                      coalesce=True, max_instances=1, misfire_grace_time=grace, **first_run)


def logged(name: str, func: Callable[[], None], stop: threading.Event) -> Callable[[], None]:
    """Wrap a job: skip it once stopping, log its start and end, never let it kill the loop."""
    def run() -> None:
        if stop.is_set():
            return
        log.info("job %s: start", name)
        started = time.monotonic()
        try:
            func()
        except Exception:
            log.exception("job %s: failed after %.1f s", name, time.monotonic() - started)
            return
        log.info("job %s: done in %.1f s", name, time.monotonic() - started)
    return run


@contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    """Let SIGTERM and SIGINT set the stop flag (only the main thread can own signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: finishing the jobs in hand", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
