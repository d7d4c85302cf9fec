"""The benchmark's child processes: each measures one thing in a process of its own.

``python -m tests.bench.child COMMAND --config FILE --out RESULT.json``:
- ``cycle``: what ``poll --once`` does (open the runtime, one cycle of every mailbox, one
  outbox pass), timed step by step;
- ``floor``: the floor pass of ``tests.bench.floor`` over the first mailbox;
- ``prefill``: file ``--cases`` cases through ``tests.bench.prefill`` (beyond ``--seeds``,
  bulk copies of them).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the heavy imports: start-up includes them

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from config.settings import Settings, load_settings  # noqa: E402


def main() -> None:
    """Parse the arguments, run the command, write its JSON result."""
    parser = argparse.ArgumentParser(prog="tests.bench.child")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=0)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=0,
                        help="prefill: cases filed by the pipeline, the rest copied "
                             "(default: tests.bench.prefill.SEEDS)")
    parser.add_argument("--warm", action="store_true",
                        help="cycle: load the NLP models before the clock starts, as `run` does "
                             "(their one-off loading then counts as start-up)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    result = COMMANDS[args.command](load_settings(args.config), args)
    # Not RUSAGE_SELF: Linux carries ru_maxrss across exec, so it would include the
    # harness's size at fork time. VmHWM belongs to this process image alone.
    result["maxrss_self_mb"] = vm_hwm_kb() / 1024
    result["maxrss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


def vm_hwm_kb() -> int:
    """This process's peak resident set size (VmHWM of /proc/self/status), in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cycle(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """One intake cycle of every mailbox and one outbox pass, as ``poll --once``.

    As there, each acknowledgement leaves once its case is committed (``acknowledging``);
    ``drain_s`` is what the sending takes after the cycle ended.
    """
    from intake.pipeline import poll_mailbox
    from intake.replies.outbox import DrainReport
    from intake.replies.sender import acknowledging
    from intake.runtime import open_runtime

    runtime = open_runtime(settings)
    # As `run` does (beside the intake there): the models' load is start-up, not a message's.
    warmed = runtime.warm_up_triage() if args.warm else 0.0
    opened, cpu_opened = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    main_opened = time.thread_time()
    drained = DrainReport()
    counts = DatabaseCounts()
    try:
        with acknowledging(runtime, drained.add), counts.counting():
            reports = [poll_mailbox(runtime, mailbox) for mailbox in settings.mailboxes]
            polled, main_polled = time.perf_counter(), time.thread_time()
        sent, cpu_sent = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    finally:
        runtime.close()  # reaps the workers: their CPU time is then the children's
    return {"startup_s": opened - STARTED - warmed, "warm_s": warmed,
            "intake_cpu_s": cpu_sent - cpu_opened, "main_thread_cpu_s": main_polled - main_opened,
            "workers_cpu_s": cpu_seconds(resource.RUSAGE_CHILDREN),
            "cycle_s": polled - opened, "drain_s": sent - polled,
            "filed": sum(len(r.filed) for r in reports),
            "cases": sum(1 for r in reports for f in r.filed if f.case_ref),
            "failed": sum(len(r.failed) for r in reports),
            "duplicates": sum(r.duplicates for r in reports),
            "sent": len(drained.sent), "not_sent": len(drained.retried) + len(drained.failed),
            "transactions": dict(counts.transactions), "statements": dict(counts.statements)}


class DatabaseCounts:
    """Database transactions begun and statements sent, per thread (the intake's main
    thread, the sender...).

    Counts, not times: they do not move with the machine's load, so they show what a change
    to the work per message did where the timings' noise hides it.
    """

    def __init__(self) -> None:
        self.transactions: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()

    def begun(self, _connection: Any) -> None:
        """Count one transaction of the current thread."""
        self.transactions[threading.current_thread().name] += 1

    def sent(self, *_: Any) -> None:
        """Count one statement (one round trip: a batch of rows is one) of the thread."""
        self.statements[threading.current_thread().name] += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count every engine's transactions and statements inside the block."""
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "begin", self.begun)
        event.listen(Engine, "before_cursor_execute", self.sent)
        try:
            yield
        finally:
            event.remove(Engine, "before_cursor_execute", self.sent)
            event.remove(Engine, "begin", self.begun)


def floor(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Choose the faster PDF engine on a sample, then time the floor pass."""
    from itertools import islice

    from tests.bench.floor import engine_timings, fetch_all, floor_pass

    mailbox = settings.mailboxes[0]
    assert mailbox.password is not None
    login: dict[str, Any] = {"host": mailbox.host, "port": mailbox.port, "user": mailbox.username,
             "password": mailbox.password.reveal(), "folder": mailbox.folder}
    timings = engine_timings(list(islice(fetch_all(**login), 8)))
    engine = min(timings, key=timings.__getitem__)
    cpu_before = cpu_seconds(resource.RUSAGE_SELF)
    result = floor_pass(login, engine, settings.extraction.worker_count())
    return {**result, "seconds_per_page": timings,
            "intake_cpu_s": cpu_seconds(resource.RUSAGE_SELF) - cpu_before,
            "workers_cpu_s": cpu_seconds(resource.RUSAGE_CHILDREN)}


def cpu_seconds(who: int) -> float:
    """User plus system CPU seconds of this process or of its reaped children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def prefill(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """File ``--cases`` cases, numbered from ``--first``, straight into the database; count
    the rows of each table and the duplicates of each unique column afterwards."""
    from intake.runtime import open_runtime
    from tests.bench.prefill import SEEDS, census
    from tests.bench.prefill import prefill as fill

    runtime = open_runtime(settings)
    started = time.perf_counter()
    try:
        opened = fill(runtime, settings.mailboxes[0].profile, args.first, args.cases,
                      args.seeds or SEEDS)
        seconds = time.perf_counter() - started
        counted = census(runtime.database.engine)
    finally:
        runtime.close()
    return {"cases": opened, "seconds": seconds, **counted}


COMMANDS = {"cycle": cycle, "floor": floor, "prefill": prefill}


if __name__ == "__main__":
    main()
