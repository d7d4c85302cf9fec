"""The closed sets of the domain, each written once (the canonical names of the domain notes).

Every module that needs one of these sets imports it from here: models, rule loaders, triage,
reports and templates. A member is a ``str``, so it compares equal to the name stored in the
database, written in a rule file or shown in a report. Request types are not here: they are
each authority profile's data. ``tests/config/test_vocabulary.py`` fails when one of these
sets is written again as a literal elsewhere.
"""

from __future__ import annotations

from enum import StrEnum


class MessageKind(StrEnum):
    """What a message is."""

    NEW_REQUEST = "new_request"
    FOLLOW_UP = "follow_up"  # more documents or answers for an existing case
    ENQUIRY = "enquiry"  # a question, no request
    AUTOMATED = "automated"  # auto-reply, bounce, mailing list: never acknowledged
    OTHER = "other"


class MessageRole(StrEnum):
    """The part a message plays in the case it is filed under."""

    REQUEST = "request"
    FOLLOW_UP = "follow_up"
    DUPLICATE = "duplicate"
    ENQUIRY = "enquiry"
    AUTOMATED = "automated"
    OTHER = "other"


class CaseStatus(StrEnum):
    """Where a case stands: under intake, or decided by a reviewer."""

    INCOMPLETE = "incomplete"
    COMPLETE = "complete"
    ENQUIRY = "enquiry"
    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


# Cases still in the reviewers' queue.
OPEN_CASE_STATUSES = frozenset({CaseStatus.INCOMPLETE, CaseStatus.COMPLETE, CaseStatus.ENQUIRY})
# Statuses only a reviewer gives: the procedure is over.
FINAL_CASE_STATUSES = frozenset({CaseStatus.GRANTED, CaseStatus.REFUSED, CaseStatus.WITHDRAWN,
                                 CaseStatus.CLOSED})


class DocumentKind(StrEnum):
    """What an attachment is."""

    FORM_PART1 = "form_part1"
    FORM_PART2 = "form_part2"
    NATIONAL_FORM = "national_form"
    MANDATE = "mandate"
    IFU = "ifu"  # instructions for use
    LABELLING = "labelling"
    RISK_ANALYSIS = "risk_analysis"
    CLINICAL_DATA = "clinical_data"
    GSPR_DECLARATION = "gspr_declaration"
    INSTITUTION_STATEMENT = "institution_statement"
    INFORMED_CONSENT = "informed_consent"
    OTHER = "other"


class Severity(StrEnum):
    """How a checklist item counts: ``required`` decides completeness, ``advisory`` warns."""

    REQUIRED = "required"
    ADVISORY = "advisory"


class ItemStatus(StrEnum):
    """The status of one checklist item."""

    PRESENT = "present"
    MISSING = "missing"
    UNCLEAR = "unclear"
    NOT_APPLICABLE = "not_applicable"


# An item in these states is what a case still lacks ("missing" in reports and replies).
NOT_DONE = frozenset({ItemStatus.MISSING, ItemStatus.UNCLEAR})


class LedgerState(StrEnum):
    """The state of a mailbox message in the ledger.

    received -> filed | failed | duplicate | ignored (decided, mailbox not yet changed)
             -> done | attention (the mailbox message was moved: final).
    """

    RECEIVED = "received"
    FILED = "filed"
    DONE = "done"
    FAILED = "failed"
    ATTENTION = "attention"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class OutboxState(StrEnum):
    """The state of a reply in the outbox."""

    PENDING = "pending"
    HELD = "held"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    SUPPRESSED = "suppressed"


class FieldOrigin(StrEnum):
    """Who gave a field value."""

    EXTRACTED = "extracted"
    REVIEWER = "reviewer"


class StoredIn(StrEnum):
    """Where the bytes of a raw message are kept."""

    FILE = "file"
    DB = "db"


class Regulation(StrEnum):
    """The regulation a device falls under."""

    MDR = "MDR"
    IVDR = "IVDR"


class Language(StrEnum):
    """The applicants' languages (forms, replies)."""

    EN = "en"
    FR = "fr"
    NL = "nl"
    DE = "de"


FALLBACK_LANGUAGE = Language.EN


class ApplicantRole(StrEnum):
    """Who applies."""

    MANUFACTURER = "manufacturer"
    AUTHORISED_REPRESENTATIVE = "authorised_representative"
    MANDATED_THIRD_PARTY = "mandated_third_party"


