"""What the log says and how: text or JSON lines, applicants' addresses as stable tokens.

Applicants' addresses never reach a log line at INFO or above: each one is written as a
token, ``addr:`` and eight hex digits of an HMAC-SHA256 of the lower-case address under
the installation's own key (``{data_dir}/log-pseudonym.key``, made on first use). The same
address gives the same token in every line and every run, so an operator can follow one
applicant through the log without the log naming them; without the key nobody can test a
guessed address against a token. The formatter replaces any address left in a line (an
SMTP error quoting a recipient, a traceback) the same way, except the agency's own
addresses (``general.our_address``, its domain, the mailbox and relay accounts, the digest
recipients). DEBUG lines show addresses in full only when ``general.log_debug_addresses``
is true.

Lines about one message carry its mailbox and UID (set by the pipeline around each message)
and, where known, its case reference and stage: in JSON as fields, in text inside the
message itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config.settings import GeneralSettings, Settings, mask_url_password

KEY_FILE = "log-pseudonym.key"
ADDRESS_PREFIX = "addr:"
ADDRESS_HEX = 8
TEXT_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_LOCAL = r"\w.!#$%&'+=?^`{|}~-"
# An address in running text. Not right after a "/" so that the user part of a URL
# (postgresql://intake@db.internal) is left alone; no "*" in it so that a masked URL password
# (intake:***@db) is not taken for one.
ADDRESS = re.compile(rf"(?<![/{_LOCAL}])[{_LOCAL}]+@{_LABEL}(?:\.{_LABEL})+")

# The fields a line about one message may carry; set with log_context() or extra=.
CONTEXT_FIELDS = ("mailbox", "folder", "uid", "case_ref", "stage")
_context: ContextVar[Mapping[str, object]] = ContextVar(
    "intake_log_context", default=MappingProxyType({}))
# What every LogRecord has by itself: anything else on a record came from extra=.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


@dataclass
class Pseudonyms:
    """Turns addresses into tokens with the installation's key, sparing the agency's own."""

    key_dir: Path | None = None
    own_addresses: frozenset[str] = frozenset()
    own_domains: tuple[str, ...] = ()
    _key: bytes | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def token(self, address: str) -> str:
        """Return the stable token of an address (case does not matter)."""
        digest = hmac.new(self._secret(), address.strip().lower().encode(), hashlib.sha256)
        return ADDRESS_PREFIX + digest.hexdigest()[:ADDRESS_HEX]

    def scrub(self, text: str) -> str:
        """Return the text with every address but the agency's own replaced by its token."""
        return ADDRESS.sub(self._replace, text)

    def is_own(self, address: str) -> bool:
        """Tell whether an address is the agency's (its domain, its accounts)."""
        address = address.lower()
        domain = address.rpartition("@")[2]
        return address in self.own_addresses or any(
            domain == own or domain.endswith("." + own) for own in self.own_domains)

    def _replace(self, match: re.Match[str]) -> str:
        """Keep the agency's own addresses; tokenise the others."""
        address = match.group(0)
        return address if self.is_own(address) else self.token(address)

    def _secret(self) -> bytes:
        """Return the key, reading or making it on first use (only a logged address needs it)."""
        with self._lock:
            if self._key is None:
                self._key = _load_key(self.key_dir)
            return self._key


def _load_key(key_dir: Path | None) -> bytes:
    """Read the installation's key, or make it once; a process-wide key if it cannot be kept."""
    if key_dir is None:
        return secrets.token_bytes(32)
    path = key_dir / KEY_FILE
    try:
        if not path.exists():
            _create_key(path)
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        # Logging must not stop the intake; the tokens only lose their stability across runs.
        print(f"derogation-intake: cannot keep the log key {path} ({exc}); address tokens "
              "are valid for this process only", file=sys.stderr)
        return secrets.token_bytes(32)


