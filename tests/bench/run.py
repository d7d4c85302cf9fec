"""The intake benchmark: throughput against a floor, push latency, memory and database scale.

Run ``make bench`` (``.venv/bin/python -m tests.bench.run``; ``--help`` for the sizes). It
starts its own Dovecot and SMTP servers on loopback, generates (or reuses) the corpus of
``tests.bench.corpus``, and writes ``bench-results/<timestamp>.json`` and a short table. Each
figure comes from a child process of its own (``tests.bench.child``); see
docs/benchmarks.md for what each one means and the figures measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from tests.bench import bench_ocr, corpus
from tests.bench.harness import (
    Child,
    Install,
    Servers,
    append_all,
    background,
    cli_args,
    install,
    load_average,
    percentile,
    run_child,
    servers,
    wait_for_log,
)

RESULTS = corpus.REPO / "bench-results"
PHASES = ("cli", "throughput", "latency", "memory", "scale", "ocr")
# Issue 18's targets: `run` taking mail within 3 s, p95 acknowledgement within 0.5 s.
TARGETS = {"cli_help_cpu_s": 1.0, "ratio_pipeline_floor": 2.0, "run_ready_s": 3.0,
           "latency_p95_s": 0.5, "large_attachment_rss_mb": 250.0, "backlog_rss_growth": 1.10,
           "scale_slowdown": 1.10}
READY_TIMEOUT = 180
ACK_TIMEOUT = 120
SCALE_BASE = 5_000_000  # corpus numbers of the scale batches, apart from every other use


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's sizes and where it writes."""
    parser = argparse.ArgumentParser(prog="tests.bench.run", description=__doc__)
    parser.add_argument("--messages", type=int, default=1000,
                        help="corpus messages for throughput and the floor (default 1000)")
    parser.add_argument("--latency-messages", type=int, default=20)
    parser.add_argument("--backlogs", default="100,1000",
                        help="backlog sizes whose peak RSS is compared (small messages)")
    parser.add_argument("--backlog-10k", action="store_true",
                        help="add the 10,000-message backlog (long: its estimate is printed)")
    parser.add_argument("--large-mb", type=int, default=50)
    parser.add_argument("--scale-cases", default="1000,10000",
                        help="database sizes (cases already filed) at which a batch is timed")
    parser.add_argument("--scale-seeds", type=int, default=1000,
                        help="cases filed through the pipeline at each size; the rest are "
                             "copies of them made in SQL (tests/bench/prefill.py)")
    parser.add_argument("--scale-batch", type=int, default=100)
    parser.add_argument("--scale-repeats", type=int, default=3,
                        help="batches timed per database size; the best counts")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--cache", type=Path, default=corpus.DEFAULT_CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=None,
                        help="where installations live (default: a temporary directory)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    """Run the phases asked for; write the JSON and print the table; return the JSON's path."""
    args = parse_args(argv)
    # SIGTERM ends the run through the finally blocks: the servers are stopped, not orphaned.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> Path:
    """Start the servers, run each phase, write the results."""
    work = args.work or Path(tempfile.mkdtemp(prefix="intake-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "machine": machine(),
                               "settings": {k: str(v) for k, v in vars(args).items()}}
    with servers(work) as running:
        for phase in args.phases.split(","):
            say(f"phase {phase} (load {load_average()})")
            results[phase] = PHASE_FUNCTIONS[phase](args, running, work / phase)
    results["machine"]["load_after"] = load_average()
    results["targets"] = verdicts(results)
    return write(results, args.output)


def machine() -> dict[str, Any]:
    """The machine and the code the figures come from."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "load_before": load_average(),
            "commit": git("rev-parse", "HEAD"),
            "changed_files": git("status", "--porcelain", "--untracked-files=no").splitlines()}


def git(*args: str) -> str:
    """The output of a git command in the repository ('' when git is not there)."""
    try:
        done = subprocess.run(["git", *args], cwd=corpus.REPO, capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError:
        return ""
    return done.stdout.strip()


def say(text: str) -> None:
    """Progress on stderr."""
    print(f"[bench {datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)


# --- throughput and floor ------------------------------------------------------------------

def throughput(args: argparse.Namespace, running: Servers, root: Path) -> dict[str, Any]:
    """N corpus messages end to end, and the floor pass over the same messages first."""
    paths = corpus.cached(args.cache, args.messages, workers=os.cpu_count() or 1)
    setup = install(root, running)
    appended = append_all(setup.user, corpus.read_all(paths))
    before = len(running.smtp.received)
    floor = run_child("floor", setup, root / "floor.json")
    say(f"floor: {floor.result['seconds']:.1f} s; pipeline now")
    pipeline = run_child("cycle", setup, root / "cycle.json", "--warm")
    acks = len(running.smtp.received) - before
    return summarise_throughput(args.messages, appended, floor, pipeline, acks)


def summarise_throughput(count: int, appended: float, floor: Child, pipeline: Child,
                         acks: int) -> dict[str, Any]:
    """Messages per second of the pipeline and the floor, and their ratio."""
    p = pipeline.result
    work_s = p["cycle_s"] + p["drain_s"]
    return {
        "messages": count, "append_s": appended, "acknowledged": acks,
        "expected_acknowledgements": corpus.acknowledged_count(count),
        "pipeline": {**p, "process_s": pipeline.seconds, "work_s": work_s,
                     "messages_per_s": count / work_s,
                     "messages_per_s_with_startup": count / pipeline.seconds,
                     "peak_rss_mb": peak_rss_mb(pipeline), "tree_rss_mb": pipeline.tree_rss_mb},
        "floor": {**floor.result, "messages_per_s": count / floor.result["seconds"]},
        "ratio_pipeline_floor": work_s / floor.result["seconds"],
        # CPU seconds of the intake process and its workers (the servers' not included):
        # what the ratio is made of on a machine whose cores are all busy.
        "cpu_ms_per_message": {"pipeline": cpu_ms(p, count), "floor": cpu_ms(floor.result, count)},
        "ratio_cpu_pipeline_floor": cpu_ms(p, count) / max(cpu_ms(floor.result, count), 1e-9),
    }


def cpu_ms(result: dict[str, Any], count: int) -> float:
    """CPU milliseconds per message of a child and its workers."""
    return 1000 * (result["intake_cpu_s"] + result["workers_cpu_s"]) / count


# --- latency -------------------------------------------------------------------------------

def latency(args: argparse.Namespace, running: Servers, root: Path) -> dict[str, Any]:
    """APPEND one message at a time and time until its acknowledgement reaches SMTP.

    The first message of each language after start-up is sent first and reported apart:
    it would show a model still loading (``run`` loads them all before intake starts).
    """
    warm, timed = latency_messages(args)
    setup = install(root, running, poll_interval=3600)
    started = time.perf_counter()
    with background(cli_args(setup, "run"), setup, "run") as (process, log), \
            appender(setup) as append:
        # Ready: IDLE is listening, so a message appended now is taken at once.
        wait_for_log(log, ("push connection open",), process, READY_TIMEOUT)
        ready = time.perf_counter() - started
        wait_for_log(log, ("job poll famhp: done", "language models loaded"), process,
                     READY_TIMEOUT)
        first = [one_latency(append, running, path.read_bytes(), log) for path in warm]
        samples = [one_latency(append, running, path.read_bytes(), log) for path in timed]
    return {"mode": "derogation-intake run", "ready_s": ready, "count": len(samples),
            "p50_s": percentile(samples, 0.5), "p95_s": percentile(samples, 0.95),
            "max_s": max(samples), "samples_s": samples, "first_per_language_s": first}


def latency_messages(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """The warm-up requests (one per language) and the acknowledged messages to time."""
    count = args.latency_messages * 2 + 2 * len(corpus.PATTERN)
    paths = corpus.cached(args.cache, count, workers=os.cpu_count() or 1)
    warm: dict[str, int] = {}
    for i in range(count):
        if corpus.kind_of(i) == "request":
            warm.setdefault(corpus.request_of(i).lang, i)
    timed = [i for i in range(count)
             if corpus.kind_of(i) in corpus.ACKNOWLEDGED and i not in warm.values()]
    return ([paths[i] for i in sorted(warm.values())],
            [paths[i] for i in timed[:args.latency_messages]])


@contextmanager
def appender(setup: Install) -> Iterator[Callable[[bytes], object]]:
    """An IMAP connection that APPENDs to the INBOX (logged in beforehand: not timed)."""
    imap = IMAPClient(setup.user.host, setup.user.port, ssl=False, timeout=ACK_TIMEOUT)
    imap.login(setup.user.user, setup.user.password)
    try:
        yield lambda data: imap.append("INBOX", data)
    finally:
        imap.logout()


def one_latency(append: Callable[[bytes], object], running: Servers, data: bytes,
                log: Path) -> float:
    """APPEND one message; return the seconds until its acknowledgement was received."""
    expected = len(running.smtp.received) + 1
    started = time.perf_counter()
    append(data)
    try:
        running.smtp.wait_for(expected, timeout=ACK_TIMEOUT)
    except AssertionError as exc:
        raise RuntimeError(f"{exc}; the runner's log ends:\n"
                           f"{log.read_text(errors='replace')[-3000:]}") from exc
    seconds = time.perf_counter() - started
    time.sleep(1.0)  # one message at a time: let the cycle finish its tail (Sent copy)
    return seconds


# --- memory --------------------------------------------------------------------------------

def memory(args: argparse.Namespace, running: Servers, root: Path) -> dict[str, Any]:
    """Peak RSS with one large attachment, and over backlogs of small messages."""
    result: dict[str, Any] = {"large_attachment": large_attachment(args, running, root)}
    sizes = [int(n) for n in args.backlogs.split(",") if n]
    if args.backlog_10k:
        sizes.append(10_000)
    for size in sizes:
        result[f"backlog_{size}"] = backlog(args, running, root / f"backlog-{size}", size)
    if not args.backlog_10k and sizes:
        last = result[f"backlog_{sizes[-1]}"]
        minutes = (last["append_s"] + last["process_s"]) * 10_000 / sizes[-1] / 60
        result["backlog_10000"] = {"skipped": f"pass --backlog-10k (estimated {minutes:.0f} min)"}
    return result


def large_attachment(args: argparse.Namespace, running: Servers, root: Path) -> dict[str, Any]:
    """One request carrying a ``--large-mb`` MB PDF (40 scanned pages)."""
    data = corpus.large_message(args.large_mb)
    setup = install(root / "large", running)
    append_all(setup.user, [data])
    child = run_child("cycle", setup, root / "large.json")
    return {"message_mb": len(data) / 2**20, **measured(child)}


def backlog(args: argparse.Namespace, running: Servers, root: Path, size: int) -> dict[str, Any]:
    """A backlog of ``size`` small requests taken in one cycle."""
    paths = corpus.cached(args.cache, size, build="small", workers=os.cpu_count() or 1)
    setup = install(root, running)
    appended = append_all(setup.user, corpus.read_all(paths))
    child = run_child("cycle", setup, root / "cycle.json")
    return {"messages": size, "append_s": appended, **measured(child),
            "s_per_message": child.result["cycle_s"] / size}


def peak_rss_mb(child: Child) -> float:
    """The peak RSS of the largest process: the intake process or one of its workers."""
    return max(float(child.result["maxrss_self_mb"]), float(child.result["maxrss_children_mb"]))


def measured(child: Child) -> dict[str, Any]:
    """The memory and time figures of a cycle child."""
    return {"peak_rss_mb": peak_rss_mb(child), "tree_rss_mb": child.tree_rss_mb,
            "tree_pss_mb": child.tree_pss_mb, "process_s": child.seconds,
            "parent_maxrss_mb": child.result["maxrss_self_mb"],
            "workers_maxrss_mb": child.result["maxrss_children_mb"],
            "cycle_s": child.result["cycle_s"], "filed": child.result["filed"],
            "failed": child.result["failed"]}


# --- scale ---------------------------------------------------------------------------------

def scale(args: argparse.Namespace, running: Servers, root: Path) -> dict[str, Any]:
    """Time per message of a batch at each database size (cases filed beforehand).

    One installation per size, batches taken in turn (1,000, 10,000, 1,000, ...) so that a
    change of the machine's load touches every size alike; the best batch of each counts.
    Beyond ``--scale-seeds`` cases, the pre-filling copies the seeds' rows in bulk.
    """
    sizes = sorted(int(n) for n in args.scale_cases.split(","))
    setups = {size: install(root / f"at-{size}", running) for size in sizes}
    result: dict[str, Any] = {"batch": args.scale_batch, "repeats": args.scale_repeats,
                              "seeds": args.scale_seeds}
    for size, setup in setups.items():
        child = run_child("prefill", setup, setup.root / "prefill.json", "--cases", str(size),
                          "--seeds", str(args.scale_seeds))
        database = setup.data_dir / "intake.sqlite3"
        mb = database.stat().st_size / 2**20 if database.exists() else 0.0
        say(f"prefilled {size} cases ({child.result['seconds']:.0f} s, {mb:.0f} MB)")
        result[f"at_{size}"] = {"prefill_s": child.result["seconds"], "database_mb": mb,
                                "rows": child.result["rows"],
                                "duplicates": child.result["duplicates"],
                                "s_per_message_runs": []}
    for repeat in range(args.scale_repeats):
        for number, (size, setup) in enumerate(setups.items()):
            seconds = scale_batch(args, setup, repeat * len(setups) + number)
            result[f"at_{size}"]["s_per_message_runs"].append(seconds)
    for size in sizes:
        result[f"at_{size}"]["s_per_message"] = min(result[f"at_{size}"]["s_per_message_runs"])
    return result


def scale_batch(args: argparse.Namespace, setup: Install, number: int) -> float:
    """APPEND a batch of new small requests, take them in one cycle and send the
    acknowledgements; return the seconds per message (start-up and NLP loading excluded)."""
    first = SCALE_BASE + number * args.scale_batch
    paths = corpus.cached(args.cache, args.scale_batch, build="small", start=first,
                          workers=os.cpu_count() or 1)
    append_all(setup.user, corpus.read_all(paths))
    child = run_child("cycle", setup, setup.root / "cycle.json", "--warm")
    seconds = float(child.result["cycle_s"]) + float(child.result["drain_s"])
    return seconds / int(args.scale_batch)


def ocr(args: argparse.Namespace, running: Servers, root: Path) -> dict[str, Any]:
    """Seconds per scanned page and a worker's peak memory doing OCR (apart from the floor)."""
    return bench_ocr.measure(root)


def cli(args: argparse.Namespace, running: Servers, root: Path) -> dict[str, Any]:
    """CPU seconds (user + system) of commands a person types, best and median of five."""
    root.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "intake.commands.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEROGATION_INTAKE_")}
    env["DEROGATION_INTAKE_GENERAL__DATA_DIR"] = str(root / "data")
    found: dict[str, Any] = {}
    for name, extra in (("help", ["--help"]), ("version", ["--version"]),
                        ("cases_list", ["cases", "list"])):
        times = sorted(_child_cpu([*command, *extra], env, root) for _ in range(5))
        found[f"{name}_cpu_s"] = {"best": round(times[0], 3), "median": round(times[2], 3)}
    return found


