"""`outbox list|send|release|cancel`: the acknowledgements waiting to leave, and a person's say.

Only `send` talks to the SMTP relay (and so needs its secret); the others read or change
the outbox table alone.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from config.settings import Settings
from intake.commands import exits
from intake.commands.cases import print_table
from intake.runtime import open_database, open_runtime
from storage.db import Database
from storage.models import OutgoingMessage


def cmd_outbox_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print one line per acknowledgement with its next attempt or its outcome below."""
    from storage.outbox import outbox_list

    database = open_database(settings)
    try:
        with database.session() as s:
            rows = outbox_list(s)
    finally:
        database.dispose()
    if not rows:
        print("the outbox is empty")
        return exits.OK
    print_table(["id", "state", "attempts", "to", "subject"],
                [[str(r.id), r.state, str(r.attempts), r.recipient, r.subject[:60]]
                 for r in rows],
                notes=[outbox_note(r) for r in rows])
    return exits.OK


def outbox_note(row: OutgoingMessage) -> str:
    """Return the indented line under an outbox row: what happened to it and what is next.

    A sent row shows the server's answer, not the error of an attempt before it succeeded.
    """
    if row.state == "sent":
        when = f" at {_utc(row.sent_at)}" if row.sent_at is not None else ""
        return f"sent{when}: {row.smtp_reply}" if row.smtp_reply else f"sent{when}"
    parts = []
    if row.state == "pending" and row.next_attempt_at is not None:
        parts.append(f"next attempt {_utc(row.next_attempt_at)}")
    if row.last_error:
        parts.append(f"last error: {row.last_error}" if row.state == "pending"
                     else row.last_error)
    return "; ".join(parts)


def _utc(moment: datetime) -> str:
    """Return a stored time as 'YYYY-MM-DD HH:MM:SS UTC' (SQLite gives it back naive)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{aware.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def cmd_outbox_send(args: argparse.Namespace, settings: Settings) -> int:
    """Send what is due (with --now also what waits for a retry); say what still waits."""
    from intake.replies.outbox import drain_outbox

    runtime = open_runtime(settings)
    try:
        now = datetime.now(UTC)
        until = _latest_retry(runtime.database) if args.now else None
        # --now: every pending row is due by its own retry time, so one pass takes them all.
        report = drain_outbox(runtime, max(until, now) if until is not None else now)
        print(report.summary())
        waiting = _waiting(runtime.database, datetime.now(UTC))
    finally:
        runtime.close()
    for row in waiting:
        assert row.next_attempt_at is not None
        print(f"waiting: {row.id} to {row.recipient} until {_utc(row.next_attempt_at)} "
              f"(last error: {row.last_error or '-'}); `outbox send --now` tries it now")
    return exits.TEMPFAIL if report.retried else exits.OK


def _pending(database: Database) -> list[OutgoingMessage]:
    """Return the pending acknowledgements, oldest first."""
    from storage.outbox import outbox_in_state

    with database.session() as s:
        return outbox_in_state(s, "pending")


def _latest_retry(database: Database) -> datetime | None:
    """Return the latest retry time among pending acknowledgements (None when none waits)."""
    times = [_aware(r.next_attempt_at) for r in _pending(database)
             if r.next_attempt_at is not None]
    return max(times, default=None)


def _waiting(database: Database, now: datetime) -> list[OutgoingMessage]:
    """Return the pending acknowledgements whose next attempt is later than now."""
    return [r for r in _pending(database)
            if r.next_attempt_at is not None and _aware(r.next_attempt_at) > now]


def _aware(moment: datetime) -> datetime:
    """Return a stored time with its UTC zone (SQLite gives it back naive)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cmd_outbox_release(args: argparse.Namespace, settings: Settings) -> int:
    """Let held, failed or uncertain acknowledgements go, recording who decided and why."""
    from intake.replies.outbox import release_held, release_outgoing

    if not args.ids and not args.held:
        print("derogation-intake: outbox release needs ids or --held", file=sys.stderr)
        return exits.USAGE
    database = open_database(settings)
    try:
        # A pending one goes anyway: say when, rather than refuse it as "pending".
        pending = {r.id: r for r in _pending(database)}
        ids = [i for i in args.ids if i not in pending]
        for outgoing_id in args.ids:
            if outgoing_id in pending:
                print(f"{outgoing_id}: already pending, {_next_attempt(pending[outgoing_id])}; "
                      "`outbox send --now` sends it now")
        rows = (release_held(database, actor=getpass.getuser(), note=args.note) if args.held
                else release_outgoing(database, ids, actor=getpass.getuser(), note=args.note))
    finally:
        database.dispose()
    _print_decided(rows)
    if args.held and not rows:
        print("nothing was held")
    return exits.OK


def _next_attempt(row: OutgoingMessage) -> str:
    """Return when a pending acknowledgement is tried next, in words."""
    if row.next_attempt_at is None or _aware(row.next_attempt_at) <= datetime.now(UTC):
        return "sent at the next `outbox send` (or by `run` at its next outbox pass)"
    return f"retried at {_utc(row.next_attempt_at)}"


def cmd_outbox_cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Decide that acknowledgements which have not left will never be sent."""
    from intake.replies.outbox import cancel_outgoing

    database = open_database(settings)
    try:
        rows = cancel_outgoing(database, args.ids, actor=getpass.getuser(), note=args.note)
    finally:
        database.dispose()
    _print_decided(rows)
    return exits.OK


def _print_decided(rows: list[OutgoingMessage]) -> None:
    """Print one line per acknowledgement a person moved."""
    for row in rows:
        print(f"{row.id}: {row.state} ({row.recipient}: {row.subject})")
