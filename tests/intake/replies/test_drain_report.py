"""What `poll` prints of several outbox passes: each acknowledgement once, as last left."""

from __future__ import annotations

from intake.replies.outbox import DrainReport


def test_passes_count_each_acknowledgement_once_as_the_last_pass_left_it() -> None:
    total = DrainReport()
    total.add(DrainReport(retried=["a@x", "b@x"]))
    total.add(DrainReport(sent=["a@x"], retried=["c@x"]))
    total.add(DrainReport(retried=["b@x"]))
    assert total.summary() == "outbox: 1 sent, 2 to retry, 0 failed, 0 uncertain"


def test_a_last_pass_that_found_another_sender_says_so_when_nothing_left() -> None:
    total = DrainReport()
    total.add(DrainReport(skipped_locked=True))
    assert total.summary() == "outbox: another process is sending; skipped"
    total.add(DrainReport(sent=["a@x"]))
    assert total.summary().startswith("outbox: 1 sent")
