"""Database access: engines, one-transaction sessions, migrations and error translation."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from config.errors import StorageError, StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_FILENAME = "intake.sqlite3"
# A poller and an outbox sender share one SQLite file: wait for the lock rather than fail.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Alembic keeps its migration context in module globals: one upgrade at a time per process.
# (Between processes, the database's own locks serialise them: see migrations/env.py.)
_UPGRADE_LOCK = threading.Lock()
# TCP keepalives on every PostgreSQL connection, both ways, in seconds: a client notices a
# server that vanished, and the server drops (and so unlocks) the session of a machine that
# vanished within about idle + interval * count seconds, instead of the kernel's two hours.
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT = 5, 2, 3
PG_CONNECT_ARGS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": KEEPALIVE_IDLE_S,
    "keepalives_interval": KEEPALIVE_INTERVAL_S,
    "keepalives_count": KEEPALIVE_COUNT,
}
# The server's side of the same keepalives (user-settable, so no superuser is needed).
PG_SERVER_KEEPALIVES = (
    f"SET tcp_keepalives_idle = {KEEPALIVE_IDLE_S}",
    f"SET tcp_keepalives_interval = {KEEPALIVE_INTERVAL_S}",
    f"SET tcp_keepalives_count = {KEEPALIVE_COUNT}",
)
# Waits between the tries of a transaction that met a transient fault: about 30 s in all,
# long enough for a PostgreSQL restart or fail-over, short enough to stop a cycle cleanly.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
# SQLSTATE classes that say "not now" rather than "not this": connection exception,
# transaction rollback (serialisation, deadlock), insufficient resources (disk full),
# operator intervention (backend terminated, server shutting down).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")
# What SQLite says when the disk is full, the file is locked for too long or unreachable.
_TRANSIENT_SQLITE = ("database or disk is full", "disk i/o error", "database is locked",
                     "unable to open database file")
log = logging.getLogger(__name__)


class StorageConflict(StorageError):
    """The database refused a write that breaks a uniqueness or reference rule."""


def translate_error(exc: SQLAlchemyError) -> StorageError:
    """Return the project's error for a SQLAlchemy error (the caller raises it ``from`` exc)."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if isinstance(exc, IntegrityError):
        return StorageConflict(f"database refused the write: {first_line}")
    if is_transient(exc):
        return StorageUnavailable(f"database unavailable: {first_line}")
    return StorageError(f"database error: {first_line}")


def is_transient(exc: SQLAlchemyError) -> bool:
    """Tell whether a database error is a passing fault (connection, disk full, restart)."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and state[:2] in _TRANSIENT_SQLSTATE_CLASSES:
        return True
    text = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and any(t in text for t in _TRANSIENT_SQLITE)


def retry_transient(work: Callable[[], R], what: str,
                    delays: tuple[float, ...] = RETRY_DELAYS) -> R:
    """Run ``work`` (one whole transaction), again after each transient fault, with back-off.

    When storage stays unavailable the last StorageUnavailable is raised, for the
    caller to stop cleanly and try again later.
    """
    for delay in delays:
        try:
            return work()
        except StorageUnavailable as exc:
            log.warning("%s: %s; trying again in %g s", what, exc, delay)
            time.sleep(delay)
    return work()


def storage_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a repository function so that SQLAlchemy errors leave it as StorageError."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise translate_error(exc) from exc

    return wrapper


def normalise_url(url: str) -> str:
    """Return the URL with the psycopg 3 driver made explicit for PostgreSQL."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            # SQLAlchemy's default PostgreSQL driver is psycopg2, which is not installed.
            return "postgresql+psycopg://" + url[len(bare):]
    return url


def default_sqlite_url(data_dir: Path) -> str:
    """Return the URL of the SQLite database in data_dir, creating the directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / SQLITE_FILENAME).resolve()}"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Configure a new SQLite connection for several processes and real foreign keys."""
    # The driver's own implicit BEGIN is switched off: _sqlite_on_begin issues ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _sqlite_use_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed message must survive a power cut
    cursor.close()


