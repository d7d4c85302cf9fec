"""The benchmark harness runs end to end with tiny sizes and reports every metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.run import TARGETS, main

TINY = ["--messages", "6", "--latency-messages", "2", "--backlogs", "3,6",
        "--large-mb", "2", "--scale-cases", "4,12", "--scale-seeds", "4", "--scale-batch", "3",
        "--scale-repeats", "1"]


@pytest.mark.slow
def test_a_tiny_run_writes_every_metric(tmp_path: Path) -> None:
    path = main([*TINY, "--cache", str(tmp_path / "cache"), "--output",
                 str(tmp_path / "results"), "--work", str(tmp_path / "work")])
    results = json.loads(path.read_text())

    throughput = results["throughput"]
    assert throughput["pipeline"]["messages_per_s"] > 0
    assert throughput["floor"]["messages_per_s"] > 0
    cpu = throughput["cpu_ms_per_message"]  # the pipeline reads more than the floor does
    assert cpu["pipeline"] > cpu["floor"] > 0 and throughput["ratio_cpu_pipeline_floor"] > 1
    assert throughput["acknowledged"] == throughput["expected_acknowledgements"] == 6
    # Keeping, filing and moving on the intake's main thread; the sender's apart from them.
    begun = throughput["pipeline"]["transactions"]
    assert begun["MainThread"] >= 3 and sum(begun.values()) > begun["MainThread"]
    sent = throughput["pipeline"]["statements"]  # at least a statement a transaction
    assert all(sent[thread] >= n for thread, n in begun.items())
    assert results["latency"]["count"] == 2 and results["latency"]["p95_s"] > 0
    assert len(results["latency"]["first_per_language_s"]) == 3  # en, fr, nl
    memory = results["memory"]
    assert {"large_attachment", "backlog_3", "backlog_6", "backlog_10000"} <= set(memory)
    assert memory["large_attachment"]["failed"] == 0
    assert all(memory[k]["peak_rss_mb"] > 0 for k in ("large_attachment", "backlog_3", "backlog_6"))
    scale = results["scale"]
    assert scale["at_12"]["s_per_message"] > 0
    # 12 cases: the 4 filed by the pipeline and two copies of them, every table alike
    filed, copied = scale["at_4"]["rows"], scale["at_12"]["rows"]
    assert filed["case"] == 4 and all(copied[t] == 3 * filed[t] > 0 for t in filed)
    assert not any(scale["at_12"]["duplicates"].values())
    assert results["cli"]["help_cpu_s"]["median"] > 0  # the start-up of a typed command
    assert set(results["targets"]) == set(TARGETS)  # every target judged
