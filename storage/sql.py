"""Small SQL helpers shared by the repository modules (dialect-specific upserts)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from config.errors import StorageError
from storage.models import Base

# Longer identifiers are cut: a B-tree index entry has a size limit on PostgreSQL, and a
# message that cannot be recorded would be fetched again on every poll.
MAX_MESSAGE_ID_CHARS = 500

M = TypeVar("M", bound=Base)


class rare(FunctionElement[Any]):  # lower case: it reads as the SQL function it becomes
    """A condition few rows meet: a state that rows soon leave ('sending', 'received').

    SQLite's planner, once ANALYZE (or PRAGMA optimize) has run, knows only how many rows a
    column's values average; nearly every row of the outbox is 'sent', so it judged that
    looking up 'sending' by its index would read them all, and read the whole table instead
    (0.3 s a message at 100,000 cases, the write lock held meanwhile). On SQLite the
    condition is wrapped in likelihood(); PostgreSQL's statistics know its rare values.
    """

    # No Boolean type: SQLite's compiler would append "= 1", which no index can serve.
    inherit_cache = True
    name = "rare"

    def __init__(self, condition: ColumnElement[bool]) -> None:
        super().__init__(condition)


@compiles(rare)
def _rare(element: rare, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(rare, "sqlite")
def _rare_on_sqlite(element: rare, compiler: SQLCompiler, **kw: Any) -> str:
    return f"likelihood({compiler.process(element.clauses, **kw)}, 0.001)"


def dialect_of(s: Session) -> str:
    """Return the session's dialect name."""
    return s.get_bind().dialect.name


def dialect_insert(s: Session, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT for model that knows ON CONFLICT on the session's database."""
    name = dialect_of(s)
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise StorageError(f"unsupported database dialect: {name}")


def insert_ignoring_conflict(s: Session, model: type[Base], key: list[str], **values: Any) -> None:
    """INSERT a row unless one with the same key exists (atomic on both databases)."""
    s.execute(dialect_insert(s, model).values(**values).on_conflict_do_nothing(index_elements=key))


def attach(s: Session, obj: M, *, lock: bool = False) -> M:
    """Return obj as a member of s (callers may hold rows loaded by an earlier session).

    With lock, the row is re-read with SELECT ... FOR UPDATE, so that a state change is
    judged on the stored state and not on a stale copy.
    """
    if obj not in s:
        identity = inspect(obj).identity
        if identity is None:
            raise StorageError(f"{type(obj).__name__} was never stored")
        try:
            s.add(obj)
        except InvalidRequestError:
            # Another copy of the row is already in s (or obj belongs to a live session).
            found = s.get(type(obj), identity)
            if found is None:
                raise StorageError(f"{type(obj).__name__} {identity} is not stored") from None
            obj = found
    if lock:
        if inspect(obj).pending:
            s.flush()  # a row added in this session has nothing stored to re-read yet
        s.refresh(obj, with_for_update=True)
    return obj


def normalise_message_id(value: str | None) -> str | None:
    """Return a Message-ID without angle brackets or blanks, capped in length; None if empty."""
    if value is None:
        return None
    cleaned = value.strip().strip("<>").strip()
    return cleaned[:MAX_MESSAGE_ID_CHARS] or None


def normalise_address(value: str | None) -> str | None:
    """Return an e-mail address lower-cased and stripped; None if empty."""
    if value is None:
        return None
    return value.strip().lower() or None