def _sqlite_use_wal(cursor: Any) -> None:
    """Switch the file to write-ahead logging, waiting while another process holds it."""
    # Turning a new file to WAL needs the exclusive lock; SQLite answers "locked" at once,
    # without its busy handler, when another process starting at the same time has it.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# How often a transaction waiting for SQLite's write lock asks again. SQLite's own busy
# handler backs off to sleeps of 100 ms: beside a writer that takes the lock again within
# milliseconds (the intake filing a backlog), a thread of the same process (the
# acknowledgement sender) was let in only when the cycle ended.
_BEGIN_POLL_SECONDS = 0.001


def _sqlite_on_begin(connection: Connection) -> None:
    """Start every SQLite transaction holding the write lock, waiting for it if need be."""
    # A deferred transaction that reads then writes can fail at once with SQLITE_BUSY
    # when another process wrote in between; IMMEDIATE waits for the lock instead.
    raw: Any = connection.connection.driver_connection
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    break
            time.sleep(_BEGIN_POLL_SECONDS)
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the last try: its error as before
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def make_engine(url: str) -> Engine:
    """Create an engine for url, configured for long unattended runs."""
    try:
        url = normalise_url(url)
        postgres = make_url(url).get_backend_name() == "postgresql"
        # A ping before each checkout finds a PostgreSQL connection the server dropped; a
        # SQLite file connection cannot be dropped, and the ping was a round trip per session.
        engine = create_engine(url, pool_pre_ping=postgres,
                               connect_args=PG_CONNECT_ARGS if postgres else {})
    except (ArgumentError, ImportError) as exc:
        raise StorageError(f"cannot use database URL {make_safe(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def make_safe(url: str) -> str:
    """Return the URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


class Database:
    """An engine and its session factory; each session() block is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Objects stay readable after the commit: callers use them outside the block.
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Database:
        """Open the database at url (it must already be migrated: see upgrade())."""
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        """Return the dialect name: 'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session whose work commits on success and rolls back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise translate_error(exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def advisory_lock(self, name: str) -> Iterator[bool]:
        """Hold a PostgreSQL session lock named name; yield False at once if another has it.

        The lock lives on a connection of its own, outside the pool, kept open while the
        block runs: every instance on every machine sees it, and the server lets go of it
        when that connection ends, cleanly or because its process or machine died (the
        keepalives bound how long a vanished machine keeps it).
        """
        if self.dialect != "postgresql":
            raise StorageError(f"advisory locks need PostgreSQL, not {self.dialect}")
        key = advisory_key(name)
        try:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            connection.detach()  # closed for real afterwards, never handed to another caller
        except SQLAlchemyError as exc:
            raise translate_error(exc) from exc
        try:
            held = _try_lock(connection, key)
            try:
                yield held
            finally:
                if held:
                    _unlock(connection, key)
        finally:
            connection.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def advisory_key(name: str) -> int:
    """Return the signed 64-bit key of a named advisory lock, the same on every machine."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _try_lock(connection: Connection, key: int) -> bool:
    """Set the server's keepalives on the lock's connection and try the lock without waiting."""
    try:
        for statement in PG_SERVER_KEEPALIVES:
            connection.exec_driver_sql(statement)
        return bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
    except SQLAlchemyError as exc:
        raise translate_error(exc) from exc


def _unlock(connection: Connection, key: int) -> None:
    """Release the lock; a connection already gone has released it with itself."""
    # When the server has ended the session, the lock went with it: nothing is left to undo.
    with contextlib.suppress(SQLAlchemyError):
        connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for url, without any alembic.ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': URL-encoded passwords must be escaped.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Run every migration up to head on the database at url (safe if already there)."""
    engine = make_engine(url)
    try:
        with _UPGRADE_LOCK, engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise translate_error(exc) from exc
    except CommandError as exc:
        raise StorageError(f"migration failed on {make_safe(url)}: {exc}") from exc
    finally:
        engine.dispose()
