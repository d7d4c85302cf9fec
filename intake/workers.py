"""Parsing and extraction in worker processes, each message with a time budget.

Only the pure *prepare* stages run in the workers; filing, replies and the mailbox stay in
the calling process, one message at a time in UID order, so crash safety is unchanged.

Each worker reads one message at a time, so when a worker dies (an OOM kill, a segfault in a
PDF library) or overruns the message's budget (and is killed for it), the pool knows which
message it was holding: that message's future fails with ``WorkerLost``, a fresh worker takes
the dead one's place, and every other message goes on. A worker is a fresh interpreter
(``python -m intake.workers``) talking over a socket pair, never a fork of the intake process:
a replacement is started while the scheduler's threads run, when a fork could inherit a lock
held by one of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from config.errors import IntakeError
from config.profiles import ExtractionProfile, load_extraction_profile
from intake.failpoints import ENV as FAILPOINTS_ENV
from intake.failpoints import failpoint
from intake.stages import PREPARE_STAGES, StageError, run_stages
from intake.work import Work
from parsers.records import Limits

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# The longest the pool's thread sleeps without looking at deadlines and the stop request.
TICK_SECONDS = 1.0
# Workers run below the intake process: the intake is the one stage that takes messages in
# order (keep, file, move), so every moment it waits for a core the whole pipeline waits,
# while a worker that waits only reads further ahead. Reviewers' pages keep priority too.
WORKER_NICENESS = 10
READY = "ready"  # what a started worker says once its imports and profiles are loaded


class WorkerLost(IntakeError):
    """The worker holding a message died or was stopped; ``reason`` says how."""

    def __init__(self, reason: str, *, over_budget: bool) -> None:
        self.reason = reason
        self.over_budget = over_budget
        super().__init__(reason)


@dataclass(frozen=True)
class PrepareContext:
    """The stage context of a worker process: limits, and profiles loaded once."""

    limits: Limits
    profiles_dir: Path

    def profile(self, name: str) -> ExtractionProfile:
        """Return a profile's extraction rules and version (cached per process)."""
        return load_extraction_profile(name, self.profiles_dir)


def prepare(work: Work, limits: Limits, profiles_dir: Path) -> Work:
    """Run the prepare stages on one message (in whatever process calls it)."""
    if FAILPOINTS_ENV in os.environ:
        _message_failpoint(work)
    return run_stages(PrepareContext(limits, profiles_dir), work, PREPARE_STAGES)


def _message_failpoint(work: Work) -> None:
    """Pass the ``prepare/<Message-ID>`` failpoint (tests only: reads the header first)."""
    from parsers.headers import raw_message_id

    raw = work.raw_blob.read() if work.raw_blob is not None else work.raw
    message_id = (raw_message_id(raw) or "").strip("<> ")
    failpoint(f"prepare/{message_id}")


def main(argv: Sequence[str]) -> int:
    """A worker's life (``python -m intake.workers FD INTAKE_PID [LABEL]``).

    It takes the limits and the profiles to load, says it is ready, then takes one message
    at a time and sends back the Work or the error. LABEL (the settings file) only tells
    ``ps`` which installation the worker serves.
    """
    conn = Connection(int(argv[0]))
    _die_with_intake(int(argv[1]))
    os.nice(WORKER_NICENESS)
    try:
        limits, profiles, profiles_dir = conn.recv()
        for name in profiles:  # loaded before the first message's budget starts
            load_extraction_profile(name, profiles_dir)
        conn.send(READY)
    except (EOFError, OSError):
        return 0
    while True:
        try:
            work = conn.recv()
        except (EOFError, OSError):
            return 0  # the intake process closed the pipe: stop
        try:
            result: tuple[bool, Any] = (True, prepare(work, limits, profiles_dir))
        except StageError as exc:
            result = (False, exc)
        except BaseException as exc:  # anything else still goes back, as a StageError
            result = (False, StageError("prepare", f"{type(exc).__name__}: {exc}"))
        try:
            conn.send(result)
        except (EOFError, OSError):
            return 0


