"""Named crash points for the crash-safety tests: the process kills itself where told.

``DEROGATION_INTAKE_FAILPOINTS="after_file:3,after_send:1"`` makes the process SIGKILL itself
the 3rd time it passes ``after_file`` and the 1st time it passes ``after_send``. Unset (the
normal case) a failpoint is one dictionary look-up. A kill, not an exception, so that no
``finally`` block or rollback runs: exactly what a power cut or an OOM kill leaves behind.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "DEROGATION_INTAKE_FAILPOINTS"
_passes: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    """Return failpoint name -> the pass on which to die, from the environment."""
    spec = os.environ.get(ENV, "")
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition(":")
        armed[name] = int(count or "1")
    return armed


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if the named failpoint is armed for this pass."""
    if ENV not in os.environ:
        return
    _passes[name] += 1
    if _armed().get(name) == _passes[name]:
        os.kill(os.getpid(), signal.SIGKILL)
