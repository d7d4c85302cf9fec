"""The route of each message of a case, read from its kept original when a page is built.

Nothing is stored: the route is computed again from the bytes the ledger kept, so every page
shows what the message itself says, with the reading of the mail-parser version installed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.errors import StorageError
from parsers.route import Route, message_route
from storage.blobs import BlobStore
from storage.export import iso
from storage.ledger import ledger_raw
from storage.messages import case_messages
from storage.models import Case, CaseMessage, JsonDict, Ledger


def with_routes(data: JsonDict, s: Session, case: Case, blobs: BlobStore | None) -> JsonDict:
    """Add its route to each message of a case's report data (``messages``, filing order)."""
    for message, entry in zip(case_messages(s, case), data["messages"], strict=True):
        entry["route"] = message_route_data(s, message, blobs)
    return data


def message_route_data(s: Session, message: CaseMessage,
                       blobs: BlobStore | None) -> JsonDict | None:
    """Return a filed message's route as report data; None when it came from no mailbox."""
    row = s.get(Ledger, message.ledger_id) if message.ledger_id else None
    if row is None:
        return None
    try:
        raw = ledger_raw(s, row, blobs)
    except StorageError as exc:
        return {"error": f"the original message could not be read: {exc}"}
    return route_to_dict(message_route(raw))


def route_to_dict(route: Route) -> JsonDict:
    """Return a route as JSON data: hops oldest first, transit seconds, defect categories."""
    return {
        "hops": [{"from": h.from_, "by": h.by, "with": h.with_, "date": iso(h.date),
                  "delay": h.delay, "raw": h.raw} for h in route.hops],
        "transit": route.transit,
        "defects": list(route.defects),
        "details": list(route.details),
        "omitted_hops": route.omitted_hops,
        "header_cut": route.header_cut,
        "body_checked": route.body_checked,
    }