def _die_with_intake(intake_pid: int) -> None:
    """Worker start-up: end this worker when the intake process dies, even by SIGKILL.

    An orphaned worker would otherwise go on reading a message nobody waits for.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        ctypes.CDLL(libc_name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != intake_pid:  # the intake process died before the request took effect
        os._exit(1)


@dataclass
class _Task:
    """A message waiting for, or held by, a worker."""

    work: Work
    future: Future[Work]
    deadline: float = 0.0


class _Worker:
    """One worker process and the intake's end of its socket."""

    def __init__(self, limits: Limits, profiles: tuple[str, ...], profiles_dir: Path,
                 label: str) -> None:
        ours, theirs = socket.socketpair()
        # The worker imports this very code, wherever the intake process found it.
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "intake.workers", str(theirs.fileno()), str(os.getpid()),
                 label], pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send((limits, profiles, profiles_dir))
        self.task: _Task | None = None

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def stop(self, *, kill: bool) -> None:
        """End the process: killed at once, or asked to stop by closing its socket."""
        if kill:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(OSError):
            self.conn.close()
        try:
            self.process.wait(None if kill else 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def exit_reason(self) -> str:
        """Describe how the worker ended (it has, or is about to)."""
        try:
            code = self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if code < 0:
            return f"died ({signal.Signals(-code).name})"
        return f"exited unexpectedly (status {code})"


class PreparePool:
    """Prepares messages in ``workers`` processes; a lost worker is replaced at once."""

    def __init__(self, workers: int, limits: Limits, profiles_dir: Path,
                 budget_seconds: float = 300.0, label: str = "",
                 profiles: tuple[str, ...] = ()) -> None:
        self.limits = limits
        self.profiles_dir = profiles_dir
        self.label = label
        self.profiles = profiles
        self.workers = max(1, workers)
        self.budget_seconds = budget_seconds
        self.replaced = 0  # workers replaced since start, for the log and the tests
        self._starting: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []
        self._queue: deque[_Task] = deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._closing = False

    @property
    def window(self) -> int:
        """How many messages may be in flight (bounds memory on a large backlog).

        Enough that the workers go on reading while the intake files what they prepared
        (up to a filing group of 16): with 2 a worker, half the workers' time was idle.
        """
        return 8 * self.workers

    def start(self) -> None:
        """Start the workers and the thread that watches them."""
        if self._thread is not None:
            return
        self._closing = False
        self._starting, self._idle, self._busy = [], [], []
        self._top_up()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._watch, name="prepare-pool", daemon=True)
        self._thread.start()

    def submit(self, work: Work) -> Future[Work]:
        """Queue a message; the future yields the Work, or raises StageError or WorkerLost."""
        self.start()
        task = _Task(work, Future())
        with self._lock:
            self._queue.append(task)
        self._wake()
        return task.future

    def close(self) -> None:
        """Stop the workers (a message in hand is abandoned: it stays on the ledger)."""
        if self._thread is None:
            return
        self._closing = True
        self._wake()
        self._thread.join()
        self._thread = None
        with self._lock:
            workers = [*self._starting, *self._idle, *self._busy]
            self._starting, self._idle, self._busy = [], [], []
            for task in self._queue:
                task.future.cancel()
            self._queue.clear()
        for worker in workers:
            if worker.task is not None:
                worker.task.future.cancel()
            worker.stop(kill=worker.task is not None)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def worker_pids(self) -> list[int]:
        """Return the process ids of the live workers."""
        with self._lock:
            return [w.pid for w in (*self._starting, *self._idle, *self._busy)]

    # --- the watching thread ----------------------------------------------------------------

    def _wake(self) -> None:
        """Make the watching thread look at the queue now."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _watch(self) -> None:
        """Hand messages to idle workers; collect results; replace dead and late workers."""
        while not self._closing:
            try:
                self._round()
            except Exception:  # the thread must outlive any surprise, or every message waits
                log.exception("prepare pool: unexpected error; going on")
                time.sleep(TICK_SECONDS)

    def _round(self) -> None:
        """One turn of the watch: top up, dispatch, wait, collect, enforce budgets."""
        self._top_up()
        self._dispatch()
        starting, idle, busy = list(self._starting), list(self._idle), list(self._busy)
        ready = wait(self._waitables(), timeout=self._timeout())
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        for worker in starting:
            if worker.conn in ready:
                self._welcome(worker)
        for worker in idle:
            if worker.conn in ready:  # an idle worker says nothing: it died
                self._bury(worker)
        for worker in busy:
            if worker.conn in ready:  # a result, or the end of file of a dead worker
                self._collect(worker)
        self._enforce_budgets()

    def _top_up(self) -> None:
        """Start workers until there are as many as configured (a failed start waits a tick)."""
        while len(self._starting) + len(self._idle) + len(self._busy) < self.workers:
            try:
                fresh = _Worker(self.limits, self.profiles, self.profiles_dir, self.label)
            except OSError as exc:
                log.warning("prepare pool: cannot start a worker now: %s", exc)
                return
            with self._lock:
                self._starting.append(fresh)

    def _welcome(self, worker: _Worker) -> None:
        """Make a started worker available once it says it is ready (or drop it)."""
        try:
            said = worker.conn.recv()
        except (EOFError, OSError):
            said = None
        with self._lock:
            self._starting.remove(worker)
            if said == READY:
                self._idle.append(worker)
                return
        log.warning("prepare pool: a worker failed to start: it %s", worker.exit_reason())
        worker.stop(kill=True)
        time.sleep(TICK_SECONDS)  # no busy loop when every start fails

    def _waitables(self) -> list[Any]:
        """Return what the thread waits on: the wake pipe and every worker's socket."""
        return [self._wake_r, *(w.conn for w in (*self._starting, *self._idle, *self._busy))]

    def _timeout(self) -> float:
        """Return how long to wait: until the nearest deadline, at most one tick."""
        deadlines = [w.task.deadline for w in self._busy if w.task is not None]
        nearest = min(deadlines, default=time.monotonic() + TICK_SECONDS)
        return max(0.0, min(nearest - time.monotonic(), TICK_SECONDS))

    def _dispatch(self) -> None:
        """Give queued messages to idle workers, starting each message's budget."""
        while True:
            with self._lock:
                if not self._queue or not self._idle:
                    return
                task = self._queue.popleft()
                if not task.future.set_running_or_notify_cancel():
                    continue
                worker = self._idle.pop()
                self._busy.append(worker)
            task.deadline = time.monotonic() + self.budget_seconds
            worker.task = task
            # A dead worker cannot take it: its sentinel says so at the next wait.
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(task.work)

    def _collect(self, worker: _Worker) -> None:
        """Take a finished worker's result, or report its death and replace it."""
        task = worker.task
        assert task is not None
        try:
            ok, value = worker.conn.recv()
        except (EOFError, OSError):
            self._lose(worker, f"the worker reading the message {worker.exit_reason()}",
                       over_budget=False)
            return
        worker.task = None
        with self._lock:
            self._busy.remove(worker)
            self._idle.append(worker)
        if ok:
            task.future.set_result(value)
        else:
            task.future.set_exception(value)

    def _bury(self, worker: _Worker) -> None:
        """Drop a worker that died while it held no message; a fresh one replaces it."""
        with self._lock:
            self._idle.remove(worker)
            self.replaced += 1
        log.warning("worker %s %s while idle; a fresh one takes its place", worker.pid,
                    worker.exit_reason())
        worker.stop(kill=True)
        self._top_up()

    def _enforce_budgets(self) -> None:
        """Kill every worker whose message ran past its budget."""
        now = time.monotonic()
        for worker in list(self._busy):
            if worker.task is not None and now >= worker.task.deadline:
                self._lose(worker, f"reading the message took longer than its time budget "
                                   f"of {self.budget_seconds:g} s; the worker was stopped",
                           over_budget=True)

    def _lose(self, worker: _Worker, reason: str, *, over_budget: bool) -> None:
        """Fail the lost worker's message and put a fresh worker in its place."""
        task = worker.task
        worker.task = None
        worker.stop(kill=True)
        with self._lock:
            self._busy.remove(worker)
            self.replaced += 1
        log.warning("worker %s lost (%s); a fresh one takes its place", worker.pid, reason)
        self._top_up()
        if task is not None:
            task.future.set_exception(WorkerLost(reason, over_budget=over_budget))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
