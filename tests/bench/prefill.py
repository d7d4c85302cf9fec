"""Fill the database with cases quickly: some filed by the pipeline, the rest copied in bulk.

The first ``seeds`` cases go through the pipeline's own decide and file steps. Parsing and
extraction are done once per template message; each case then gets a fresh Message-ID,
sender (at a domain of its own, so that every case is acknowledged) and document hashes (so
that no duplicate detection or thread lookup finds a shortcut), its own ledger row and raw
bytes, and is decided and filed in one transaction as a polled message is (``file_in``).
Its acknowledgement is then marked sent and its ledger row done, as after a finished cycle.

Filing takes about 60 ms a case; beyond the seeds, the database is grown by copying the
seeds' rows in SQL (``INSERT ... SELECT``, SQLite only), one copy per transaction: every
table a filing writes, ids moved past the rows already there, and every string an index
finds a row by rewritten (Message-IDs, senders, case references, document and message
hashes). Copy *k* is dated *k* days before its seeds, as cases filed over months would be:
the seeds stay the only recent rows, in the small database and the large one alike. The
copies' message hashes name no file in the blob store (a filing never reads old messages).
``census`` counts the rows of each table and the duplicates of each unique column.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, select, text, update

from intake.filing import file_in
from intake.pipeline import DECIDE_STAGES, Deciding
from intake.runtime import Runtime
from intake.stages import run_stages
from intake.work import Work
from intake.workers import prepare
from parsers.headers import raw_message_id
from storage.ledger import ledger_record
from storage.models import Base, Case, CaseSequence, Ledger, OutgoingMessage
from storage.records import MailboxKey, RawMessage
from tests.bench.corpus import small_message

# The ledger rows of the prefill live under their own mailbox name: no cycle ever resumes them.
ARCHIVE = "bench-archive"
TEMPLATES = 24
SEEDS = 1000  # cases filed through the pipeline; beyond them, copies
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


def prefill(rt: Runtime, profile: str, first: int, count: int, seeds: int = SEEDS) -> int:
    """File ``count`` cases numbered from ``first`` (beyond ``seeds``, copies of the first
    ``seeds``: only into an empty database); ANALYZE; return how many cases were opened."""
    filed = min(count, seeds)
    made = templates(rt, profile, min(filed, TEMPLATES))
    opened = 0
    for number in range(first, first + filed):
        raw, template = made[number % len(made)]
        work = _work(rt, raw, template, number)
        with rt.database.session() as s:
            done, _ = file_in(s, rt, run_stages(Deciding(rt, s), work, DECIDE_STAGES))
        opened += done is not None and done.role == "request"
    _settle(rt)
    if count > filed:
        opened += replicate(rt.database.engine, count)
    with rt.database.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return opened


def _work(rt: Runtime, template_raw: bytes, template: Work, number: int) -> Work:
    """Record a varied copy of a template message and return it prepared, ready to decide."""
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
    parsed = replace(varied.parsed, message_id=new_id,
                     sender=f"applicant{number}@clinic{number}.bench.example")
    return replace(varied, ledger_id=row.id, key=key, parsed=parsed)


def _settle(rt: Runtime) -> None:
    """Mark the prefill's acknowledgements sent and its ledger rows done (a finished cycle)."""
    with rt.database.session() as s:
        s.execute(update(OutgoingMessage).where(OutgoingMessage.state == "pending")
                  .values(state="sent", sent_at=datetime.now(UTC), next_attempt_at=None))
        s.execute(update(Ledger).where(Ledger.mailbox == ARCHIVE, Ledger.state == "filed")
                  .values(state="done"))


# --- copies in bulk ------------------------------------------------------------------------

# SQL of the rewritten values of copy :k (SQLite). Timestamps keep their microseconds.
DIGITS = "'0123456789'"


def _shifted(column: str) -> str:
    """A timestamp moved back by :shift ('-k days'); NULL stays NULL."""
    return f"strftime('%Y-%m-%d %H:%M:%S', {column}, :shift) || substr({column}, 20)"


def _hash(column: str) -> str:
    """A SHA-256 of its own: the seed's first 48 hex digits and the copy's number."""
    return f"substr({column}, 1, 48) || printf('%016x', :k)"


def _address(column: str) -> str:
    """An address (or Message-ID) of its own: 'a@b' becomes 'a.c<k>@b'."""
    return f"replace({column}, '@', '.c' || :k || '@')"