def _create_key(path: Path) -> None:
    """Write a new key, atomically, unless another process wrote one first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(32) + "\n")
    try:
        os.link(draft, path)  # fails if the key exists: two processes agree on one key
    except FileExistsError:
        pass
    finally:
        draft.unlink()


# The process's pseudonyms: set once from the settings when logging is configured; until
# then (library use, unit tests) a key of this process only.
_pseudonyms = Pseudonyms()


def pseudonyms_from(settings: Settings) -> Pseudonyms:
    """Return the pseudonyms of an installation: its key folder and its own addresses."""
    own = {settings.general.our_address, settings.smtp.username,
           *(m.username for m in settings.mailboxes),
           *(m.group(0) for m in ADDRESS.finditer(settings.reports.digest_to))}
    return Pseudonyms(settings.general.data_dir,
                      frozenset(a.lower() for a in own if "@" in a),
                      (settings.general.our_domain.lower(),))


def use_pseudonyms(pseudonyms: Pseudonyms) -> None:
    """Make these the pseudonyms of address_token() and scrub_addresses()."""
    global _pseudonyms
    _pseudonyms = pseudonyms


def address_token(address: str | None) -> str:
    """Return the token of an address for a log line or terminal output ('?' when unknown)."""
    return _pseudonyms.token(address) if address else "?"


def scrub_addresses(text: str) -> str:
    """Return a text with every address but the agency's own replaced by its token."""
    return _pseudonyms.scrub(text)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add fields (mailbox, uid ...) to every line logged inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current message's context onto each record (extra= values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context fields the record does not already have."""
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class SafeFormatter(logging.Formatter):
    """Text lines in UTC (marked Z), URL passwords masked, applicants' addresses as tokens."""

    def __init__(self, pseudonyms: Pseudonyms, *, debug_addresses: bool = False) -> None:
        super().__init__(TEXT_FORMAT, datefmt=TIME_FORMAT)
        self.converter = time.gmtime
        self.pseudonyms = pseudonyms
        self.debug_addresses = debug_addresses

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then make the whole text safe to keep."""
        return self.safe(record, super().format(record))

    def safe(self, record: logging.LogRecord, text: str) -> str:
        """Mask URL passwords; tokenise addresses unless this DEBUG line may show them."""
        text = mask_url_password(text)
        if self.debug_addresses and record.levelno <= logging.DEBUG:
            return text
        return self.pseudonyms.scrub(text)


class JsonFormatter(SafeFormatter):
    """One JSON object per line: time, level, logger, message, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON, made safe like a text line."""
        entry: dict[str, Any] = {
            "time": self.formatTime(record, TIME_FORMAT) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": self.safe(record, record.getMessage()),
        }
        for name, value in _extras(record):
            entry[name] = self._safe_value(record, value)
        if record.exc_info:
            entry["exception"] = self.safe(record, self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.safe(record, self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)

    def _safe_value(self, record: logging.LogRecord, value: object) -> object:
        """Keep numbers, booleans and null; write anything else as safe text."""
        if value is None or isinstance(value, int | float | bool):
            return value
        return self.safe(record, value if isinstance(value, str) else str(value))


def _extras(record: logging.LogRecord) -> Iterator[tuple[str, Any]]:
    """Yield the context fields first, then any other extra= value, in a stable order."""
    for name in CONTEXT_FIELDS:
        if getattr(record, name, None) is not None:
            yield name, getattr(record, name)
    for name in sorted(set(record.__dict__) - _RECORD_ATTRIBUTES - set(CONTEXT_FIELDS)):
        if not name.startswith("_"):
            yield name, record.__dict__[name]


def log_handler(general: GeneralSettings, pseudonyms: Pseudonyms) -> logging.Handler:
    """Return the stderr handler of the settings' format (text or json)."""
    kind = JsonFormatter if general.log_format == "json" else SafeFormatter
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(kind(pseudonyms, debug_addresses=general.log_debug_addresses))
    handler.addFilter(ContextFilter())
    return handler
