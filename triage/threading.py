"""Which case a message joins: the threading decision, pure, on what the case store told.

Anyone may write to the mailbox, and case references are sequential, so a reference typed in a
subject or body, or an ``In-Reply-To`` naming someone else's message, proves nothing. A message
joins a case only when it replies to our acknowledgement of that case (its Message-ID is
random and went only to the case's correspondent) or when its sender is known to the case.
Otherwise it is filed on its own, flagged for a reviewer to merge, and answered exactly as a
message citing a reference that names no case: the reply never tells whether a case exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from config.triage_rules import TriageRules
from parsers.records import ExtractedDocument, ParsedMessage
from triage.caseref import find_case_ref

# Flags a reviewer sees on the case (never in a reply).
UNKNOWN_CASE_REF = "unknown_case_ref"
SENDER_NOT_ON_CASE = "sender_not_on_case"
LINKED_CASE = "linked_case"

# join: follow-up of case_ref; unknown: the reference or thread gives no case the message may
# join (answered as an unknown reference); link: a new request that mentions another case;
# unchecked: a reply whose thread nobody looked up (offline triage).
Outcome = Literal["join", "unknown", "link", "unchecked"]


@dataclass(frozen=True)
class ThreadHints:
    """What the case store knows about the cases a message names, and about its sender."""

    cited_ref: str | None = None  # a case reference found in the message (find_case_ref)
    ref_known: bool | None = None  # does it name an existing case? None: not looked up
    thread_case: str | None = None  # case of a known message named by In-Reply-To/References
    case_request_type: str | None = None  # request type of that case, for follow-ups
    acked_case: str | None = None  # case whose acknowledgement (our Message-ID) it replies to
    # (case reference, why the sender is known to it) for the cases named; None: not looked up.
    sender_on: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Join:
    """The threading decision: its outcome, the case joined, the reasons and the flags."""

    outcome: Outcome
    case_ref: str | None
    reasons: tuple[str, ...]
    flags: tuple[str, ...] = ()


def sender_standing(sender: str | None, addresses: Iterable[tuple[str, str]],
                    shared_domains: frozenset[str]) -> str | None:
    """Return why a sender is known to a case (its address or domain is on it), or None.

    ``addresses`` holds (address, what it is on the case), e.g. ("a@b.be", "applicant").
    """
    if not sender or "@" not in sender:
        return None
    sender = sender.strip().lower()
    domain = sender.rsplit("@", 1)[1]
    same_domain = None
    for address, what in addresses:
        address = address.strip().lower()
        if address == sender:
            return what
        if same_domain is None and domain not in shared_domains \
                and address.rsplit("@", 1)[-1] == domain:
            same_domain = f"same domain as the {what} ({domain})"
    return same_domain


def decide_join(parsed: ParsedMessage, hints: ThreadHints | None,
                documents: Sequence[ExtractedDocument], rules: TriageRules) -> Join | None:
    """Decide which case, if any, a message joins; None when it names no case at all."""
    cited = hints.cited_ref if hints and hints.cited_ref else find_case_ref(
        [parsed.subject, parsed.body_text], rules)
    if hints is None:
        return _unchecked(parsed, cited)
    if hints.acked_case:
        return Join("join", hints.acked_case,
                    (f"replies to our acknowledgement of case {hints.acked_case}",))
    refused: list[Join] = []
    if cited is not None and hints.ref_known is not False:
        if _body_only(parsed, cited, rules) and _opens_request(documents, rules):
            return Join("link", None, (f"mentions {cited} in the body beside a request form: "
                                       "linked to that case, not merged (kind.opening_documents)",),
                        (LINKED_CASE,))
        joined = _standing_join(hints, cited, f"cites case reference {cited}")
        if joined.outcome == "join":
            return joined
        refused.append(joined)
    if hints.thread_case:
        joined = _standing_join(hints, hints.thread_case,
                                f"replies to a message of case {hints.thread_case}")
        if joined.outcome == "join":
            return joined
        refused.append(joined)
    if refused:
        return refused[0]
    if cited is not None:
        # A reference no case has (a typo, another office's): a person must check it.
        return Join("unknown", None, (f"cites {cited}, which names no known case "
                                      "(kind.unknown_case_ref_kind)",), (UNKNOWN_CASE_REF,))
    return None


def _unchecked(parsed: ParsedMessage, cited: str | None) -> Join | None:
    """Offline triage (no case store): a cited reference is taken at its word."""
    if cited is not None:
        return Join("join", cited, (f"cites case reference {cited} (not looked up)",))
    replied = parsed.in_reply_to or parsed.references
    if replied:
        return Join("unchecked", None, (f"replies to <{replied[0]}> (thread not looked up)",))
    return None


def _standing_join(hints: ThreadHints, ref: str, how: str) -> Join:
    """Join the case when the sender is known to it (or nobody looked); else refuse."""
    if hints.sender_on is None:
        if ref == hints.thread_case and ref != hints.cited_ref:
            return Join("join", ref, (how,))
        checked = "known case" if hints.ref_known else "not looked up"
        return Join("join", ref, (f"{how} ({checked})",))
    why = dict(hints.sender_on).get(ref)
    if why is not None:
        return Join("join", ref, (f"{how} (known case; sender: {why})",))
    return Join("unknown", None, (f"{how.replace('case reference ', '')}, sender not on that "
                                  "case: filed on its own for a reviewer to merge",),
                (UNKNOWN_CASE_REF, SENDER_NOT_ON_CASE))


def _body_only(parsed: ParsedMessage, cited: str, rules: TriageRules) -> bool:
    """Tell whether the reference appears in the body but not in the subject."""
    return find_case_ref([parsed.subject], rules) != cited


def _opens_request(documents: Sequence[ExtractedDocument], rules: TriageRules) -> bool:
    """Tell whether the message carries a document that opens a request (a Part 1 ...)."""
    return any(d.kind in rules.kind.opening_documents for d in documents)
