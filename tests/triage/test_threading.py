"""Which case a message joins: references and threads prove nothing; standing does."""

from __future__ import annotations

from tests.triage.builders import document, extraction, mail, profile_rules
from triage.engine import triage_message
from triage.threading import (
    LINKED_CASE,
    SENDER_NOT_ON_CASE,
    UNKNOWN_CASE_REF,
    ThreadHints,
    decide_join,
    sender_standing,
)

RULES = profile_rules()
REF = "DRG-2026-000123"
SHARED = RULES.kind.shared_mail_domains
ON_CASE = (("l.hartmann@neurovasc.example", "applicant"), ("b.janssens@zna.example", "physician"))


def hints(**overrides: object) -> ThreadHints:
    """Hints for a message citing an existing case, its sender not on it."""
    base: dict[str, object] = {"cited_ref": REF, "ref_known": True, "sender_on": ()}
    return ThreadHints(**{**base, **overrides})  # type: ignore[arg-type]


def test_a_stranger_citing_a_case_in_the_subject_does_not_join_it() -> None:
    join = decide_join(mail(f"[{REF}] Part 2", "Here is Part 2."), hints(), (), RULES)
    assert join is not None and join.outcome == "unknown" and join.case_ref is None
    assert join.flags == (UNKNOWN_CASE_REF, SENDER_NOT_ON_CASE)
    assert join.reasons[0].startswith(f"cites {REF}, sender not on that case")


def test_a_stranger_is_answered_as_for_a_reference_that_names_no_case() -> None:
    part2 = extraction(document("form_part2", "part2.pdf"))
    cited = mail(f"[{REF}] Part 2", "Here is Part 2.", sender="mallory@evil.example")
    existing = triage_message(cited, part2, RULES, "famhp", hints())
    missing = triage_message(cited, part2, RULES, "famhp",
                             ThreadHints(cited_ref=REF, ref_known=False, sender_on=()))
    assert existing.kind == missing.kind == "new_request"
    assert existing.case_ref is missing.case_ref is None
    assert existing.would_acknowledge == missing.would_acknowledge
    assert existing.flags == (UNKNOWN_CASE_REF, SENDER_NOT_ON_CASE)
    assert missing.flags == (UNKNOWN_CASE_REF,)


def test_a_sender_known_to_the_case_joins_it() -> None:
    join = decide_join(mail(f"[{REF}] Part 2", "Part 2."),
                       hints(sender_on=((REF, "physician"),)), (), RULES)
    assert join is not None and (join.outcome, join.case_ref) == ("join", REF)
    assert join.reasons == (f"cites case reference {REF} (known case; sender: physician)",)


def test_a_reply_to_our_acknowledgement_joins_whoever_sends_it() -> None:
    join = decide_join(mail("RE: Acknowledgement", "Signed Part 2 attached.",
                            extra=f"In-Reply-To: <{REF}.0a1b@fagg-afmps.be>"),
                       ThreadHints(acked_case=REF, thread_case=REF, sender_on=()), (), RULES)
    assert join is not None and (join.outcome, join.case_ref) == ("join", REF)


def test_a_forged_in_reply_to_from_a_stranger_does_not_join() -> None:
    join = decide_join(mail("RE: request", "More.", extra="In-Reply-To: <victim@zna.example>"),
                       ThreadHints(thread_case=REF, sender_on=()), (), RULES)
    assert join is not None and join.outcome == "unknown"
    assert SENDER_NOT_ON_CASE in join.flags


def test_a_reference_in_the_body_beside_a_request_form_is_a_link() -> None:
    part1 = (document("form_part1", "part1.pdf"),)
    body = f"Our earlier request {REF} concerned another patient."
    join = decide_join(mail("New request", body),
                       hints(sender_on=((REF, "applicant"),)), part1, RULES)
    assert join is not None and (join.outcome, join.case_ref) == ("link", None)
    assert join.flags == (LINKED_CASE,)
    result = triage_message(mail("New request", body), extraction(*part1), RULES, "famhp",
                            hints(sender_on=((REF, "applicant"),)))
    assert result.kind == "new_request" and result.case_ref is None
    # In the subject it is a follow-up: the sender says so where it counts.
    joined = decide_join(mail(f"[{REF}] Part 1", body),
                         hints(sender_on=((REF, "applicant"),)), part1, RULES)
    assert joined is not None and joined.outcome == "join"


def test_a_part2_citing_the_case_in_the_body_still_joins_for_a_known_sender() -> None:
    part2 = (document("form_part2", "part2.pdf"),)
    join = decide_join(mail("Part 2", f"Regarding case {REF}, Part 2 attached."),
                       hints(sender_on=((REF, "physician"),)), part2, RULES)
    assert join is not None and join.outcome == "join"


def test_standing_by_address_and_by_domain_but_not_a_shared_domain() -> None:
    assert sender_standing("B.Janssens@ZNA.example", ON_CASE, SHARED) == "physician"
    assert sender_standing("colleague@zna.example", ON_CASE, SHARED) == \
        "same domain as the physician (zna.example)"
    assert sender_standing("mallory@evil.example", ON_CASE, SHARED) is None
    webmail = (("patient.family@gmail.com", "applicant"),)
    assert sender_standing("stranger@gmail.com", webmail, SHARED) is None
    assert sender_standing("patient.family@gmail.com", webmail, SHARED) == "applicant"
    assert sender_standing(None, ON_CASE, SHARED) is None
