"""The reply policy: who gets an acknowledgement, and who never does."""

from __future__ import annotations

from typing import Any

import pytest

from intake.replies.policy import (
    RATE_LIMITED,
    ReplyDecision,
    count_recent,
    is_blocked,
    rate_key,
    reply_decision,
    reply_recipient,
    usable_address,
)
from parsers.records import ParsedMessage
from triage.records import Decision, TriageResult

OURS = ("derogation.meddev@fagg-afmps.be", "noreply@fagg-afmps.be")
BLOCKS = ("spammer@example.net", "@bulk.example.com", "*@noreply.*")


def message(**overrides: Any) -> ParsedMessage:
    """A question from a manufacturer's regulatory affairs officer."""
    base: dict[str, Any] = {
        "message_id": "q1@medtech.example", "in_reply_to": (), "references": (),
        "sender": "claire.martin@medtech.example", "sender_name": "Claire Martin",
        "reply_to": None, "return_path": "claire.martin@medtech.example",
        "to": (OURS[0],), "cc": (), "subject": "Question about a national derogation",
        "date": None, "headers": (), "content_type": "text/plain",
        "body_text": "Which documents do we need?", "body_html": None, "attachments": (),
    }
    return ParsedMessage(**{**base, **overrides})


def triage(**overrides: Any) -> TriageResult:
    base: dict[str, Any] = {
        "kind": "enquiry", "kind_reasons": ("enquiry-en",), "language": Decision("en"),
        "authority": "famhp", "request_type": Decision(None), "regulation": Decision(None),
        "urgent": Decision("no"), "case_ref": None, "fields": {}, "all_fields": (),
        "documents": (), "checklist": (), "would_acknowledge": True,
    }
    return TriageResult(**{**base, **overrides})


def decide(parsed: ParsedMessage | None = None, result: TriageResult | None = None,
           **overrides: Any) -> ReplyDecision:
    args: dict[str, Any] = {"our_addresses": OURS, "block_list": BLOCKS,
                            "recent_acks_to_sender": 0, "rate_limit": 5, "hold": False}
    return reply_decision(parsed or message(), result or triage(), **{**args, **overrides})


def test_an_ordinary_message_is_acknowledged() -> None:
    decision = decide()
    assert decision.action == "send"
    assert decision.recipient == "claire.martin@medtech.example"
    assert decision.flag is None


def test_automated_message_is_never_acknowledged() -> None:
    decision = decide(result=triage(kind="automated", would_acknowledge=False))
    assert (decision.action, decision.reason) == ("suppress", "automated message")


@pytest.mark.parametrize(("header", "value"), [
    ("auto-submitted", "auto-replied"),
    ("auto-submitted", "auto-generated; owner-email=x@y.example"),
    ("precedence", "bulk"),
    ("precedence", "list"),
])
def test_automatic_headers_are_honoured_whatever_triage_said(header: str, value: str) -> None:
    decision = decide(message(headers=((header, value),)))
    assert decision.action == "suppress"
    assert decision.reason.startswith("automated message (")


def test_auto_submitted_no_is_a_human() -> None:
    assert decide(message(headers=(("auto-submitted", "no"),))).action == "send"


def test_delivery_report_is_never_acknowledged() -> None:
    decision = decide(message(content_type="multipart/report"))
    assert decision.action == "suppress"
    assert "multipart/report" in decision.reason


def test_triage_verdict_not_to_acknowledge() -> None:
    decision = decide(result=triage(kind="other", would_acknowledge=False,
                                    acknowledge_reasons=("kind other is not acknowledged",)))
    assert decision.action == "suppress"
    assert "kind other is not acknowledged" in decision.reason


def test_null_return_path() -> None:
    decision = decide(message(return_path=""))
    assert (decision.action, decision.reason) == ("suppress", "null return path")
    assert decision.recipient is None


def test_no_sender_at_all() -> None:
    decision = decide(message(sender=None, reply_to=None, return_path=None))
    assert (decision.action, decision.reason) == ("suppress", "no usable recipient")


def test_malformed_sender() -> None:
    decision = decide(message(sender="claire.martin", reply_to="undisclosed-recipients:;"))
    assert (decision.action, decision.reason) == ("suppress", "no usable recipient")


@pytest.mark.parametrize("overrides", [
    {"sender": "Derogation.Meddev@FAGG-AFMPS.be"},
    {"reply_to": "noreply@fagg-afmps.be"},
    # Our own message coming back with a Reply-To elsewhere is still ours.
    {"sender": "derogation.meddev@fagg-afmps.be", "reply_to": "someone@hospital.example"},
])
def test_our_own_address(overrides: dict[str, Any]) -> None:
    decision = decide(message(**overrides), use_reply_to=True)
    assert (decision.action, decision.reason) == ("suppress", "our own address")