def _child_cpu(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """The user and system CPU seconds one run of a command took (its children's rusage)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


PHASE_FUNCTIONS: dict[str, Callable[[argparse.Namespace, Servers, Path], dict[str, Any]]] = {
    "cli": cli, "throughput": throughput, "latency": latency, "memory": memory,
    "scale": scale, "ocr": ocr}


# --- verdicts and output -------------------------------------------------------------------

def verdicts(results: dict[str, Any]) -> dict[str, Any]:
    """Each target with the measured figure and whether it is met."""
    found: dict[str, Any] = {}
    for name, figure in measured_figures(results):
        if figure is not None:
            found[name] = {"target": TARGETS[name], "measured": figure,
                           "met": figure < TARGETS[name] if name.startswith(("latency", "large"))
                           else figure <= TARGETS[name]}
    return found


def measured_figures(results: dict[str, Any]) -> Iterator[tuple[str, float | None]]:
    """The figure each target is judged on (None when its phase did not run)."""
    yield "cli_help_cpu_s", results.get("cli", {}).get("help_cpu_s", {}).get("median")
    yield "ratio_pipeline_floor", results.get("throughput", {}).get("ratio_pipeline_floor")
    yield "run_ready_s", results.get("latency", {}).get("ready_s")
    yield "latency_p95_s", results.get("latency", {}).get("p95_s")
    memory = results.get("memory", {})
    yield "large_attachment_rss_mb", memory.get("large_attachment", {}).get("peak_rss_mb")
    backlogs = backlog_runs(memory)
    yield "backlog_rss_growth", (backlogs[-1][1]["peak_rss_mb"] / backlogs[0][1]["peak_rss_mb"]
                                 if len(backlogs) > 1 else None)
    sizes = sorted((int(k.split("_")[1]), v) for k, v in results.get("scale", {}).items()
                   if k.startswith("at_"))
    yield "scale_slowdown", (sizes[-1][1]["s_per_message"] / sizes[0][1]["s_per_message"]
                             if len(sizes) > 1 else None)


def backlog_runs(memory: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The memory phase's backlogs, smallest first: (messages, their figures)."""
    return sorted((int(k.split("_")[1]), v) for k, v in memory.items()
                  if k.startswith("backlog_") and "peak_rss_mb" in v)


def write(results: dict[str, Any], output: Path) -> Path:
    """Write the JSON file and print the table."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(table(results))
    print(f"\nresults: {path}")
    return path


def table(results: dict[str, Any]) -> str:
    """A short table: each target, the figure, met or not; then the main numbers."""
    lines = [f"machine: {results['machine']['cpus']} cores, load before "
             f"{results['machine']['load_before']}, after {results['machine']['load_after']}"]
    for name, verdict in results["targets"].items():
        lines.append(f"{name:26} {verdict['measured']:10.3f}  target "
                     f"{'<' if name.startswith(('latency', 'large')) else '<='} "
                     f"{verdict['target']:<8} {'met' if verdict['met'] else 'MISSED'}")
    t = results.get("throughput")
    if t:
        lines.append(f"throughput: {t['pipeline']['messages_per_s']:.2f} msg/s pipeline "
                     f"({t['pipeline']['messages_per_s_with_startup']:.2f} with start-up), "
                     f"{t['floor']['messages_per_s']:.2f} msg/s floor ({t['floor']['engine']}), "
                     f"{t['acknowledged']}/{t['expected_acknowledgements']} acknowledged")
        p, count = t["pipeline"], t["messages"]
        lines.append(f"CPU a message: {t['cpu_ms_per_message']['pipeline']:.1f} ms pipeline "
                     f"(intake {1000 * p['intake_cpu_s'] / count:.1f}, of which its main "
                     f"thread {1000 * p.get('main_thread_cpu_s', 0.0) / count:.1f}; workers "
                     f"{1000 * p['workers_cpu_s'] / count:.1f}), "
                     f"{t['cpu_ms_per_message']['floor']:.1f} ms floor; cycle "
                     f"{p['cycle_s']:.1f} s, then sending {p['drain_s']:.1f} s")
        for counted in ("transactions", "statements"):
            by_thread = t["pipeline"].get(counted) or {}
            lines.append(f"{counted} a message: " + ", ".join(
                f"{thread} {n / t['messages']:.2f}" for thread, n in sorted(by_thread.items())))
    backlogs = backlog_runs(results.get("memory", {}))
    if backlogs:  # the time too: a cost that grows with the backlog shows here
        lines.append("backlogs: " + "; ".join(
            f"{n:,} messages {1000 * b['s_per_message']:.1f} ms a message, peak "
            f"{b['peak_rss_mb']:.0f} MB" for n, b in backlogs))
    if results.get("ocr"):
        lines.append(bench_ocr.render(results["ocr"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