def _ref(column: str) -> str:
    """The case reference of the copy: the seed's number moved by :o_case."""
    prefix = f"rtrim({column}, {DIGITS})"
    number = f"CAST(substr({column}, length({prefix}) + 1) AS INTEGER) + :o_case"
    return f"{prefix} || printf('%06d', {number})"


def _rewritten(column: str, case: str = "c") -> str:
    """A text naming the seed's case reference and applicant, naming the copy's instead."""
    ref, email = f"{case}.ref", f"coalesce({case}.applicant_email, '')"
    return f"replace(replace({column}, {ref}, {_ref(ref)}), {email}, {_address(email)})"


# For each table a filing writes, in the order of their foreign keys: the FROM clause of
# the seed rows (alias src, their case c), which of them a partial copy takes, and the
# columns whose values change; every other column is copied as it is.
COPIES: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("raw_message", "raw_message src JOIN mailbox_ledger l ON l.sha256 = src.sha256",
     "l.case_id <= :limit",
     {"sha256": _hash("src.sha256"), "stored_at": _shifted("src.stored_at")}),
    ("case", '"case" src JOIN "case" c ON c.id = src.id', "src.id <= :limit",
     {"id": "src.id + :o_case", "ref": _ref("src.ref"),
      "applicant_email": _address("src.applicant_email"), "triage": _rewritten("src.triage"),
      "created_at": _shifted("src.created_at"), "updated_at": _shifted("src.updated_at")}),
    ("mailbox_ledger", 'mailbox_ledger src JOIN "case" c ON c.id = src.case_id',
     "src.case_id <= :limit",
     {"id": "src.id + :o_ledger", "uid": "src.uid + :o_ledger",
      "message_id": _address("src.message_id"), "sha256": _hash("src.sha256"),
      "outcome": _rewritten("src.outcome"), "case_id": "src.case_id + :o_case",
      "received_at": _shifted("src.received_at"), "updated_at": _shifted("src.updated_at")}),
    ("case_message", 'case_message src JOIN "case" c ON c.id = src.case_id',
     "src.case_id <= :limit",
     {"id": "src.id + :o_message", "case_id": "src.case_id + :o_case",
      "ledger_id": "src.ledger_id + :o_ledger", "message_id": _address("src.message_id"),
      "sender": _address("src.sender"), "triage": _rewritten("src.triage"),
      "sent_at": _shifted("src.sent_at"), "created_at": _shifted("src.created_at")}),
    ("document", "document src", "src.case_id <= :limit",
     {"id": "src.id + :o_document", "case_id": "src.case_id + :o_case",
      "case_message_id": "src.case_message_id + :o_message", "sha256": _hash("src.sha256"),
      "signatures": f"replace(src.signatures, src.sha256, {_hash('src.sha256')})",
      "created_at": _shifted("src.created_at")}),
    ("extracted_field", "extracted_field src LEFT JOIN document d ON d.id = src.document_id",
     "src.case_id <= :limit",
     {"id": "src.id + :o_field", "case_id": "src.case_id + :o_case",
      "case_message_id": "src.case_message_id + :o_message",
      "document_id": "src.document_id + :o_document",
      "superseded_by": "src.superseded_by + :o_field",
      "source": f"coalesce(replace(src.source, d.sha256, {_hash('d.sha256')}), src.source)",
      "created_at": _shifted("src.created_at")}),
    ("checklist_item", "checklist_item src", "src.case_id <= :limit",
     {"id": "src.id + :o_checklist", "case_id": "src.case_id + :o_case",
      "updated_at": _shifted("src.updated_at")}),
    ("case_event", 'case_event src JOIN "case" c ON c.id = src.case_id', "src.case_id <= :limit",
     {"id": "src.id + :o_event", "case_id": "src.case_id + :o_case",
      "detail": _rewritten("src.detail"), "at": _shifted("src.at")}),
    ("outgoing_message", 'outgoing_message src JOIN "case" c ON c.id = src.case_id',
     "src.case_id <= :limit",
     {"id": "src.id + :o_outbox", "case_id": "src.case_id + :o_case",
      "case_message_id": "src.case_message_id + :o_message",
      "message_id": _rewritten("src.message_id"), "recipient": _address("src.recipient"),
      "subject": _rewritten("src.subject"),
      "raw": f"CAST({_rewritten('CAST(src.raw AS TEXT)')} AS BLOB)",
      "created_at": _shifted("src.created_at"), "sent_at": _shifted("src.sent_at"),
      "next_attempt_at": _shifted("src.next_attempt_at")}),
)
# The id offsets: table -> its parameter's name.
OFFSETS = {"case": "case", "mailbox_ledger": "ledger", "case_message": "message",
           "document": "document", "extracted_field": "field", "checklist_item": "checklist",
           "case_event": "event", "outgoing_message": "outbox"}