@pytest.mark.parametrize(("address", "entry"), [
    ("spammer@example.net", "spammer@example.net"),
    ("SPAMMER@example.net", "spammer@example.net"),
    ("anyone@bulk.example.com", "@bulk.example.com"),
    ("info@noreply.example.org", "*@noreply.*"),
])
def test_blocked_senders(address: str, entry: str) -> None:
    decision = decide(message(sender=address, return_path=address))
    assert (decision.action, decision.reason) == ("suppress", f"blocked: {entry}")


def test_block_list_applies_to_the_reply_to_address_when_it_is_answered() -> None:
    decision = decide(message(reply_to="victim@bulk.example.com"), use_reply_to=True)
    assert decision.reason == "blocked: @bulk.example.com"


def test_domain_entry_matches_that_domain_only() -> None:
    assert is_blocked("x@notbulk.example.com", BLOCKS) is None
    assert is_blocked("x@sub.bulk.example.com", BLOCKS) is None
    assert is_blocked("x@bulk.example.com", BLOCKS) == "@bulk.example.com"
    assert is_blocked("x@example.net", BLOCKS) is None
    assert is_blocked("x@example.net", ["", "  "]) is None


def test_rate_limit() -> None:
    assert decide(recent_acks_to_sender=4, rate_limit=5).action == "send"
    decision = decide(recent_acks_to_sender=5, rate_limit=5)
    assert decision.action == "suppress"
    assert decision.reason == "rate limit: 5 acknowledgements to this sender in the window"
    assert decision.flag == RATE_LIMITED
    assert decision.recipient == "claire.martin@medtech.example"


def test_hold_mode() -> None:
    decision = decide(hold=True)
    assert decision.action == "hold"
    assert decision.recipient == "claire.martin@medtech.example"


def test_suppression_outranks_hold() -> None:
    assert decide(message(return_path=""), hold=True).action == "suppress"
    assert decide(recent_acks_to_sender=9, hold=True).action == "suppress"


def test_recipient_is_the_author_not_an_unverified_reply_to() -> None:
    # RFC 3834 section 4: anyone may set Reply-To to a third party (an open reflector).
    third_party = message(reply_to="Victim <victim@elsewhere.example>")
    assert reply_recipient(third_party) == "claire.martin@medtech.example"
    assert decide(third_party).recipient == "claire.martin@medtech.example"
    assert reply_recipient(message(return_path="")) is None


def test_a_setting_restores_the_reply_to() -> None:
    parsed = message(reply_to="RA <RA@MedTech.example>")
    assert reply_recipient(parsed, use_reply_to=True) == "ra@medtech.example"
    assert reply_recipient(message(reply_to="not an address"), use_reply_to=True) == \
        "claire.martin@medtech.example"


def test_the_rate_limit_counts_plus_tags_and_case_as_one_address() -> None:
    recent = ["victim+1@hospital.example", "Victim+2@Hospital.example", "VICTIM@hospital.example",
              "other@hospital.example", "victim@elsewhere.example"]
    assert rate_key("Victim+abc@Hospital.Example") == "victim@hospital.example"
    counted = count_recent("victim+99@hospital.example", recent)
    assert (counted.to_address, counted.to_domain) == (3, 4)
    decision = decide(recent_acks_to_sender=counted.to_address, rate_limit=3)
    assert (decision.action, decision.flag) == ("suppress", RATE_LIMITED)


def test_the_rate_limit_per_domain() -> None:
    assert decide(recent_acks_to_domain=29, domain_rate_limit=30).action == "send"
    decision = decide(recent_acks_to_domain=30, domain_rate_limit=30)
    assert decision.action == "suppress" and decision.flag == RATE_LIMITED
    assert decision.reason == ("rate limit: 30 acknowledgements to this sender's domain "
                               "in the window")


@pytest.mark.parametrize("value", [
    None, "", "claire", "a@b", "a b@c.example", "a@b..example", "a@b.example\r\nBcc: x@y.z",
    "é@exemple.fr",
])
def test_unusable_addresses(value: str | None) -> None:
    assert usable_address(value) is None


def test_usable_address_takes_the_first_of_a_list() -> None:
    assert usable_address("A <a@x.example>, B <b@y.example>") == "a@x.example"
