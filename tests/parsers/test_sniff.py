"""What a file really is, whatever the sender declared."""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile
from pathlib import Path

import docx
import pytest
from reportlab.pdfgen import canvas

from parsers.outlook import msg_to_item
from parsers.sniff import (
    DOCX,
    MSWORD,
    ODT,
    OLE,
    OLE_MAGIC,
    OUTLOOK,
    PDF,
    TNEF,
    XLSX,
    ZIP,
    looks_like_text,
    sniff_type,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _pdf() -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "Compassionate use request")
    page.save()
    return buffer.getvalue()


def _docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Device name: CardioFlow")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _zip(members: dict[str, bytes], first_stored: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if first_stored:
            archive.writestr(first_stored, members.pop(first_stored), zipfile.ZIP_STORED)
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_pdf_is_recognised_whatever_the_name() -> None:
    assert sniff_type(_pdf(), "scan.jpg") == PDF


def test_pdf_with_junk_before_the_header_is_still_a_pdf() -> None:
    # Some gateways prepend a line; readers accept %PDF within the first kilobyte.
    assert sniff_type(b"X-Junk: yes\r\n" * 20 + _pdf(), "form") == PDF


def test_pdf_header_too_far_in_is_not_trusted() -> None:
    assert sniff_type(b"x" * 2000 + b"%PDF-1.4", "f.pdf") == "text/plain"


def test_word_document_is_told_from_a_plain_zip() -> None:
    assert sniff_type(_docx(), "form.zip") == DOCX
    assert sniff_type(_zip({"form.pdf": _pdf()}), "form.docx") == ZIP


def test_other_office_open_xml_packages() -> None:
    assert sniff_type(_zip({"xl/workbook.xml": b"<workbook/>"}), "x") == XLSX


def test_opendocument_text_by_its_mimetype_member() -> None:
    odt = _zip({"mimetype": ODT.encode("ascii"), "content.xml": b"<office:document/>"},
               first_stored="mimetype")
    assert sniff_type(odt, "form.odt") == ODT


def test_ole2_file_without_known_streams_is_ole_storage() -> None:
    # A truncated compound file: the header says OLE2, nothing more can be read.
    assert sniff_type(OLE_MAGIC + b"\x00" * 600, "thing.bin") == OLE


def test_legacy_word_document_inside_an_outlook_item() -> None:
    item = msg_to_item((CORPUS / "emails" / "poi_attachment_test_msg.msg").read_bytes())
    word = next(f for f in item.files if f.name == "test-unicode.doc")
    assert sniff_type(word.data, "whatever") == MSWORD


def test_outlook_message_and_tnef_from_the_corpus() -> None:
    emails = CORPUS / "emails"
    assert sniff_type((emails / "poi_quick.msg").read_bytes(), "quick") == OUTLOOK
    assert sniff_type((emails / "tnefparse_two-files.tnef").read_bytes(), "winmail.dat") == TNEF


def test_compressed_files_by_magic_number() -> None:
    assert sniff_type(bz2.compress(b"data" * 100), "foo.txt.bz2") == "application/x-bzip2"
    assert sniff_type(gzip.compress(b"data" * 100), "foo") == "application/gzip"


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"Dear FAMHP,\r\nplease find attached our request.\r\n", "note", "text/plain"),
        (b"\xef\xbb\xbf<!DOCTYPE html><html><body>Hi</body></html>", "x", "text/html"),
        (b"<HTML><BODY>Hi</BODY></HTML>", "", "text/html"),
        (b"name;device\r\nCardioFlow;III\r\n", "list.csv", "text/csv"),
        ("Подтверждение заявки".encode("koi8-r"), "ru.txt", "text/plain"),
    ],
)
def test_text_is_text(data: bytes, name: str, expected: str) -> None:
    assert sniff_type(data, name) == expected


def test_unknown_binary_falls_back_to_the_declared_type() -> None:
    blob = bytes(range(256)) * 4
    assert sniff_type(blob, "x.bin", "application/x-custom") == "application/x-custom"
    assert sniff_type(blob, "x.bin") == "application/octet-stream"
    # A text type declared for binary bytes is not believed.
    assert sniff_type(blob, "x.txt", "text/plain") == "application/octet-stream"


def test_empty_file_is_octet_stream() -> None:
    assert sniff_type(b"", "empty.pdf") == "application/octet-stream"
    assert not looks_like_text(b"")


def test_a_zip_whose_first_member_is_a_stored_pdf_is_a_zip() -> None:
    # The member's %PDF sits a few bytes after the archive's own PK signature.
    archive = _zip({"part1.pdf": _pdf(), "part2.docx": _docx()}, first_stored="part1.pdf")
    assert b"%PDF" in archive[:1024]
    assert sniff_type(archive, "request.zip") == ZIP
