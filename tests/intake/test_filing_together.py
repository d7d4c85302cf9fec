"""Messages filed together in one transaction: one that fails leaves nothing behind, and
the others of its group are filed and acknowledged as if each had been filed alone.

A unit test of the filing step (``intake.pipeline._file_run``) on a real database (each
backend), with real messages prepared by the real stages; only the composing of one
acknowledgement is made to fail, after that message's case and rows were written.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from config.errors import IntakeError
from intake.pipeline import CycleReport, _file_run
from intake.replies.compose import compose_acknowledgement
from intake.runtime import Runtime
from intake.work import Work
from intake.workers import prepare
from parsers.headers import raw_message_id
from storage.ledger import ledger_record
from storage.models import Case, CaseMessage, Ledger, OutgoingMessage
from storage.records import MailboxKey, RawMessage
from tests.intake.e2e import labelled

NAMES = ("cu_en_complete_manufacturer", "enq_nl_documents", "nd_fr_complete_ivdr")


def prepared(rt: Runtime) -> list[tuple[Ledger, Future[Work] | None]]:
    """Keep the messages on the ledger and prepare them, as the cycle's workers do."""
    entries: list[tuple[Ledger, Future[Work] | None]] = []
    for uid, name in enumerate(NAMES, start=1):
        raw = labelled(name)
        key = MailboxKey("famhp", "INBOX", 1, uid)
        with rt.database.session() as s:
            row = ledger_record(s, RawMessage(key, raw, datetime.now(UTC)), raw_message_id(raw),
                                rt.blobs)
        future: Future[Work] = Future()
        future.set_result(prepare(Work(row.id, key, "famhp", raw), rt.limits,
                                  rt.settings.general.profiles_dir))
        entries.append((row, future))
    return entries


def test_a_message_that_fails_in_a_group_leaves_nothing_and_the_others_are_filed(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = prepared(runtime)
    broken = raw_message_id(labelled(NAMES[1]))

    def failing(parsed: object, *args: object, **kwargs: object) -> object:
        if getattr(parsed, "message_id", None) == broken:
            raise IntakeError("the reply template cannot be rendered")
        return compose_acknowledgement(parsed, *args, **kwargs)  # type: ignore[arg-type]
    # Where filing finds it: the failure comes after the message's case and rows are written.
    monkeypatch.setattr("intake.filing.compose_acknowledgement", failing)
    report = CycleReport("famhp")

    rows = _file_run(runtime, entries, report)

    assert [row.state for row in rows] == ["filed", "failed", "filed"]
    assert rows[1].error == "the reply template cannot be rendered"
    assert [f.role for f in report.filed] == ["request", "request"]
    with runtime.database.session() as s:
        filed = set(s.scalars(select(CaseMessage.message_id)))
        cases = list(s.scalars(select(Case.ref).order_by(Case.ref)))
        acknowledged = list(s.scalars(select(OutgoingMessage.case_id)))
        stored = {r.id: r.state for r in s.scalars(select(Ledger))}
    # The failed message's case, rows and acknowledgement were rolled back with it.
    assert filed == {raw_message_id(labelled(NAMES[0])), raw_message_id(labelled(NAMES[2]))}
    assert len(cases) == 2 and len(acknowledged) == 2
    assert cases == sorted(f.case_ref for f in report.filed if f.case_ref)
    assert sorted(stored.values()) == ["failed", "filed", "filed"]
