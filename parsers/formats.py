"""Which reader a file goes to, by what its bytes are (not what its name or sender says)."""

from __future__ import annotations

import zipfile

from config.extraction_rules import ExtractionRules
from parsers.archive import MemberError, read_zip_member
from parsers.docx import docx_to_document
from parsers.labels import DEFAULT_LIMITS, FileInfo, Findings, failed_document, to_document
from parsers.pdf import pdf_to_document
from parsers.records import Attachment, ExtractedDocument, Limits
from parsers.scan import image_to_document
from parsers.sniff import DOCX, MSWORD, OLE, PDF, ZIP, sniff_type

UNSUPPORTED = "format not supported, please send PDF or DOCX"
_WORD_MAIN = b"wordprocessingml.document.main+xml"
_MACRO_WORD = b"ms-word.document.macroEnabled"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_OPEN_DOCUMENT = "application/vnd.oasis.opendocument"
# A package's list of part types is a few KB; more is not a Word file we can read.
_MAX_CONTENT_TYPES = 1024 * 1024
# Scanned or photographed pages: read by OCR.
_PAGE_IMAGES = ("image/jpeg", "image/png", "image/tiff")


def attachment_to_document(att: Attachment, rules: ExtractionRules,
                           limits: Limits = DEFAULT_LIMITS) -> ExtractedDocument:
    """Read one attachment; one the MIME layer could not unpack keeps its error."""
    info = FileInfo(att.filename, att.sha256, att.content_type, att.size)
    if att.error:
        return failed_document(rules, info, att.error, att.error_detail)
    return bytes_to_document(info, att.data, rules, limits)


def bytes_to_document(info: FileInfo, data: bytes, rules: ExtractionRules,
                      limits: Limits = DEFAULT_LIMITS) -> ExtractedDocument:
    """Dispatch on the real type: PDF, Word, refused formats, or anything else."""
    if len(data) > limits.max_attachment_bytes:
        return failed_document(rules, info, "too_large", f"{len(data)} bytes")
    kind = file_kind(data, info.filename)
    if kind == "pdf":
        return pdf_to_document(info, data, rules, limits)
    if kind == "docx":
        return docx_to_document(info, data, rules, limits)
    if kind == "image":
        return image_to_document(info, data, rules, limits)
    if kind == "encrypted":
        return failed_document(rules, info, "encrypted", "password-protected Word document")
    if kind in ("doc", "odt", "docm"):
        return failed_document(rules, info, "unsupported_format", UNSUPPORTED)
    if kind == "broken":
        return failed_document(rules, info, "broken", "the file is not what its name says")
    return _other(info, rules)


def file_kind(data: bytes, filename: str) -> str:
    """pdf, docx, docm, doc, odt, image, encrypted, broken (a .pdf/.docx that is not), other."""
    sniffed = sniff_type(data, filename)
    if sniffed == PDF:
        return "pdf"
    if sniffed in _PAGE_IMAGES:
        return "image"
    if sniffed in (DOCX, ZIP):
        return _package_kind(data, sniffed, filename)
    if sniffed == OLE and _ENCRYPTED_PACKAGE in data:
        # Office puts a password-protected .docx in an OLE2 file ("EncryptedPackage").
        return "encrypted"
    if sniffed == MSWORD or (sniffed == OLE and filename.lower().endswith(".doc")):
        return "doc"
    if sniffed.startswith(_OPEN_DOCUMENT):
        return "odt"
    return "broken" if filename.lower().endswith((".pdf", ".docx")) else "other"


def _package_kind(data: bytes, sniffed: str, filename: str) -> str:
    """A Word package (its main part may have another name), a macro-enabled one, or not."""
    try:
        types = read_zip_member(data, "[Content_Types].xml", _MAX_CONTENT_TYPES)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, MemberError):
        # The Word reader then tells what is wrong with the package (a bomb, a broken part).
        return "docx" if sniffed == DOCX or filename.lower().endswith(".docx") else "other"
    if _MACRO_WORD.lower() in types.lower():
        return "docm"
    if _WORD_MAIN in types or sniffed == DOCX:
        return "docx"
    return "other"


def _other(info: FileInfo, rules: ExtractionRules) -> ExtractedDocument:
    """Images and other files: a kind from the file name, no text, no fields."""
    return to_document(rules, info, Findings(text="", first_text="", pages=None, fields=()))
