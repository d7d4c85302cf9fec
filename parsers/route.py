"""The route a message took (its Received chain) and the anomalies in it, read by mail-parser.

Bytes in, a ``Route`` out, never an exception: a reviewer asking where a follow-up came from,
or which relay held a request for a day, sees the hops oldest first and mail-parser's defect
categories (malformed dates, unreadable Received headers, broken MIME structure ...).

The work is bounded before mail-parser sees the message: only the newest ``MAX_HOPS``
Received headers are kept (relays add theirs on top, so the newest are those our own servers
wrote, and the oldest are the ones a sender can forge), a header field is cut at
``MAX_FIELD_BYTES`` and the header at ``MAX_HEADER_BYTES``; the body is checked for defects
only up to ``MAX_BODY_CHECK_BYTES`` (mail-parser decodes every part it walks).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import mailparser

MAX_HOPS = 30
MAX_FIELD_BYTES = 16 * 1024
MAX_HEADER_BYTES = 256 * 1024
# The header is looked for in this much of a message at most: a header-only flood stops here.
MAX_SCAN_BYTES = 4 * 1024 * 1024
MAX_BODY_CHECK_BYTES = 10 * 1024 * 1024
MAX_TEXT = 200  # characters of a clause or a defect shown
MAX_DETAILS = 20
UNPARSABLE = "unparsable"

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# Without a body, these would make mail-parser report a multipart with no parts.
_BODY_STRUCTURE = (b"content-type", b"content-transfer-encoding")
_QUIET = threading.Lock()


@dataclass(frozen=True)
class Hop:
    """One relay of the chain: who handed it over, who took it, how, when, after how long."""

    from_: str | None
    by: str | None
    with_: str | None
    date: datetime | None
    delay: float | None  # seconds since the previous hop, when both are dated
    raw: str | None = None  # the header as written, when it names neither sender nor relay


@dataclass(frozen=True)
class Route:
    """A message's hops (oldest first) and the defect categories mail-parser found in it."""

    hops: tuple[Hop, ...]
    defects: tuple[str, ...]
    details: tuple[str, ...] = ()
    omitted_hops: int = 0  # older Received headers beyond MAX_HOPS, not read
    header_cut: bool = False  # a field or the header was cut before parsing
    body_checked: bool = True  # False when the message was too large for the body to be walked

    @property
    def transit(self) -> float | None:
        """Return the seconds from the oldest dated hop to the newest, or None."""
        dates = [h.date for h in self.hops if h.date is not None]
        return (dates[-1] - dates[0]).total_seconds() if len(dates) > 1 else None


def message_route(raw: bytes) -> Route:
    """Return the Received chain and the defect categories of a raw message; never raises."""
    head, rest = _split_header(raw[:MAX_SCAN_BYTES])
    scan_cut = not rest and len(raw) > MAX_SCAN_BYTES
    if scan_cut:  # the last line was cut in two: leave its first half out
        head = head[:head.rfind(b"\n") + 1]
    fields, omitted, cut = _bounded_fields(head)
    body_checked = len(raw) <= MAX_BODY_CHECK_BYTES and not scan_cut
    if body_checked:
        data = b"".join(fields) + raw[len(head):]
    else:
        data = b"".join(f for f in fields if _name(f) not in _BODY_STRUCTURE) + b"\n"
    cut = cut or scan_cut
    try:
        with _quiet():
            parsed = mailparser.parse_from_bytes(data)
            hops = _hops(parsed.received, parsed.message.get_all("received") or [])
            defects = tuple(sorted(str(c) for c in parsed.defects_categories))
            details = _details(parsed.defects)
    except Exception as exc:  # hostile mail may break the parser in any way: say so, go on
        return Route((), (UNPARSABLE,), (_cut(f"{UNPARSABLE}: {type(exc).__name__}: {exc}"),),
                     omitted, cut, body_checked)
    return Route(hops, defects, details, omitted, cut, body_checked)


