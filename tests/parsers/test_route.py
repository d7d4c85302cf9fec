"""The Received chain and defect categories of real messages, and of messages built to hurt."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from parsers.route import (
    MAX_BODY_CHECK_BYTES,
    MAX_HOPS,
    MAX_TEXT,
    UNPARSABLE,
    message_route,
)

EMAILS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "emails"
if not EMAILS.is_dir():
    # Fail the collection, never skip: these are read from the real files.
    raise FileNotFoundError(f"the shared corpus is missing: {EMAILS}")


def test_fifteen_relays_are_read_oldest_first_with_dates_and_delays() -> None:
    route = message_route((EMAILS / "mailparser_mail_test_10.eml").read_bytes())
    assert len(route.hops) == 15
    first, third, sixth, last = route.hops[0], route.hops[2], route.hops[5], route.hops[-1]
    assert first.from_ == "us1a3-mail113.a3.dal06.isc4sb.com ([10.146.45.236])"
    assert first.by == "us1a3-smtp02.a3.dal06.isc4sb.com"
    assert first.with_ == "ESMTP"
    assert first.date == datetime(2017, 3, 8, 16, 45, 50, tzinfo=UTC)
    assert first.delay is None  # nothing before it to be late after
    assert third.delay == 24.0  # smtp.notes.na.collabserv.com held it 24 s
    # Portsmouth's clock runs behind Armonk's: dated 8 s before the hop that handed it over.
    assert sixth.by == "d06av25.portsmouth.uk.ibm.com (Postfix)" and sixth.delay == -8.0
    assert last.from_ is None and last.by is None
    assert last.raw == "(qmail 20959 invoked from network); 8 Mar 2017 16:46:30 -0000"
    assert all(h.date is not None and h.date.tzinfo is not None for h in route.hops)
    assert route.transit == 40.0  # 16:45:50 to 16:46:30
    assert route.defects == ()
    assert route.omitted_hops == 0 and not route.header_cut and route.body_checked


def test_a_misplaced_date_separator_in_a_relay_header_is_a_defect() -> None:
    route = message_route((EMAILS / "mailparser_mail_test_8.eml").read_bytes())
    assert route.defects == ("ReceivedHeaderDefect",)
    assert any("received[2]: misplaced-date-separator" in d for d in route.details)
    # The header is still read: the spammer's own relay claims to be lyeo00hp.
    assert route.hops[0].by == "lyeo00hp.moneytrack.top"
    assert len(route.hops) == 3


def test_dates_that_lie_about_their_weekday_are_named() -> None:
    route = message_route((EMAILS / "sisimai_bsd_rfc3834-01.eml").read_bytes())
    assert route.defects == ("DateHeaderDefect",)
    assert "date-headers: DateHeaderDefect: received[0]: weekday-mismatch" in route.details
    assert [h.by for h in route.hops] == ["mta2.relay2.example.org (8.12.8/8.12.8)",
                                          "nyaan.example.com"]


def test_header_and_body_defects_come_together() -> None:
    route = message_route((EMAILS / "mailparser_mail_test_1.eml").read_bytes())
    assert route.defects == ("AddressHeaderDefect", "CloseBoundaryNotFoundDefect")
    assert len(route.hops) == 6
    # A hop dated two years after the one before it: the delay says so.
    assert route.hops[1].delay == 66511589.0


def hostile() -> bytes:
    """Return a message with 5,000 Received headers, a 100 KB header and impossible dates."""
    received = [f"Received: from h{i + 1}.example.org ([192.0.2.{i % 250}]) by h{i}.example.org"
                f" with SMTP id X{i}; Mon, 3{i % 9} Feb 2026 25:61:00 +9999" for i in range(5000)]
    fields = [*received, "X-Padding: " + "A" * 100_000, "From: a@example.org",
              "Subject: hi", "Date: yesterday"]
    return ("\r\n".join(fields) + "\r\n\r\nbody\r\n").encode()


def test_a_flood_of_relays_is_cut_to_the_newest_and_never_breaks_the_reading() -> None:
    route = message_route(hostile())
    assert len(route.hops) == MAX_HOPS
    assert route.omitted_hops == 5000 - MAX_HOPS
    # The newest headers (written last, on top) are the ones kept, shown oldest first.
    assert route.hops[-1].by == "h0.example.org"
    assert route.hops[0].by == f"h{MAX_HOPS - 1}.example.org"
    assert all(h.date is None and h.delay is None for h in route.hops)  # hour 25, +9999
    assert route.transit is None
    assert "DateHeaderDefect" in route.defects
    assert route.header_cut  # the 100 KB field
    for hop in route.hops:
        assert all(len(v) <= MAX_TEXT for v in (hop.from_, hop.by, hop.with_) if v)


def test_long_clauses_are_cut_for_the_page() -> None:
    raw = (f"Received: from {'a' * 5000}.example.org by mx.example.org with ESMTP; "
           "Mon, 2 Mar 2026 10:00:00 +0100\r\nFrom: a@example.org\r\n\r\nhi\r\n").encode()
    hop = message_route(raw).hops[0]
    assert hop.from_ is not None and len(hop.from_) == MAX_TEXT and hop.from_.endswith("…")
    assert hop.by == "mx.example.org"


def nested(depth: int) -> bytes:
    """Return a message of multiparts nested depth deep."""
    parts = [b"From: a@example.org\r\nReceived: from a by b; Mon, 2 Mar 2026 10:00:00 +0100\r\n"]
    parts += [b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
              for i in range(depth)]
    parts.append(b"Content-Type: text/plain\r\n\r\nhi\r\n")
    parts += [b"--b%d--\r\n" % i for i in reversed(range(depth))]
    return b"".join(parts)


def test_a_message_mail_parser_cannot_read_gives_an_empty_route_marked_unparsable() -> None:
    route = message_route(nested(2000))
    assert route.hops == ()
    assert route.defects == (UNPARSABLE,)
    assert "MailParserRecursionError" in route.details[0]
    assert message_route(nested(10)).hops[0].by == "b"  # the same shape, not as deep, reads


def test_junk_and_nothing_give_routes_not_errors() -> None:
    junk = message_route(bytes(range(256)) * 8)
    assert junk.hops == () and "MissingHeaderBodySeparatorDefect" in junk.defects
    empty = message_route(b"")
    assert empty.hops == () and empty.defects == ()


def test_a_large_message_has_its_route_read_and_its_body_left_alone() -> None:
    msg = EmailMessage()
    msg["Received"] = ("from mail.uzgent.be (mail.uzgent.be [192.0.2.7]) by mx1.example.be "
                       "with ESMTPS id 4Q; Mon, 2 Mar 2026 10:00:07 +0100")
    msg["Received"] = ("from [10.1.2.3] by mail.uzgent.be with ESMTPSA id 9Z; "
                       "Mon, 2 Mar 2026 10:00:01 +0100")
    msg["From"] = "a@uzgent.be"
    msg.set_content("Please find the form attached.")
    msg.add_attachment(os.urandom(MAX_BODY_CHECK_BYTES), maintype="application",
                       subtype="pdf", filename="scan.pdf")
    route = message_route(msg.as_bytes())
    assert not route.body_checked
    assert [h.by for h in route.hops] == ["mail.uzgent.be", "mx1.example.be"]
    assert route.hops[1].delay == 6.0 and route.transit == 6.0
    assert route.defects == ()  # the multipart is not walked, and not taken for broken


def test_mail_parser_says_nothing_of_the_parts_it_does_not_render(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raw = (EMAILS / "flanker_torture.eml").read_bytes()  # 22 parts it calls "not handled"
    message_route(raw)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("mailparser")] == []
    assert logging.getLogger("mailparser").level == logging.NOTSET  # left as it was
