"""Fill the database with cases quickly, through the pipeline's own decide and file steps.

Parsing and extraction are done once per template message; each case then gets a fresh
Message-ID, sender and document hashes (so that no duplicate detection or thread lookup
finds a shortcut), its own ledger row and raw bytes, and is filed by ``file_work`` exactly
as a polled message is. Its acknowledgement is then marked sent and its ledger row done, as
after a finished cycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import update

from intake.filing import file_work
from intake.pipeline import DECIDE_STAGES
from intake.runtime import Runtime
from intake.stages import run_stages
from intake.work import Work
from intake.workers import prepare
from parsers.headers import raw_message_id
from storage.ledger import ledger_record
from storage.models import Ledger, OutgoingMessage
from storage.records import MailboxKey, RawMessage
from tests.bench.corpus import small_message

# The ledger rows of the prefill live under their own mailbox name: no cycle ever resumes them.
ARCHIVE = "bench-archive"
TEMPLATES = 24
T = TypeVar("T")


def rehash(value: T, salt: str) -> T:
    """Return a copy of a record tree with every ``sha256`` string salted (new documents)."""
    if isinstance(value, tuple):
        return type(value)(rehash(v, salt) for v in value)
    if not is_dataclass(value) or isinstance(value, type):
        return value
    changes: dict[str, Any] = {}
    for item in fields(value):
        current = getattr(value, item.name)
        if item.name == "sha256" and isinstance(current, str) and current:
            changes[item.name] = hashlib.sha256(f"{current}:{salt}".encode()).hexdigest()
        elif isinstance(current, tuple) or is_dataclass(current):
            changes[item.name] = rehash(current, salt)
    return replace(value, **changes) if changes else value


def templates(rt: Runtime, profile: str, count: int) -> list[tuple[bytes, Work]]:
    """Parse and extract ``count`` small requests once: (raw bytes, prepared Work)."""
    key = MailboxKey(ARCHIVE, "INBOX", 1, 1)
    made = []
    for index in range(count):
        raw = small_message(1_000_000 + index)
        work = Work(0, key, profile, raw)
        made.append((raw, prepare(work, rt.limits, rt.settings.general.profiles_dir)))
    return made


def prefill(rt: Runtime, profile: str, first: int, count: int) -> int:
    """File ``count`` cases numbered from ``first``; return how many cases were opened."""
    made = templates(rt, profile, min(count, TEMPLATES))
    opened = 0
    for number in range(first, first + count):
        raw, template = made[number % len(made)]
        filed = file_work(rt, _work(rt, raw, template, number))
        opened += filed is not None and filed.role == "request"
    _settle(rt)
    return opened


def _work(rt: Runtime, template_raw: bytes, template: Work, number: int) -> Work:
    """Record a varied copy of a template message and return it triaged, ready to file."""
    assert template.parsed is not None
    old_id = template.parsed.message_id or ""
    new_id = f"prefill-{number:07d}@bench.example"
    raw = template_raw.replace(old_id.encode(), new_id.encode(), 1)
    key = MailboxKey(ARCHIVE, "INBOX", 1, number + 1)
    with rt.database.session() as s:
        row = ledger_record(s, RawMessage(key, raw, datetime.now(UTC)),
                            raw_message_id(raw), rt.blobs)
    varied = rehash(template, str(number))
    assert varied.parsed is not None
    parsed = replace(varied.parsed, message_id=new_id, sender=f"applicant{number}@bench.example")
    work = replace(varied, ledger_id=row.id, key=key, parsed=parsed)
    return run_stages(rt, work, DECIDE_STAGES)


def _settle(rt: Runtime) -> None:
    """Mark the prefill's acknowledgements sent and its ledger rows done (a finished cycle)."""
    with rt.database.session() as s:
        s.execute(update(OutgoingMessage).where(OutgoingMessage.state == "pending")
                  .values(state="sent", sent_at=datetime.now(UTC), next_attempt_at=None))
        s.execute(update(Ledger).where(Ledger.mailbox == ARCHIVE, Ledger.state == "filed")
                  .values(state="done"))