class FieldKey(StrEnum):
    """The canonical fields of a request."""

    APPLICANT_NAME = "applicant_name"
    APPLICANT_ROLE = "applicant_role"
    CONTACT_NAME = "contact_name"
    CONTACT_EMAIL = "contact_email"
    CONTACT_PHONE = "contact_phone"
    MANUFACTURER_NAME = "manufacturer_name"
    MANUFACTURER_ADDRESS = "manufacturer_address"
    MANUFACTURER_SRN = "manufacturer_srn"
    DEVICE_NAME = "device_name"
    DEVICE_MODEL = "device_model"
    DEVICE_REFERENCE = "device_reference"
    UDI_DI = "udi_di"
    RISK_CLASS = "risk_class"
    REGULATION = "regulation"
    INTENDED_PURPOSE = "intended_purpose"
    QUANTITY = "quantity"
    HOSPITAL_NAME = "hospital_name"
    PHYSICIAN_NAME = "physician_name"
    PHYSICIAN_EMAIL = "physician_email"
    PATIENT_REFERENCE = "patient_reference"
    INTENDED_USE_DATE = "intended_use_date"
    JUSTIFICATION = "justification"
    REGULATORY_STATUS = "regulatory_status"
    SIGNATURE_DATE = "signature_date"
    # Not in the domain notes' table: the period of a national derogation, an ISO 8601
    # interval "start/end"; the national derogation's `scope` item needs it.
    PERIOD = "period"


class RiskClass(StrEnum):
    """Risk classes: MDR I to III, IVDR A to D."""

    I = "I"  # noqa: E741 (the class is called I)
    IIA = "IIa"
    IIB = "IIb"
    III = "III"
    A = "A"
    B = "B"
    C = "C"
    D = "D"


class ChecklistItemId(StrEnum):
    """The checklist items the profiles may name (FAMHP, then ANSM)."""

    FORM_PART1 = "form_part1"
    FORM_PART2 = "form_part2"
    PHYSICIAN_SIGNATURE = "physician_signature"
    APPLICANT_ROLE = "applicant_role"
    MANDATE_PROOF = "mandate_proof"
    DEVICE_IDENTIFIED = "device_identified"
    REGULATION_STATED = "regulation_stated"
    PATIENT_REFERENCE = "patient_reference"
    JUSTIFICATION = "justification"
    SUBJECT_CONVENTION = "subject_convention"
    IFU = "ifu"
    CLINICAL_DATA = "clinical_data"
    RISK_ANALYSIS = "risk_analysis"
    NATIONAL_FORM = "national_form"
    SCOPE = "scope"
    CE_MARKING_PLAN = "ce_marking_plan"
    INSTITUTION_STATEMENT = "institution_statement"
    REQUEST_FORM = "request_form"
    CE_MARKING_COMMITMENT = "ce_marking_commitment"
    PROFESSIONAL_LETTER = "professional_letter"
    SAFETY_PERFORMANCE_DATA = "safety_performance_data"
    NO_ALTERNATIVE = "no_alternative"
    PATIENT_CRITERIA = "patient_criteria"
    VALIDITY_PERIOD = "validity_period"
    MANUFACTURER_IDENTIFIED = "manufacturer_identified"
    INFORMED_CONSENT = "informed_consent"
    LABELLING = "labelling"


class Role(StrEnum):
    """What a workspace account may do: look, review, or also administer."""

    VIEWER = "viewer"
    REVIEWER = "reviewer"
    ADMINISTRATOR = "administrator"


class LinkKind(StrEnum):
    """How a reviewer tied two cases: about the same matter, or one merged into the other."""

    RELATED = "related"
    MERGED = "merged"


class NormaliserName(StrEnum):
    """The normalisers a rule file may name for a field (parsers.normalise implements each)."""

    TEXT = "text"
    DATE = "date"
    EMAIL = "email"
    PHONE = "phone"
    RISK_CLASS = "risk_class"
    REGULATION = "regulation"
    ROLE = "role"
    QUANTITY = "quantity"
    SRN = "srn"
    PATIENT_REFERENCE = "patient_reference"
    PERIOD = "period"


def names(members: type[StrEnum]) -> tuple[str, ...]:
    """Return the values of a vocabulary, in the order written (for messages and CHECKs)."""
    return tuple(m.value for m in members)
