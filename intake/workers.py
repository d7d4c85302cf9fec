"""Parsing and extraction in a pool of worker processes, results taken in mailbox order.

Only the pure *prepare* stages run in the workers; filing, replies and the mailbox stay in
the calling process, one message at a time in UID order, so crash safety is unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from config.profiles import Profile, load_profile
from intake.stages import PREPARE_STAGES, run_stages
from intake.work import Work
from parsers.records import Limits


@dataclass(frozen=True)
class PrepareContext:
    """The stage context of a worker process: limits, and profiles loaded once."""

    limits: Limits
    profiles_dir: Path

    def profile(self, name: str) -> Profile:
        """Return a profile (cached per process)."""
        return load_profile(name, self.profiles_dir)


def prepare(work: Work, limits: Limits, profiles_dir: Path) -> Work:
    """Run the prepare stages on one message (in whatever process calls it)."""
    return run_stages(PrepareContext(limits, profiles_dir), work, PREPARE_STAGES)


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the intake process dies, even by SIGKILL.

    Orphaned workers would otherwise wait forever on their queue, holding the pipes and
    files they inherited.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        ctypes.CDLL(libc_name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


class _Deferred(Future[Work]):
    """A future computed when first asked for: the one-process pool, in order, no copies."""

    def __init__(self, compute: Callable[[], Work]) -> None:
        super().__init__()
        self._compute = compute

    def result(self, timeout: float | None = None) -> Work:
        """Compute on first call, then behave like a finished future."""
        if not self.done():
            try:
                self.set_result(self._compute())
            except BaseException as exc:
                self.set_exception(exc)
        return super().result(timeout)


class PreparePool:
    """Runs prepare() for several messages at once when more than one worker is set."""

    def __init__(self, workers: int, limits: Limits, profiles_dir: Path) -> None:
        self.limits = limits
        self.profiles_dir = profiles_dir
        self.workers = workers
        self._executor: Executor | None = None

    @property
    def window(self) -> int:
        """How many messages may be in flight (bounds memory on a large backlog)."""
        return max(1, 2 * self.workers)

    def start(self) -> None:
        """Fork the workers now, before the scheduler's threads and any lock exist."""
        if self.workers > 1 and self._executor is None:
            # fork: workers inherit the loaded code and rules instead of importing again.
            context = multiprocessing.get_context("fork")
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_die_with_parent,
                initargs=(os.getpid(),))
            # With fork, the first submit starts every worker process at once.
            self._executor.submit(int).result()

    def submit(self, work: Work) -> Future[Work]:
        """Start preparing a message; the future yields the Work or raises StageError."""
        if self.workers <= 1:
            return _Deferred(lambda: prepare(work, self.limits, self.profiles_dir))
        self.start()
        assert self._executor is not None
        return self._executor.submit(prepare, work, self.limits, self.profiles_dir)

    def close(self) -> None:
        """Stop the worker processes."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
