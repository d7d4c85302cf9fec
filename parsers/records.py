"""Typed records produced by the parsers: bytes in, these out.

They are the contract between ``parsers`` and ``triage``/``storage``: names and meanings are
stable (see ``../shared/domain.md`` for the canonical field and document-kind names).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# A reason code is a stable, lower_snake string that reports and the checklist can show.
# Known codes: "encrypted", "broken", "unsupported_format", "zip_bomb", "too_large",
# "too_deep", "empty", "malformed_message", "decompression_bomb".
ReasonCode = str

Confidence = float  # 0.0 .. 1.0


@dataclass(frozen=True)
class Source:
    """Where a value was found, precise enough for a reviewer to go and look."""

    # Attachment file name (sanitised) and SHA-256 of its bytes; None for the e-mail itself.
    filename: str | None
    sha256: str | None
    # "body", "subject", "acroform", "pdf_text", "docx_table", "docx_paragraph",
    # "docx_content_control", "docx_legacy_field", "ocr" (read from a scanned page or image),
    # "document_text" (a line of the file's text)
    channel: str
    # 1-based page for PDFs; None elsewhere.
    page: int | None = None
    # AcroForm field name, content-control tag/alias or legacy form-field name.
    form_field: str | None = None
    # Word: 1-based table, row and cell; 1-based paragraph; body: 1-based line.
    table: int | None = None
    row: int | None = None
    cell: int | None = None
    paragraph: int | None = None
    line: int | None = None
    # The label text as printed beside the value, when the value was found by its label.
    label: str | None = None
    # Read by OCR: Tesseract's mean confidence (0-100) in the words of the value.
    ocr_confidence: float | None = None

    def describe(self) -> str:
        """Return a short human-readable location, e.g. 'form.pdf p.2 field Text1'."""
        parts: list[str] = [self.filename or self.channel]
        if self.page is not None:
            parts.append(f"p.{self.page}")
        if self.form_field:
            parts.append(f"field {self.form_field}")
        if self.table is not None:
            cell = f"table {self.table}"
            if self.row is not None:
                cell += f" row {self.row}"
            if self.cell is not None:
                cell += f" cell {self.cell}"
            parts.append(cell)
        if self.paragraph is not None:
            parts.append(f"paragraph {self.paragraph}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.ocr_confidence is not None:
            parts.append(f"(read from a scan, OCR {self.ocr_confidence:.0f}%)")
        return " ".join(parts)


@dataclass(frozen=True)
class FieldValue:
    """One canonical field value with its provenance."""

    key: str  # canonical key, e.g. "device_name" (domain.md)
    value: str  # normalised value (ISO dates, lower-case e-mail, "IIa", "MDR", "3" ...)
    raw: str  # the text as written
    source: Source
    rule: str  # id of the rule that produced it, e.g. "famhp.label.device_name.en.device-name"
    confidence: Confidence


@dataclass(frozen=True)
class Signature:
    """A signature field of a PDF form (or a signature line of a Word form or a scan)."""

    name: str
    signed: bool
    page: int | None
    source: Source
    # On a scanned page: what was measured in which area, and the area itself as a small
    # PNG data: URI, so that a reviewer sees the signature at a glance.
    evidence: str = ""
    picture: str = ""


# Why a page of a document was not read, or not read well (OCR): "ocr_unavailable",
# "ocr_failed", "ocr_timeout", "ocr_low_confidence", "ocr_page_limit".
@dataclass(frozen=True)
class PageProblem:
    """A page whose text could hold what the checklist looks for but was not read well."""

    page: int  # 1-based
    reason: ReasonCode
    detail: str

    def describe(self) -> str:
        """Return e.g. 'p.2 read with low OCR confidence (mean 41%)'."""
        return f"p.{self.page} {self.detail}"


@dataclass(frozen=True)
class Attachment:
    """One file carried by a message, at any depth (forwarded messages, zip archives)."""

    filename: str  # sanitised: no path separators, no control characters, never empty
    declared_type: str  # Content-Type as declared by the sender
    content_type: str  # sniffed from the bytes
    data: bytes
    sha256: str
    size: int
    # The containers it sits in, outermost first: ("forwarded.eml", "docs.zip").
    path: tuple[str, ...] = ()
    # Set when the attachment could not be unpacked (e.g. a zip bomb): kept, never dropped.
    error: ReasonCode | None = None
    error_detail: str = ""
    # How the part was sent: its Content-Disposition ("inline", "attachment" or "") and
    # Content-ID (without brackets): a signature's logo is an inline image the HTML body shows.
    disposition: str = ""
    content_id: str | None = None

    def is_inline_image(self, body_html: str | None) -> bool:
        """Tell whether this is an image shown inside the message (a signature's logo)."""
        if not self.declared_type.lower().startswith("image/") or self.path:
            return False
        if self.content_id and body_html and f"cid:{self.content_id}" in body_html:
            return True
        return self.disposition == "inline" and self.content_id is not None


@dataclass(frozen=True)
class ParsedMessage:
    """A message split into headers, readable body text and attachments."""

    message_id: str | None  # without angle brackets
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: str | None  # lower-case address from From
    sender_name: str | None
    reply_to: str | None
    return_path: str | None  # None when absent; "" for the null path "<>"
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    # Every header, names lower-cased, values decoded (RFC 2047), in order of appearance.
    headers: tuple[tuple[str, str], ...]
    content_type: str  # top-level MIME type, e.g. "multipart/report"
    body_text: str  # plain text, or the HTML alternative rendered as readable text
    body_html: str | None
    attachments: tuple[Attachment, ...]
    # Non-fatal defects noticed while parsing (bad charset, missing boundary, ...).
    defects: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """Return the first value of a header (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for n, v in self.headers if n == wanted), None)

    def header_values(self, name: str) -> tuple[str, ...]:
        """Return every value of a header (case-insensitive)."""
        wanted = name.lower()
        return tuple(v for n, v in self.headers if n == wanted)


DocumentKind = str  # canonical: form_part1, form_part2, national_form, mandate, ifu, ...


@dataclass(frozen=True)
class DocumentPart:
    """One part of a file that holds several documents (Part 1 and Part 2, a mandate after
    them), with where it stands in the file."""

    kind: DocumentKind
    kind_rule: str | None
    where: str  # "pages 3-4", or "from 'Part 2 - ...'" in a Word file
    first_page: int | None = None  # 1-based, PDFs only
    last_page: int | None = None

    def holds_page(self, page: int | None) -> bool:
        """Whether a page is in this part (always true where pages are not known)."""
        if page is None or self.first_page is None or self.last_page is None:
            return True
        return self.first_page <= page <= self.last_page


@dataclass(frozen=True)
class ExtractedDocument:
    """What extraction learned from one attachment."""

    filename: str
    sha256: str
    content_type: str
    size: int
    kind: DocumentKind
    kind_rule: str | None  # rule that decided the kind; None when it fell back to "other"
    pages: int | None
    # The language the document is written in, if a rule could tell ("en", "fr", "nl", "de").
    language: str | None
    # Plain text (capped), for triage matchers and the report's excerpt.
    text: str
    fields: tuple[FieldValue, ...]
    signatures: tuple[Signature, ...] = ()
    # Set when the file could not be read: the checklist shows such a document as "unclear".
    error: ReasonCode | None = None
    error_detail: str = ""
    # Labels found with no value, and values with no label: for `rules test` near misses.
    near_misses: tuple[str, ...] = ()
    # The documents one file holds, when it holds more than one (else empty).
    parts: tuple[DocumentPart, ...] = ()

    def part_kinds(self) -> tuple[DocumentKind, ...]:
        """The file's own kind and the kinds of its parts."""
        return (self.kind, *(p.kind for p in self.parts))
    # Pages that OCR could not read, or not well: what they hold may be missed.
    page_problems: tuple[PageProblem, ...] = ()


@dataclass(frozen=True)
class Extraction:
    """All documents of a message plus the fields found in its body and subject."""

    documents: tuple[ExtractedDocument, ...]
    body_fields: tuple[FieldValue, ...]
    # Content hash of the rule files used, recorded on every case (rule versions).
    rules_version: str = ""

    def all_fields(self) -> tuple[FieldValue, ...]:
        """Return body fields then every document's fields, in document order."""
        return self.body_fields + tuple(f for d in self.documents for f in d.fields)


@dataclass(frozen=True)
class Limits:
    """Resource limits for unpacking and reading attachments (from settings)."""

    max_attachment_bytes: int = 60 * 1024 * 1024
    zip_max_total_bytes: int = 200 * 1024 * 1024
    zip_max_files: int = 500
    zip_max_depth: int = 3
    zip_max_ratio: float = 100.0
    max_text_chars: int = 200_000
    # A PDF longer than this is classified from its first pages, not read end to end.
    full_read_max_pages: int = 30
    skim_pages: int = 3
    # OCR of pages with no text layer and of images: pages and seconds per document, the
    # resolution pages are rendered at, and the mean word confidence (0-100) below which a
    # page counts as not read well. ocr False: such pages are reported, never read.
    ocr: bool = True
    ocr_max_pages: int = 6
    ocr_max_seconds: float = 120.0
    ocr_dpi: int = 200
    ocr_min_confidence: float = 60.0
    # A PDF stream (page, font, picture) that decodes past this, or streams of the pages read
    # that decode past the total, make the file a "decompression_bomb": kept, not read.
    pdf_max_stream_bytes: int = 64 * 1024 * 1024
    pdf_max_decoded_bytes: int = 128 * 1024 * 1024
    # Words with positions (the costly reading) for at most this many pages of a PDF, and
    # only for pages whose plain text is no longer than this.
    pdf_max_word_pages: int = 10
    pdf_max_page_chars: int = 20_000


@dataclass(frozen=True)
class FormField:
    """One terminal form field (one widget for buttons) with what it holds."""

    name: str  # full dotted name
    tooltip: str
    kind: str  # "Tx", "Btn", "Ch", "Sig" or ""
    value: str
    checked: bool
    signed: bool
    page: int | None
    rect: tuple[float, float, float, float] | None  # x0, top, x1, bottom (from page top)
    state: str = ""  # on-state of a checkbox or radio widget

    @property
    def has_value(self) -> bool:
        """Whether there is something to read: text, a ticked box."""
        return bool(self.value.strip()) if self.kind != "Btn" else self.checked
