"""What a file really is, from its bytes: senders' declared types are often wrong."""

from __future__ import annotations

import io
import mimetypes
import zipfile

import filetype
import olefile  # type: ignore[import-untyped]

from parsers.archive import is_zip, zip_entry_count

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ZIP = "application/zip"
OLE = "application/x-ole-storage"
MSWORD = "application/msword"
OUTLOOK = "application/vnd.ms-outlook"
TNEF = "application/vnd.ms-tnef"
EML = "message/rfc822"
OCTET = "application/octet-stream"

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TNEF_MAGIC = b"\x78\x9f\x3e\x22"
# Some producers put junk (a mail header, a BOM) before %PDF; readers accept it in 1 KB.
_PDF_WINDOW = 1024
_TEXT_SAMPLE = 8192
# Listing a huge central directory costs memory; beyond this a zip is just a zip here.
_MAX_ENTRIES_TO_LIST = 10_000
_OOXML_PARTS = (("word/document.xml", DOCX), ("xl/workbook.xml", XLSX),
                ("ppt/presentation.xml", PPTX))
_OLE_STREAMS = (("WordDocument", MSWORD), ("Workbook", "application/vnd.ms-excel"),
                ("Book", "application/vnd.ms-excel"),
                ("PowerPoint Document", "application/vnd.ms-powerpoint"))
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")
# Control bytes that text never holds (tab, LF, FF, CR and ESC for ISO-2022 are allowed).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))


def sniff_type(data: bytes, filename: str, declared: str | None = None) -> str:
    """Return the MIME type the bytes show; else a text type; else declared or octet-stream."""
    found = _container_type(data, filename) or _library_type(data)
    if found:
        return found
    if looks_like_text(data):
        return _text_type(data, filename)
    if declared and "/" in declared and not declared.startswith(("text/", "multipart/")):
        return declared.lower()
    return OCTET


def _container_type(data: bytes, filename: str) -> str | None:
    """Our own checks, which know more than a magic-number table.

    A signature at the very start wins over ``%PDF`` further in: a zip whose first member
    is a stored PDF shows ``%PDF`` a few bytes after its own ``PK`` signature.
    """
    if data.startswith(OLE_MAGIC):
        return ole_type(data, filename)
    if data.startswith(TNEF_MAGIC):
        return TNEF
    if is_zip(data):
        return zip_type(data)
    if b"%PDF" in data[:_PDF_WINDOW]:
        return PDF
    return None


def _library_type(data: bytes) -> str | None:
    """Ask the filetype package's magic numbers (images, archives, media ...)."""
    kind = filetype.guess(data[:_TEXT_SAMPLE])
    return None if kind is None else str(kind.mime)


def ole_type(data: bytes, filename: str) -> str:
    """Refine an OLE2 compound file: Word, Excel, PowerPoint or an Outlook item."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            streams = {"/".join(path) for path in ole.listdir(streams=True, storages=True)}
    except Exception:
        # olefile raises many unrelated types on a damaged file; it is then just OLE2.
        return OLE
    for stream, mime in _OLE_STREAMS:
        if stream in streams:
            return mime
    if "__properties_version1.0" in streams or filename.lower().endswith(".msg"):
        return OUTLOOK
    return OLE


def zip_type(data: bytes) -> str:
    """Tell Word, other Office Open XML and OpenDocument files from plain zip archives."""
    if data[30:38] == b"mimetype":
        # ODF stores its type uncompressed as the first member, readable at a fixed offset.
        declared = data[38:38 + 80].split(b"PK", 1)[0].decode("ascii", "replace").strip()
        if declared.startswith("application/vnd.oasis.opendocument"):
            return declared
    count = zip_entry_count(data)
    if count is None or count > _MAX_ENTRIES_TO_LIST:
        return ZIP
    return _ooxml_type(data) or ZIP


def _ooxml_type(data: bytes) -> str | None:
    """Find the main part of an Office Open XML package among the member names."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    return next((mime for part, mime in _OOXML_PARTS if part in names), None)


def looks_like_text(data: bytes) -> bool:
    """Tell text from binary: no NUL or other control bytes in the first 8 KB."""
    sample = data[:_TEXT_SAMPLE]
    if not sample.strip():
        return bool(sample)
    return len(sample.translate(None, _BINARY_BYTES)) == len(sample)


def _text_type(data: bytes, filename: str) -> str:
    """Name text as HTML when it starts like HTML, else by its extension, else plain."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_HTML_STARTS):
        return "text/html"
    guessed, _ = mimetypes.guess_type(filename or "", strict=False)
    if guessed and (guessed.startswith("text/") or guessed in (EML, "application/xml",
                                                               "application/json")):
        return guessed
    return "text/plain"
