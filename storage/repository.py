"""The repository: every function that reads or writes the database, in one namespace.

Each takes a Session and none commits: the caller's ``Database.session()`` block is the
transaction (one per message). SQLAlchemy errors leave these functions as StorageError.
"""

from __future__ import annotations

from storage.cases import (
    DEFAULT_REF_FORMAT,
    case_by_message_ids,
    case_by_ref,
    case_checklist,
    case_has_document_hashes,
    create_case,
    list_cases,
    next_case_ref,
    open_cases_for_sender,
    set_checklist,
    set_status,
    status_from_triage,
    triage_to_dict,
    update_case_triage,
)
from storage.events import add_event, case_events
from storage.export import case_to_dict
from storage.fields import (
    add_fields,
    current_fields,
    field_history,
    set_reviewer_field,
    source_to_dict,
)
from storage.ledger import (
    cursor_get,
    cursor_set,
    ledger_find_twin,
    ledger_get,
    ledger_in_state,
    ledger_note_attempt,
    ledger_raw,
    ledger_record,
    ledger_set_state,
    ledger_unfinished,
)
from storage.messages import add_documents, add_message, case_documents, case_messages
from storage.outbox import (
    acks_sent_to_since,
    outbox_add,
    outbox_due,
    outbox_for_case,
    outbox_in_state,
    outbox_list,
    outbox_mark_failed,
    outbox_mark_retry,
    outbox_mark_sending,
    outbox_mark_sent,
    outbox_mark_uncertain,
    outbox_release,
    outbox_suppress,
)
from storage.sql import normalise_address, normalise_message_id

__all__ = [
    "DEFAULT_REF_FORMAT",
    "acks_sent_to_since",
    "add_documents",
    "add_event",
    "add_fields",
    "add_message",
    "case_by_message_ids",
    "case_by_ref",
    "case_checklist",
    "case_documents",
    "case_events",
    "case_has_document_hashes",
    "case_messages",
    "case_to_dict",
    "create_case",
    "current_fields",
    "cursor_get",
    "cursor_set",
    "field_history",
    "ledger_find_twin",
    "ledger_get",
    "ledger_in_state",
    "ledger_note_attempt",
    "ledger_raw",
    "ledger_record",
    "ledger_set_state",
    "ledger_unfinished",
    "list_cases",
    "next_case_ref",
    "normalise_address",
    "normalise_message_id",
    "open_cases_for_sender",
    "outbox_add",
    "outbox_due",
    "outbox_for_case",
    "outbox_in_state",
    "outbox_list",
    "outbox_mark_failed",
    "outbox_mark_retry",
    "outbox_mark_sending",
    "outbox_mark_sent",
    "outbox_mark_uncertain",
    "outbox_release",
    "outbox_suppress",
    "set_checklist",
    "set_reviewer_field",
    "set_status",
    "source_to_dict",
    "status_from_triage",
    "triage_to_dict",
    "update_case_triage",
]
