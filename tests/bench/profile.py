"""Profile one intake cycle with py-spy: where the parent and the workers spend their time.

``python -m tests.bench.profile --messages 200`` (py-spy must be installed in the virtual
environment: ``.venv/bin/pip install py-spy``; it is not a project dependency). The cycle
child of the benchmark runs under ``py-spy record --subprocesses --idle``; the raw samples are
summed per function, split between the parent process (fetch, decide, file, move, send) and
the worker processes (parse, extract). The summary goes to ``bench-results/profile-*.txt``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

from tests.bench import corpus
from tests.bench.harness import REPO, append_all, child_args, install, run_child, servers

RATE = 50
SHOWN = 30
OURS = ("intake/", "parsers/", "triage/", "storage/", "config/")
LINE = re.compile(r":\d+\)$")


def main(argv: list[str] | None = None) -> Path:
    """Run a profiled cycle and write the summary; return its path."""
    parser = argparse.ArgumentParser(prog="tests.bench.profile", description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--build", default="message", choices=sorted(corpus.BUILDERS))
    parser.add_argument("--start", type=int, default=0, help="number of the first message")
    parser.add_argument("--seed-data", type=Path, default=None,
                        help="a data directory to start from (e.g. a benchmark's prefilled "
                             "scale/data, to profile a cycle over a large database)")
    parser.add_argument("--prefill", type=int, default=0,
                        help="cases to file before the profiled cycle (tests.bench.prefill)")
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    parser.add_argument("--output", type=Path, default=REPO / "bench-results")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        raise SystemExit("py-spy not found: .venv/bin/pip install py-spy")
    work = Path(tempfile.mkdtemp(prefix="intake-profile-"))
    paths = corpus.cached(args.cache, args.messages, build=args.build, start=args.start,
                          workers=os.cpu_count() or 1)
    raw = work / "samples.txt"
    with servers(work) as running:
        setup = install(work / "cycle", running)
        if args.seed_data is not None:
            shutil.copytree(args.seed_data, setup.data_dir)
        if args.prefill:
            run_child("prefill", setup, work / "prefill.json", "--cases", str(args.prefill))
        append_all(setup.user, corpus.read_all(paths))
        command = [spy, "record", "--subprocesses", "--idle", "--rate", str(RATE), "--format",
                   "raw", "-o", str(raw), "--",
                   *child_args("cycle", setup, work / "out.json", "--warm")]
        subprocess.run(command, cwd=REPO, env=setup.env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = summarise(raw.read_text(), args.messages)
    args.output.mkdir(parents=True, exist_ok=True)
    out: Path = args.output / f"profile-{datetime.now():%Y%m%d-%H%M%S}.txt"
    out.write_text(text, encoding="utf-8")
    print(text)
    return out


def role_of(frames: list[str]) -> str:
    """Which process and thread a stack is from: the intake's main thread, a worker, other."""
    # A worker is a process of its own (``python -m intake.workers``): py-spy names it in a
    # "process N:<command line>" frame.
    if any(f.startswith("process ") and "-m intake.workers" in f for f in frames):
        return "workers"
    if any(f.startswith("main (") and "tests/bench/child.py" in f for f in frames):
        return "main thread"
    return "other threads"


def summarise(raw: str, messages: int) -> str:
    """Inclusive samples per function of our code and self samples overall, per role."""
    roles = ("main thread", "workers", "other threads")
    inclusive: dict[str, Counter[str]] = {role: Counter() for role in roles}
    leaves: dict[str, Counter[str]] = {role: Counter() for role in roles}
    totals: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [LINE.sub(")", f) for f in stack.split(";")]
        role = role_of(frames)
        totals[role] += int(count)
        for frame in dict.fromkeys(frames):
            inclusive[role][frame] += int(count)
        leaves[role][frames[-1]] += int(count)
    lines = [f"py-spy at {RATE} Hz, {messages} messages; samples: "
             + ", ".join(f"{role} {totals[role]}" for role in roles)
             + " (idle included: waiting shows as time; workers are summed over processes)"]
    for role in roles[:2]:
        lines += _section(role, inclusive[role], leaves[role], totals[role])
    return "\n".join(lines) + "\n"


def _section(role: str, inclusive: Counter[str], leaves: Counter[str], total: int) -> list[str]:
    """The top functions of one role, inclusive (our code) then self (any code)."""
    total = max(total, 1)
    ours = [(f, n) for f, n in inclusive.most_common() if any(o in f for o in OURS)]
    lines = [f"\n== {role}: inclusive, our code (share of the role's samples)"]
    lines += [f"{n / total:6.1%}  {f}" for f, n in ours[:SHOWN]]
    lines.append(f"\n== {role}: self (leaf frames)")
    lines += [f"{n / total:6.1%}  {f}" for f, n in leaves.most_common(SHOWN)]
    return lines


if __name__ == "__main__":
    main()
