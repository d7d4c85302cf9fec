"""Word forms made with python-docx (content controls and legacy fields as inserted XML)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from docx.shared import Cm
from PIL import Image

from config.extraction_rules import ExtractionRules, load_extraction_rules
from parsers.docx import docx_to_document
from parsers.formats import UNSUPPORTED, bytes_to_document
from parsers.labels import FileInfo
from parsers.records import ExtractedDocument
from tests.parsers.bombs import MIB, Entry, compress, honest, lying_zip, run_measured, zeros

FAMHP = Path(__file__).resolve().parents[2] / "config" / "profiles" / "famhp" / "extraction.toml"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


def saved(document: Any) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def info(name: str, data: bytes) -> FileInfo:
    return FileInfo(name, "f" * 64, DOCX_TYPE, len(data))


def read(data: bytes, rules: ExtractionRules, name: str = "form.docx") -> ExtractedDocument:
    return docx_to_document(info(name, data), data, rules)


def by_key(document: ExtractedDocument) -> dict[str, str]:
    return {f.key: f.value for f in document.fields}


def table(document: Any, rows: list[list[str]]) -> Any:
    grid = document.add_table(rows=len(rows), cols=len(rows[0]))
    for cells, texts in zip(grid.rows, rows, strict=True):
        for cell, text in zip(cells.cells, texts, strict=True):
            cell.text = text
    return grid


def test_label_value_table_with_ticked_boxes(rules: ExtractionRules) -> None:
    document = docx.Document()
    document.core_properties.subject = "Part 1 - to be completed by the applicant"
    document.add_paragraph("1. Applicant")
    table(document, [
        ["Name of the applicant (organisation)", "Valvia Cardio Ltd"],
        ["The applicant is the", "☐ Manufacturer   ☒ Authorised representative"],
        ["E-mail address", "Ciara.Walsh@valvia-cardio.ie"],
        ["Risk class", "Class III"],
    ])
    found = read(saved(document), rules, "part1.docx")
    assert found.error is None and found.kind == "form_part1" and found.language == "en"
    assert by_key(found) == {"applicant_name": "Valvia Cardio Ltd",
                             "applicant_role": "authorised_representative",
                             "contact_email": "ciara.walsh@valvia-cardio.ie",
                             "risk_class": "III"}
    email = next(f for f in found.fields if f.key == "contact_email")
    assert (email.source.channel, email.source.table, email.source.row, email.source.cell) == (
        "docx_table", 1, 3, 2)
    assert email.source.label == "E-mail address"
    assert email.source.describe() == "part1.docx table 1 row 3 cell 2"


def test_header_row_of_labels_above_a_row_of_values(rules: ExtractionRules) -> None:
    document = docx.Document()
    table(document, [["Naam van het hulpmiddel", "Model", "Periode"],
                     ["TracheoSoft Paed", "TSP-40", "mei tot oktober"]])
    table(document, [["Gevraagd aantal", "Gebruiksperiode"], ["250 stuks", "6 maanden"]])
    found = read(saved(document), rules)
    # A length of time is a period (an ISO 8601 duration); months without a year are none.
    assert by_key(found) == {"device_name": "TracheoSoft Paed", "device_model": "TSP-40",
                             "quantity": "250", "period": "P6M"}
    quantity = next(f for f in found.fields if f.key == "quantity")
    assert (quantity.source.table, quantity.source.row, quantity.source.cell) == (2, 2, 1)
    assert found.language == "nl"


def test_a_label_left_empty_takes_nothing_from_the_rows_below(rules: ExtractionRules) -> None:
    document = docx.Document()
    table(document, [["Device model", ""], ["Catalogue number", ""],
                     ["Initialen van de patiënt", ""], ["Beoogde gebruiksdatum", "08/04/2026"]])
    found = read(saved(document), rules)
    assert by_key(found) == {"intended_use_date": "2026-04-08"}
    assert any("device_model" in miss for miss in found.near_misses)


def sdt_text(tag: str, alias: str, value: str) -> Any:
    placeholder = "" if value else "<w:showingPlcHdr/>"
    return parse_xml(
        f'<w:sdt {nsdecls("w")}><w:sdtPr><w:alias w:val="{alias}"/><w:tag w:val="{tag}"/>'
        f'{placeholder}<w:text/></w:sdtPr><w:sdtContent><w:r><w:t>'
        f'{value or "Click or tap here to enter text."}</w:t></w:r></w:sdtContent></w:sdt>')


def sdt_box(tag: str, checked: bool) -> Any:
    glyph = "☒" if checked else "☐"
    return parse_xml(
        f'<w:sdt {nsdecls("w", "w14")}><w:sdtPr><w:tag w:val="{tag}"/><w14:checkbox>'
        f'<w14:checked w14:val="{int(checked)}"/></w14:checkbox></w:sdtPr>'
        f'<w:sdtContent><w:r><w:t>{glyph}</w:t></w:r></w:sdtContent></w:sdt>')


def test_content_controls_by_tag_title_and_check_box(rules: ExtractionRules) -> None:
    document = docx.Document()
    grid = document.add_table(rows=5, cols=2)
    labels = ["Anything", "Titled only", "Empty", "Regulation", "Patient"]
    for row, label in zip(grid.rows, labels, strict=True):
        row.cells[0].text = label
    grid.rows[0].cells[1].paragraphs[0]._p.append(sdt_text("DeviceName", "", "Scolix MagRod"))
    grid.rows[1].cells[1].paragraphs[0]._p.append(sdt_text("", "Modèle du dispositif",
                                                           "SMR-5.5"))
    grid.rows[2].cells[1].paragraphs[0]._p.append(sdt_text("udi_di", "UDI-DI", ""))
    grid.rows[3].cells[1].paragraphs[0]._p.append(sdt_box("regulation.MDR", False))
    grid.rows[3].cells[1].paragraphs[0]._p.append(sdt_box("regulation.IVDR", True))
    grid.rows[4].cells[1].paragraphs[0]._p.append(sdt_text("pt", "", "Jean Dupont"))
    found = read(saved(document), rules)
    assert by_key(found) == {"device_name": "Scolix MagRod", "device_model": "SMR-5.5",
                             "regulation": "IVDR", "patient_reference": "J.D."}
    fields = {f.key: f for f in found.fields}
    assert fields["device_name"].source.channel == "docx_content_control"
    assert fields["device_name"].source.form_field == "DeviceName"
    assert fields["device_name"].rule.startswith("famhp.name.device_name.device-")
    assert fields["device_model"].rule.startswith("famhp.label.device_model.")
    assert fields["patient_reference"].confidence < 0.7  # a full name cut to initials
    assert "udi_di" not in fields  # a placeholder is no value


def test_content_controls_in_the_header_and_footer_are_read(rules: ExtractionRules) -> None:
    document = docx.Document()
    document.add_paragraph("Compassionate use - Part 1")
    section = document.sections[0]
    section.header.paragraphs[0]._p.append(sdt_text("DeviceName", "", "Scolix MagRod"))
    section.footer.paragraphs[0].text = "Model: SMR-5.5"
    found = read(saved(document), rules)
    assert by_key(found) == {"device_name": "Scolix MagRod", "device_model": "SMR-5.5"}


def repeating_section(rows: list[tuple[str, str]]) -> Any:
    """A table whose rows sit in a repeating section: a control per row inside a control."""
    ns = nsdecls("w")
    items = "".join(
        f'<w:sdt><w:sdtPr><w:tag w:val="item{n}"/></w:sdtPr><w:sdtContent><w:tr>'
        f'<w:tc><w:p><w:r><w:t>{label}</w:t></w:r></w:p></w:tc>'
        f'<w:tc><w:p><w:r><w:t>{value}</w:t></w:r></w:p></w:tc></w:tr></w:sdtContent></w:sdt>'
        for n, (label, value) in enumerate(rows))
    return parse_xml(
        f'<w:tbl {ns}><w:tblGrid><w:gridCol/><w:gridCol/></w:tblGrid><w:sdt><w:sdtPr>'
        f'<w:tag w:val="devices"/><w15:repeatingSection xmlns:w15="http://schemas.microsoft.com/'
        f'office/word/2012/wordml"/></w:sdtPr><w:sdtContent>{items}</w:sdtContent></w:sdt>'
        f'</w:tbl>')


def test_rows_of_a_repeating_section_are_read_as_table_rows(rules: ExtractionRules) -> None:
    document = docx.Document()
    document.add_paragraph("Compassionate use - Part 1")
    document.element.body.insert(1, repeating_section(
        [("Name of the device", "Scolix MagRod"), ("Model", "SMR-5.5")]))
    found = read(saved(document), rules)
    assert by_key(found) == {"device_name": "Scolix MagRod", "device_model": "SMR-5.5"}
    name = next(f for f in found.fields if f.key == "device_name")
    assert (name.source.table, name.source.row, name.source.cell) == (1, 1, 2)


def legacy_field(name: str, kind: str, value: str | bool) -> list[Any]:
    ns = nsdecls("w")
    if kind == "text":
        data, code = "<w:textInput/>", "FORMTEXT"
        result = [f'<w:r {ns}><w:fldChar w:fldCharType="separate"/></w:r>',
                  f'<w:r {ns}><w:t xml:space="preserve">{value}</w:t></w:r>']
    else:
        data = f'<w:checkBox><w:default w:val="0"/>{"<w:checked/>" if value else ""}</w:checkBox>'
        code, result = "FORMCHECKBOX", []
    return [parse_xml(x) for x in (
        f'<w:r {ns}><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="{name}"/>'
        f'{data}</w:ffData></w:fldChar></w:r>',
        f'<w:r {ns}><w:instrText> {code} </w:instrText></w:r>', *result,
        f'<w:r {ns}><w:fldChar w:fldCharType="end"/></w:r>')]


def test_legacy_form_fields_by_name_or_by_the_label_cell(rules: ExtractionRules) -> None:
    document = docx.Document()
    grid = document.add_table(rows=3, cols=2)
    grid.rows[0].cells[0].text = "Nom du médecin traitant"
    grid.rows[1].cells[0].text = "Anything"
    grid.rows[2].cells[0].text = "Qualité du demandeur"
    cells = [row.cells[1].paragraphs[0]._p for row in grid.rows]
    cells[0].extend(legacy_field("Text1", "text", "Pr Jean-François Dumont"))
    cells[1].extend(legacy_field("PhysicianEmail", "text", "JF.Dumont@SaintLuc.be"))
    cells[2].extend(legacy_field("Check1", "box", False))
    cells[2].append(parse_xml(f'<w:r {nsdecls("w")}><w:t xml:space="preserve"> Fabricant  '
                              "</w:t></w:r>"))
    cells[2].extend(legacy_field("RoleMandated", "box", True))
    found = read(saved(document), rules)
    assert by_key(found) == {"physician_name": "Pr Jean-François Dumont",
                             "physician_email": "jf.dumont@saintluc.be",
                             "applicant_role": "mandated_third_party"}
    email = next(f for f in found.fields if f.key == "physician_email")
    assert (email.source.channel, email.source.form_field) == ("docx_legacy_field",
                                                               "PhysicianEmail")
    assert "☐ Fabricant  ☒" in found.text


def test_paragraphs_with_label_value_and_ticked_boxes(rules: ExtractionRules) -> None:
    document = docx.Document()
    document.add_paragraph("Demande de dérogation nationale")
    document.add_paragraph("Nom du dispositif : Hemotype Anti-D")
    document.add_paragraph("Le dispositif relève du : ☐ RDM ☒ RDIV")
    document.add_paragraph("Justification")
    document.add_paragraph("Rupture d'approvisionnement européenne")
    document.add_paragraph("du seul réactif marqué CE.")
    found = read(saved(document), rules, "demande.docx")
    assert by_key(found) == {
        "device_name": "Hemotype Anti-D", "regulation": "IVDR",
        "justification": "Rupture d'approvisionnement européenne du seul réactif marqué CE."}
    device = next(f for f in found.fields if f.key == "device_name")
    assert (device.source.channel, device.source.paragraph) == ("docx_paragraph", 2)
    assert found.kind == "national_form" and found.language == "fr"


def picture() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (60, 20), "white").save(out, format="PNG")
    out.seek(0)
    return out


@pytest.mark.parametrize("signed", [True, False])
def test_signature_cell_is_signed_when_it_holds_a_picture(rules: ExtractionRules,
                                                          signed: bool) -> None:
    document = docx.Document()
    grid = table(document, [["Handtekening", ""], ["Datum van ondertekening", "11-03-2026"]])
    if signed:
        grid.rows[0].cells[1].paragraphs[0].add_run().add_picture(picture(), width=Cm(3))
    found = read(saved(document), rules)
    assert [(s.name, s.signed) for s in found.signatures] == [("Handtekening", signed)]
    assert found.signatures[0].source.cell == 2
    assert by_key(found) == {"signature_date": "2026-03-11"}


def test_tracked_deletions_are_not_read(rules: ExtractionRules) -> None:
    document = docx.Document()
    paragraph = document.add_paragraph("Model: ")
    paragraph._p.append(parse_xml(
        f'<w:del {nsdecls("w")} w:id="1" w:author="a"><w:r><w:delText>OLD-1</w:delText></w:r>'
        "</w:del>"))
    paragraph._p.append(parse_xml(
        f'<w:ins {nsdecls("w")} w:id="2" w:author="a"><w:r><w:t>NEW-2</w:t></w:r></w:ins>'))
    assert by_key(read(saved(document), rules)) == {"device_model": "NEW-2"}


# --- files that are not (readable) .docx -------------------------------------------------------


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3), as Word 97 and Office encryption write."""
    free, end, fat_sector, none = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    bodies = [b.ljust(max(4096, -(-len(b) // 512) * 512), b"\0") for b in streams.values()]
    fat, starts = [fat_sector, end], []
    for body in bodies:
        starts.append(len(fat))
        count = len(body) // 512
        fat += [len(fat) + i + 1 for i in range(count - 1)] + [end]
    fat += [free] * (128 - len(fat))

    def entry(name: str, kind: int, start: int, size: int, right: int, child: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\0\0"
        return (encoded.ljust(64, b"\0") + struct.pack("<HBBIII", len(encoded), kind, 1,
                                                        none, right, child)
                + b"\0" * 36 + struct.pack("<IQ", start, size))

    entries = [entry("Root Entry", 5, end, 0, none, 1)]
    for index, (name, start, body) in enumerate(zip(streams, starts, bodies, strict=True), 1):
        entries.append(entry(name, 2, start, len(body),
                             index + 1 if index < len(streams) else none, none))
    entries += [b"\0" * 64 + struct.pack("<HBBIII", 0, 0, 0, none, none, none) + b"\0" * 48
                ] * (4 - len(entries))
    header = (bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 16
              + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
              + struct.pack("<9I", 0, 1, 1, 0, 4096, end, 0, end, 0)
              + struct.pack("<I", 0) + struct.pack("<I", free) * 108)
    return header + struct.pack("<128I", *fat) + b"".join(entries) + b"".join(bodies)


def odt() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        package.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def docm(rules: ExtractionRules) -> bytes:
    data = saved(docx.Document())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            body = source.read(item)
            if item.filename == "[Content_Types].xml":
                body = body.replace(b"wordprocessingml.document.main+xml",
                                    b"ms-word.document.macroEnabled.main+xml")
            target.writestr(item, body)
        target.writestr("word/vbaProject.bin", b"\0" * 10)
    return out.getvalue()


@pytest.mark.parametrize(("name", "make", "reason"), [
    ("request.doc", lambda r: compound_file({"WordDocument": b"\xec\xa5" + b"\0" * 5000}),
     "unsupported_format"),
    ("request.odt", lambda r: odt(), "unsupported_format"),
    ("request.docm", docm, "unsupported_format"),
    ("request.docx", lambda r: compound_file({"EncryptionInfo": b"\x04\0\x04\0" + b"\0" * 8,
                                              "EncryptedPackage": b"\0" * 8192}), "encrypted"),
    ("request.docx", lambda r: saved(docx.Document())[:1500], "broken"),
    ("request.docx", lambda r: b"PK\x03\x04 not really a zip", "broken"),
])
def test_word_files_that_cannot_be_read(rules: ExtractionRules, name: str, make: Any,
                                        reason: str) -> None:
    data = make(rules)
    found = bytes_to_document(info(name, data), data, rules)
    assert (found.error, found.fields) == (reason, ())
    if reason == "unsupported_format":
        assert found.error_detail == UNSUPPORTED


def with_body_xml(body: bytes) -> bytes:
    """A Word file whose main document part is the given XML."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved(docx.Document()))) as source, \
            zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, body if item.filename == "word/document.xml"
                            else source.read(item))
    return out.getvalue()


def test_an_external_entity_of_a_word_file_is_not_read(rules: ExtractionRules,
                                                      tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    body = (f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY x SYSTEM '
            f'"file://{secret}">]><w:document {nsdecls("w")}><w:body>'
            '<w:p><w:r><w:t>Name of the device: PulmoValve &x;</w:t></w:r></w:p>'
            '</w:body></w:document>').encode()
    found = read(with_body_xml(body), rules)
    assert found.error is None and "PulmoValve" in found.text
    assert "TOP-SECRET" not in found.text


def test_a_word_file_whose_entities_explode_is_refused(rules: ExtractionRules) -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY l0 "lol">{laughs}]>'
            f'<w:document {nsdecls("w")}><w:body><w:p><w:r><w:t>&l9;</w:t></w:r></w:p>'
            '</w:body></w:document>').encode()
    found = read(with_body_xml(body), rules)
    # 10^9 'lol's: the XML parser stops at its amplification limit, the file is kept broken.
    assert (found.error, found.fields) == ("broken", ())
    assert "amplification" in found.error_detail


def test_a_zip_that_inflates_far_beyond_its_size_is_refused(rules: ExtractionRules) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved(docx.Document()))) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr("word/media/padding.bin", b"\0" * 30_000_000)
    found = read(out.getvalue(), rules)
    assert found.error == "zip_bomb"


_READ_DOCX = """
import json, sys
from pathlib import Path
from config.extraction_rules import load_extraction_rules
from parsers.formats import bytes_to_document
from parsers.labels import FileInfo
data = Path(sys.argv[1]).read_bytes()
found = bytes_to_document(FileInfo("form.docx", "0" * 64, "", len(data)), data,
                          load_extraction_rules(Path(sys.argv[2])))
print(json.dumps([found.error, found.error_detail]))
"""


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_word_part_inflating_past_its_declared_size_is_refused_cheaply(
        method: int, tmp_path: Path) -> None:
    # python-docx read the part through zipfile, which inflated 256 MiB (4 GiB in the attack)
    # of a bzip2 or LZMA part that declared a few KB.
    with zipfile.ZipFile(io.BytesIO(saved(docx.Document()))) as source:
        parts = [honest(i.filename, source.read(i), zipfile.ZIP_DEFLATED)
                 for i in source.infolist() if i.filename != "word/document.xml"]
    bomb = Entry("word/document.xml", method, compress(method, zeros(256 * MIB)), 4000)
    path = tmp_path / "form.docx"
    path.write_bytes(lying_zip([*parts, bomb]))
    (reason, detail), peak = run_measured(_READ_DOCX, str(path), str(FAMHP),
                                          address_space_mb=1024)
    assert reason == "zip_bomb"
    assert "'word/document.xml'" in str(detail)
    assert peak < 200


def test_a_word_file_with_bzip2_parts_is_read(rules: ExtractionRules) -> None:
    with zipfile.ZipFile(io.BytesIO(_device_form())) as source:
        parts = [honest(i.filename, source.read(i), zipfile.ZIP_BZIP2)
                 for i in source.infolist()]
    found = read(lying_zip(parts), rules)
    assert found.error is None
    assert by_key(found)["device_name"] == "CardioFlow"


def _device_form() -> bytes:
    document = docx.Document()
    document.add_paragraph("Device name: CardioFlow")
    return saved(document)


def test_a_value_reading_like_a_label_under_its_own_label_is_a_value(
        rules: ExtractionRules) -> None:
    # 'Fabricant' under 'Le requérant est (fabricant, ...)' is the role, not the label of the
    # manufacturer's name taking the contact's name beside it.
    document = docx.Document()
    table(document, [
        ["Raison sociale du demandeur", "Le requérant est (fabricant, mandataire ou tiers "
                                        "mandaté)", "Correspondant du dossier (nom)"],
        ["Respira Medical BV", "Fabricant (demande propre)", "Sanne Bakker"]])
    found = by_key(read(saved(document), rules))
    assert found["applicant_role"] == "manufacturer"
    assert "manufacturer_name" not in found
