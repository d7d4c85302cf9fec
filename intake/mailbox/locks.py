"""Locks on files of the data directory: a mailbox's polls, the outbox's sender."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def mailbox_lock(data_dir: Path, mailbox: str) -> Iterator[bool]:
    """Hold an exclusive lock for a mailbox; yield False at once if another process has it."""
    # A POSIX record lock (lockf), not flock: worker processes forked while it is held must
    # not keep it after this process lets go.
    with file_lock(data_dir, f"{mailbox}.lock", fcntl.lockf) as held:
        yield held


@contextmanager
def file_lock(data_dir: Path, name: str, lock: Callable[[int, int], Any]) -> Iterator[bool]:
    """Hold lock (fcntl.lockf or fcntl.flock) on a file of data_dir/locks, without waiting.

    Yields False at once when someone else holds it. The kernel drops the lock when the
    process dies: a crash never leaves it stuck.
    """
    folder = data_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            lock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EAGAIN or EACCES: held elsewhere
            yield False
            return
        yield True
    finally:
        os.close(fd)