@contextmanager
def _quiet() -> Iterator[None]:
    """Hold mail-parser's own logging to errors that matter while it parses.

    It warns for every part type it does not turn into text ("Email content 'mixed' not
    handled"), which is every attachment here; the lock keeps concurrent pages from
    restoring each other's level.
    """
    logger = logging.getLogger("mailparser")
    with _QUIET:
        level = logger.level
        logger.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            logger.setLevel(level)


def _split_header(raw: bytes) -> tuple[bytes, bytes]:
    """Return the header (with its last line end) and the rest (blank line and body)."""
    blank = _BLANK_LINE.search(raw)
    if blank is None:
        return raw, b""
    end = blank.start() + (2 if raw.startswith(b"\r\n", blank.start()) else 1)
    return raw[:end], raw[end:]


def _bounded_fields(head: bytes) -> tuple[list[bytes], int, bool]:
    """Return the header's fields kept (newest MAX_HOPS Received), hops dropped, whether cut."""
    kept: list[bytes] = []
    omitted, size, hops, cut = 0, 0, 0, False
    for field in _fields(head):
        if _name(field) == b"received":
            hops += 1
            if hops > MAX_HOPS:
                omitted += 1
                continue
        if len(field) > MAX_FIELD_BYTES:
            field, cut = field[:MAX_FIELD_BYTES].rstrip(b"\r\n") + b"\n", True
        if size + len(field) > MAX_HEADER_BYTES:
            cut = True
            continue
        kept.append(field)
        size += len(field)
    return kept, omitted, cut


def _fields(head: bytes) -> Iterator[bytes]:
    """Yield the header's fields as written, each with its folded continuation lines."""
    lines: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if lines and line[:1] not in (b" ", b"\t"):
            yield b"".join(lines)
            lines = []
        lines.append(line)
    if lines:
        yield b"".join(lines)


def _name(field: bytes) -> bytes:
    """Return a field's name in lower case (the whole line when it has no colon)."""
    return field.split(b":", 1)[0].strip().lower()


def _hops(received: Sequence[Mapping[str, Any]], written: Sequence[Any]) -> tuple[Hop, ...]:
    """Return mail-parser's parsed Received headers (oldest first) as hops.

    ``written`` are the same headers as they stand in the message (newest first): a hop that
    names neither sender nor relay (``(qmail 20959 invoked from network)``) shows its text.
    """
    oldest_first = list(reversed(written)) if len(written) == len(received) else []
    hops: list[Hop] = []
    start = max(len(received) - MAX_HOPS, 0)
    for index, entry in enumerate(received[start:], start):
        date = _date(entry.get("date_utc"))
        before = hops[-1].date if hops else None
        delay = entry.get("delay")
        if date is None or before is None or not isinstance(delay, int | float):
            delay = None
        sender, relay = _text(entry.get("from")), _text(entry.get("by"))
        raw = entry.get("raw") or (oldest_first[index] if oldest_first else None)
        hops.append(Hop(sender, relay, _text(entry.get("with")), date,
                        float(delay) if delay is not None else None,
                        None if sender or relay else _text(raw)))
    return tuple(hops)


def _date(value: object) -> datetime | None:
    """Return mail-parser's ISO date of a hop as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text(value: object) -> str | None:
    """Return a clause as one line of at most MAX_TEXT characters, or None."""
    text = " ".join(str(value).split()) if value is not None else ""
    return _cut(text) if text else None


def _cut(text: str) -> str:
    """Return text cut to MAX_TEXT characters, with an ellipsis when cut."""
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _details(defects: Sequence[Any]) -> tuple[str, ...]:
    """Return mail-parser's defect descriptions ({where: [text ...]} entries) as lines."""
    lines = [f"{where}: {_cut(' '.join(str(text).split()))}"
             for entry in defects if isinstance(entry, Mapping)
             for where, texts in entry.items()
             for text in (texts if isinstance(texts, list) else [texts])]
    return tuple(lines[:MAX_DETAILS])