# Columns in which every row differs (the copies' included), checked by ``census``.
UNIQUE = (("mailbox_ledger", "message_id"), ("mailbox_ledger", "sha256"),
          ("raw_message", "sha256"), ("case", "ref"), ("case", "applicant_email"),
          ("case_message", "message_id"), ("case_message", "sender"), ("document", "sha256"),
          ("outgoing_message", "message_id"), ("outgoing_message", "recipient"))


def replicate(engine: Engine, count: int) -> int:
    """Grow a database of seed cases (ids 1..n, nothing else filed) to ``count`` cases by
    copying the seeds' rows; return how many cases were added."""
    if engine.dialect.name != "sqlite":
        raise SystemExit("the bulk copies of tests/bench/prefill.py are written for SQLite")
    with engine.begin() as conn:
        seeds, highest = _seed_cases(conn)
        statements = [_copy_statement(conn, *copy) for copy in COPIES]
    added, k = 0, 0
    while seeds + added < count:
        k += 1
        limit = min(seeds, count - seeds - added)
        params = {"k": k, "limit": limit, "shift": f"-{k} days",
                  **{f"o_{name}": k * highest[table] for table, name in OFFSETS.items()}}
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA cache_size = -500000")  # 500 MB: index pages stay
            for statement in statements:
                conn.execute(statement, params)
        added += limit
    with engine.begin() as conn:
        conn.execute(update(CaseSequence).values(last_value=count))
    return added


def _seed_cases(conn: Connection) -> tuple[int, dict[str, int]]:
    """The number of seed cases and the highest id of each copied table, checked: the
    copies' ids and case numbers are the seeds' moved by a multiple of these."""
    refs = conn.execute(select(Case.id, Case.ref).order_by(Case.id)).all()
    numbered = all(ref.endswith(f"{id_:06d}") for id_, ref in refs)
    years = conn.execute(select(func.count()).select_from(CaseSequence)).scalar_one()
    others = conn.execute(select(func.count()).select_from(Ledger)
                          .where(Ledger.mailbox != ARCHIVE)).scalar_one()
    if not refs or [i for i, _ in refs] != list(range(1, len(refs) + 1)) or not numbered \
            or years != 1 or others:
        raise SystemExit("bulk copies need a database holding only the seed cases, "
                         "numbered 1..n in one year")
    tables = Base.metadata.tables
    highest = {table: conn.execute(select(func.max(tables[table].c.id))).scalar_one() or 0
               for table in OFFSETS}
    return len(refs), highest


def _copy_statement(conn: Connection, table: str, source: str, where: str,
                    changed: dict[str, str]) -> Any:
    """INSERT ... SELECT of one table's seed rows as copy :k."""
    columns = [row[1] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')]
    unknown = set(changed) - set(columns)
    assert not unknown, f"{table} has no column {unknown}"
    values = ", ".join(changed.get(c, f'src."{c}"') for c in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    # Every name and expression comes from COPIES and the schema, none from outside.
    return text(f'INSERT INTO "{table}" ({names}) '  # noqa: S608
                f"SELECT {values} FROM {source} WHERE {where}")


def census(engine: Engine) -> dict[str, Any]:
    """Rows of every table a filing writes, and the duplicated values of each unique column."""
    tables = Base.metadata.tables
    with engine.connect() as conn:
        rows = {t: conn.execute(select(func.count()).select_from(tables[t])).scalar_one()
                for t in ("raw_message", *OFFSETS)}
        duplicates = {f"{t}.{c}": conn.execute(select(
            func.count(tables[t].c[c]) - func.count(tables[t].c[c].distinct()))).scalar_one()
            for t, c in UNIQUE}
    return {"rows": rows, "duplicates": duplicates}
