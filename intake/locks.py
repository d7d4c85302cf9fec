"""A per-mailbox lock so that two polls of one mailbox never overlap, even across processes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def mailbox_lock(data_dir: Path, mailbox: str) -> Iterator[bool]:
    """Hold an exclusive lock for a mailbox; yield False at once if another process has it."""
    folder = data_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{mailbox}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            # A POSIX record lock (lockf), not flock: worker processes forked while it is
            # held must not keep it after this process lets go.
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        # The kernel drops the lock when the process dies: a crash never leaves it stuck.
        yield True
    finally:
        os.close(fd)
