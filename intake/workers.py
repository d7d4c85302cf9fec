"""Parsing and extraction in a pool of worker processes, results taken in mailbox order.

Only the pure *prepare* stages run in the workers; filing, replies and the mailbox stay in
the calling process, one message at a time in UID order, so crash safety is unchanged.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass

from config.profiles import Profile, load_profile
from intake.stages import PREPARE_STAGES, run_stages
from intake.work import Work
from parsers.records import Limits


@dataclass(frozen=True)
class PrepareContext:
    """The stage context of a worker process: limits, and profiles loaded once."""

    limits: Limits

    def profile(self, name: str) -> Profile:
        """Return a profile (cached per process)."""
        return load_profile(name)


def prepare(work: Work, limits: Limits) -> Work:
    """Run the prepare stages on one message (in whatever process calls it)."""
    return run_stages(PrepareContext(limits), work, PREPARE_STAGES)


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

    def __init__(self, workers: int, limits: Limits) -> None:
        self.limits = limits
        self.workers = workers
        self._executor: Executor | None = None

    @property
    def window(self) -> int:
        """How many messages may be in flight (bounds memory on a large backlog)."""
        return max(1, 2 * self.workers)

    def submit(self, work: Work) -> Future[Work]:
        """Start preparing a message; the future yields the Work or raises StageError."""
        if self.workers <= 1:
            return _Deferred(lambda: prepare(work, self.limits))
        if self._executor is None:
            # fork: workers inherit the loaded code and rules instead of importing again.
            context = multiprocessing.get_context("fork")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._executor.submit(prepare, work, self.limits)

    def close(self) -> None:
        """Stop the worker processes."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
