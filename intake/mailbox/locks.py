"""Locks that make one process at a time poll a mailbox or drain the outbox.

On PostgreSQL the lock is the database's (an advisory lock), so that it holds across every
machine sharing the database; on SQLite, whose file is local to one machine, it is a lock on
a file of the data directory.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from storage.db import Database


@contextmanager
def mailbox_lock(database: Database, data_dir: Path, mailbox: str) -> Iterator[bool]:
    """Hold an exclusive lock for a mailbox; yield False at once if another process has it."""
    # A POSIX record lock (lockf), not flock: worker processes forked while it is held must
    # not keep it after this process lets go.
    with shared_lock(database, data_dir, f"mailbox:{mailbox}", f"{mailbox}.lock",
                     fcntl.lockf) as held:
        yield held


@contextmanager
def shared_lock(database: Database, data_dir: Path, name: str, file_name: str,
                lock: Callable[[int, int], Any]) -> Iterator[bool]:
    """Hold the lock called name in PostgreSQL, else file_name's file lock (see file_lock)."""
    if database.dialect == "postgresql":
        with database.advisory_lock(name) as held:
            yield held
    else:
        with file_lock(data_dir, file_name, lock) as held:
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
