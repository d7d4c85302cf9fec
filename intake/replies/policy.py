"""Whether an acknowledgement may go out: the mail-loop and abuse policy (pure).

An automatic reply to the wrong message starts a mail loop or turns the mailbox into a
reflector, so every rule here errs towards silence (RFC 3834): automated mail, null return
paths, our own addresses and blocked senders are never answered, and no sender receives more
than ``rate_limit`` acknowledgements in the caller's window.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Literal

from parsers.records import ParsedMessage
from storage.outbox import recipient_domain
from triage.records import TriageResult

Action = Literal["send", "hold", "suppress"]

# Flag the caller records on the case when a sender hits the rate limit (someone should look).
RATE_LIMITED = "rate_limited"

# ASCII only, with no spaces, quotes, brackets or separators: what can safely stand in a
# To header and an SMTP RCPT command without quoting.
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})


@dataclass(frozen=True)
class ReplyDecision:
    """What to do with the acknowledgement of one message, and why."""

    action: Action
    reason: str
    recipient: str | None = None  # where the reply goes (From; Reply-To if a setting says so)
    flag: str | None = None  # e.g. "rate_limited": for the caller to record on the case


def usable_address(value: str | None) -> str | None:
    """Return the first plain, well-formed address in a header value, lower-cased, or None."""
    if not value or _CONTROL.search(value):
        # A line break left in a decoded header is a smuggling attempt, not a typo.
        return None
    for _name, address in getaddresses([value]):
        candidate = address.strip().lower()
        if _ADDRESS.match(candidate) and ".." not in candidate:
            return candidate
    return None


def reply_recipient(parsed: ParsedMessage, use_reply_to: bool = False) -> str | None:
    """Return the address a reply goes to: the author (From); None when there is none.

    RFC 3834 section 4: an automatic response goes to the sender, not to a Reply-To that
    anyone may point at a third party (an open reflector); ``use_reply_to`` (a setting)
    restores the Reply-To.
    """
    if parsed.return_path == "":
        # The null return path marks a bounce or report: replying to it is what loops.
        return None
    if use_reply_to:
        return usable_address(parsed.reply_to) or usable_address(parsed.sender)
    return usable_address(parsed.sender)


def rate_key(address: str) -> str:
    """Return the address the rate limit counts: lower case, without a +tag (victim+1@)."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if local else address.strip().lower()


@dataclass(frozen=True)
class RecentReplies:
    """How many acknowledgements went, in the window, to an address and to its domain."""

    to_address: int
    to_domain: int


def count_recent(recipient: str, recent_recipients: Iterable[str]) -> RecentReplies:
    """Count recent acknowledgements to the same normalised address and the same domain."""
    key = rate_key(recipient)
    domain = recipient_domain(key)
    keys = [rate_key(r) for r in recent_recipients]
    return RecentReplies(sum(1 for k in keys if k == key),
                         sum(1 for k in keys if recipient_domain(k) == domain))


def is_blocked(address: str, block_list: Sequence[str]) -> str | None:
    """Return the block-list entry that matches an address, or None."""
    address = address.lower()
    for entry in block_list:
        pattern = entry.strip().lower()
        if pattern and _matches(address, pattern):
            return entry.strip()
    return None


def _matches(address: str, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(address, pattern)
    if pattern.startswith("@"):
        return address.endswith(pattern)
    return address == pattern


def automated_header(parsed: ParsedMessage) -> str | None:
    """Return the header that marks a message as automatic (RFC 3834), or None."""
    auto = parsed.header("auto-submitted")
    if auto is not None and auto.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto.strip()}"
    precedence = (parsed.header("precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    if parsed.content_type.lower() == "multipart/report":
        return "Content-Type: multipart/report"
    return None


def reply_decision(parsed: ParsedMessage, result: TriageResult, *,
                   our_addresses: Collection[str], block_list: Sequence[str],
                   recent_acks_to_sender: int, rate_limit: int, hold: bool,
                   recent_acks_to_domain: int = 0, domain_rate_limit: int | None = None,
                   use_reply_to: bool = False) -> ReplyDecision:
    """Decide whether to send, hold or suppress the acknowledgement of one message."""
    refusal = _refusal(parsed, result)
    if refusal is not None:
        return ReplyDecision("suppress", refusal)
    recipient = reply_recipient(parsed, use_reply_to)
    if recipient is None:
        reason = "null return path" if parsed.return_path == "" else "no usable recipient"
        return ReplyDecision("suppress", reason)
    decision = _decide_for(recipient, parsed, our_addresses, block_list,
                           recent_acks_to_sender, rate_limit, hold)
    if decision.action != "suppress" and domain_rate_limit is not None \
            and recent_acks_to_domain >= domain_rate_limit:
        return ReplyDecision(
            "suppress", f"rate limit: {recent_acks_to_domain} acknowledgements to this "
                        "sender's domain in the window", recipient, RATE_LIMITED)
    return decision


def _refusal(parsed: ParsedMessage, result: TriageResult) -> str | None:
    # Triage's verdict first; the headers again as a last line of defence against loops,
    # whatever the rule files say.
    if result.kind == "automated":
        return "automated message"
    header = automated_header(parsed)
    if header is not None:
        return f"automated message ({header})"
    if not result.would_acknowledge:
        why = "; ".join(result.acknowledge_reasons) or f"kind {result.kind}"
        return f"not to be acknowledged ({why})"
    return None


def _decide_for(recipient: str, parsed: ParsedMessage, our_addresses: Collection[str],
                block_list: Sequence[str], recent: int, rate_limit: int,
                hold: bool) -> ReplyDecision:
    ours = {a.strip().lower() for a in our_addresses}
    involved = _involved(recipient, parsed)
    if any(a in ours for a in involved):
        return ReplyDecision("suppress", "our own address", recipient)
    blocked = next((hit for a in involved if (hit := is_blocked(a, block_list))), None)
    if blocked is not None:
        return ReplyDecision("suppress", f"blocked: {blocked}", recipient)
    if recent >= rate_limit:
        return ReplyDecision(
            "suppress", f"rate limit: {recent} acknowledgements to this sender in the window",
            recipient, RATE_LIMITED)
    if hold:
        return ReplyDecision("hold", "hold mode: replies wait for a person", recipient)
    return ReplyDecision("send", "acknowledge", recipient)


def _involved(recipient: str, parsed: ParsedMessage) -> list[str]:
    # The sender counts as well as the recipient: a message From our own mailbox with a
    # Reply-To elsewhere is still our own message coming back.
    found: Iterable[str | None] = (recipient, usable_address(parsed.sender),
                                   usable_address(parsed.return_path))
    return list(dict.fromkeys(a for a in found if a))
