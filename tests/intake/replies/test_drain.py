"""One outbox pass over several acknowledgements: each leaves once, in order, and one that a
person cancels while the pass is under way is skipped without stopping the rest.

The pass runs on a real database (each backend) and hands over to the Maildir outbox, the
delivery `make run` uses; only the hand-over is watched, to act at the moment it happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select

from intake.replies.delivery import Delivery
from intake.replies.outbox import cancel_outgoing, drain_outbox
from intake.runtime import Runtime
from storage.cases import create_case
from storage.models import OutgoingMessage
from storage.outbox import outbox_add
from tests.storage.factories import APPLICANT, triage


class Watched:
    """The runtime's own delivery, with something done as each message is handed over."""

    def __init__(self, inner: Delivery, on_send: dict[int, Callable[[], None]]) -> None:
        self.inner = inner
        self.on_send = on_send
        self.handed: list[str] = []

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Hand over, then run what was asked for after this many hand-overs."""
        reply = self.inner.send(raw, sender, recipients)
        self.handed.append(recipients[0])
        action = self.on_send.get(len(self.handed))
        if action is not None:
            action()
        return reply

    def contains(self, message_id: str) -> bool:
        """As the delivery says."""
        return self.inner.contains(message_id)

    def close(self) -> None:
        """As the delivery does."""
        self.inner.close()


def queue(rt: Runtime, count: int) -> list[int]:
    """Queue one acknowledgement to each of ``count`` applicants; return the rows' ids."""
    ids = []
    with rt.database.session() as s:
        for n in range(1, count + 1):
            case = create_case(s, f"BE-2025-{n:06d}", triage(), "subject", APPLICANT)
            raw = (f"From: derogation.meddev@fagg-afmps.be\r\nTo: applicant{n}@example.org\r\n"
                   f"Message-ID: <ack-{n}@famhp.example>\r\nSubject: BE-2025-{n:06d}\r\n\r\n"
                   "Received.\r\n").encode()
            row = outbox_add(s, case=case, case_message=None,
                             message_id=f"<ack-{n}@famhp.example>",
                             recipient=f"applicant{n}@example.org", subject=f"BE-2025-{n:06d}",
                             kind="ack_incomplete", raw=raw, held=False)
            ids.append(row.id)
    return ids


def states(rt: Runtime) -> list[tuple[str, str, int]]:
    """Each outbox row's recipient, state and attempts, oldest first."""
    with rt.database.session() as s:
        rows = s.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id))
        return [(r.recipient, r.state, r.attempts) for r in rows]


def test_a_backlog_of_acknowledgements_leaves_each_once_in_order(runtime: Runtime) -> None:
    queue(runtime, 5)
    watched = Watched(runtime.delivery, {})
    runtime.delivery = watched
    report = drain_outbox(runtime)
    assert watched.handed == [f"applicant{n}@example.org" for n in range(1, 6)]
    assert states(runtime) == [(f"applicant{n}@example.org", "sent", 1) for n in range(1, 6)]
    assert len(report.sent) == 5
    assert drain_outbox(runtime).sent == []  # nothing is left to send


def test_an_ack_cancelled_while_the_one_before_leaves_is_skipped_and_the_rest_go(
        runtime: Runtime) -> None:
    ids = queue(runtime, 4)

    def cancel_the_second() -> None:  # a reviewer, while the first is being handed over
        cancel_outgoing(runtime.database, [ids[1]], actor="a.reviewer", note="sent by hand")

    watched = Watched(runtime.delivery, {1: cancel_the_second})
    runtime.delivery = watched
    report = drain_outbox(runtime)
    assert watched.handed == ["applicant1@example.org", "applicant3@example.org",
                              "applicant4@example.org"]
    assert states(runtime) == [("applicant1@example.org", "sent", 1),
                               ("applicant2@example.org", "suppressed", 0),
                               ("applicant3@example.org", "sent", 1),
                               ("applicant4@example.org", "sent", 1)]
    assert sorted(report.sent) == ["ack-1@famhp.example", "ack-3@famhp.example",
                                   "ack-4@famhp.example"]


def test_at_each_hand_over_only_that_acknowledgement_is_sending(runtime: Runtime) -> None:
    # A crash during a hand-over must leave one row uncertain, never two: the one before is
    # recorded as sent before the next is handed over.
    queue(runtime, 4)
    seen: list[list[str]] = []

    def look() -> None:
        seen.append([state for _, state, _ in states(runtime)])

    runtime.delivery = Watched(runtime.delivery, {n: look for n in range(1, 5)})
    drain_outbox(runtime)
    assert seen == [["sending", "pending", "pending", "pending"],
                    ["sent", "sending", "pending", "pending"],
                    ["sent", "sent", "sending", "pending"],
                    ["sent", "sent", "sent", "sending"]]
    assert [state for _, state, _ in states(runtime)] == ["sent"] * 4
