"""Named fault points for the crash-safety and fault-injection tests.

``DEROGATION_INTAKE_FAILPOINTS="after_file:3,after_send:1"`` makes the process SIGKILL itself
the 3rd time it passes ``after_file`` and the 1st time it passes ``after_send``. Unset (the
normal case) a failpoint is one dictionary look-up. A kill, not an exception, so that no
``finally`` block or rollback runs: exactly what a power cut or an OOM kill leaves behind.

An item may name another action after ``=``:

- ``kill`` (the default): SIGKILL this process;
- ``hang``: sleep for an hour (a stuck worker, for the time budget to end);
- ``pause``: create ``<name>.paused`` in ``DEROGATION_INTAKE_FAILPOINT_DIR`` and wait until the
  test removes it (so that the test can break a server at exactly this point);
- ``pg_terminate``: (``sql:`` failpoints only) have PostgreSQL terminate the backend that is
  about to run the statement, from another connection.

The worker passes ``prepare/<Message-ID>`` before reading a message, so that one message can
be made to kill or hang its worker: ``prepare/bad-1@example.org:1=hang``. Counts are per
process: a fresh worker counts from one again.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "DEROGATION_INTAKE_FAILPOINTS"
DIR_ENV = "DEROGATION_INTAKE_FAILPOINT_DIR"
ACTIONS = ("kill", "hang", "pause", "pg_terminate")
HANG_SECONDS = 3600
PAUSE_LIMIT_SECONDS = 600  # a test that forgot to let go must not hang the process forever
TERMINATE_WAIT_SECONDS = 60  # a backend that outlives this is left to fail the statement itself
_passes: Counter[str] = Counter()
_COUNT = re.compile(r"^(.*):(\d+)$")


@dataclass(frozen=True)
class Armed:
    """One armed failpoint: the pass on which it fires and what it does then."""

    count: int
    action: str


def armed_points() -> dict[str, Armed]:
    """Return failpoint name -> when and how it fires, from the environment."""
    armed: dict[str, Armed] = {}
    for item in filter(None, (part.strip() for part in os.environ.get(ENV, "").split(","))):
        spec, _, action = item.partition("=")
        match = _COUNT.match(spec)
        name, count = (match.group(1), int(match.group(2))) if match else (spec, 1)
        if (action or "kill") not in ACTIONS:
            raise ValueError(f"{ENV}: unknown action {action!r} in {item!r}")
        armed[name] = Armed(count, action or "kill")
    return armed


def failpoint(name: str) -> str | None:
    """Act if the named failpoint is armed for this pass; return the action taken, if any."""
    if ENV not in os.environ:
        return None
    point = armed_points().get(name)
    if point is None:
        return None
    _passes[name] += 1
    if _passes[name] != point.count:
        return None
    if point.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif point.action == "hang":
        time.sleep(HANG_SECONDS)
    elif point.action == "pause":
        _pause(name)
    return point.action


def _pause(name: str) -> None:
    """Wait until the test removes the marker file of this failpoint."""
    marker = Path(os.environ.get(DIR_ENV, ".")) / f"{_file_safe(name)}.paused"
    marker.write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _file_safe(name: str) -> str:
    """Return the failpoint name as a file name."""
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", name)


def arm_database(engine: Any) -> None:
    """Let ``sql:<table>`` failpoints fire as a statement that writes that table starts.

    ``sql:case_message:2=pg_terminate`` terminates the PostgreSQL backend of the second
    INSERT into ``case_message`` (filing a message), from a second connection, as an
    administrator or a server restart would: the statement then fails as in production.
    """
    points = [n for n in armed_points() if n.startswith("sql:")]
    if not points:
        return
    from sqlalchemy import event

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        for name in points:
            if _writes(statement, name[len("sql:"):]) and failpoint(name) == "pg_terminate":
                _terminate_backend(engine, conn)

    event.listen(engine, "before_cursor_execute", before)


def _writes(statement: str, table: str) -> bool:
    """Tell whether an SQL statement inserts into or updates the table."""
    pattern = rf'^\s*(INSERT\s+INTO|UPDATE)\s+"?{re.escape(table)}"?[\s(]'
    return re.match(pattern, statement, re.IGNORECASE) is not None


def _terminate_backend(engine: Any, conn: Any) -> None:
    """Terminate the backend of ``conn`` from a separate connection, and wait until it is gone."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    pid = conn.connection.dbapi_connection.info.backend_pid
    # Autocommit: PostgreSQL shows the same pg_stat_activity for a whole transaction, so a
    # poll inside one transaction would see the terminated backend alive for ever.
    admin = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + TERMINATE_WAIT_SECONDS
    try:
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            while other.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                {"pid": pid}).scalar() and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        admin.dispose()
