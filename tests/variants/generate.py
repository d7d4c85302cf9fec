"""Variant requests: the fixture requests' data, written in other words and other layouts.

Run from the repository root: ``python -m tests.variants.generate OUT [--count N]`` writes
``OUT/dev`` and ``OUT/eval``, each a labelled folder for ``derogation-intake rules eval``
(an ``.eml`` and its ``.expected.json`` per request). The label wordings come from
``tests.variants.paraphrases``, split per field and language into a development half and an
evaluation half; the data (applicants, devices) from the message fixtures; the layouts are
label left, label above, 'Label: value', two columns, labels printed before their values in
the text layer, fillable fields with meaningless names (PDF), one table, a table per
section, a header row, paragraphs and content controls (Word); Part 1 and Part 2 in one file
(either order, the mandate appended or not); the national form's quantity and period in one
combined field. Output is the same on every run for a given seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

from docx import Document
from docx.enum.text import WD_BREAK
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from docx.shared import Cm, Pt
from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen import canvas

from config.extraction_rules import FIELD_KEYS
from tests.fixtures.messages import make_messages as msgs
from tests.variants import eighth, fifth, fresh, heldout, ninth, seventh, sixth, tenth
from tests.variants import paraphrases as words

SEED = 20260413
LANGS = ("en", "fr", "nl")
PDF_MIME = "application/pdf"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PART1_KEYS = ("applicant_name", "applicant_role", "contact_name", "contact_email",
              "contact_phone", "manufacturer_name", "manufacturer_address", "manufacturer_srn",
              "device_name", "device_model", "device_reference", "udi_di", "risk_class",
              "regulation", "intended_purpose", "quantity", "regulatory_status",
              "signature_date")
PART2_KEYS = ("hospital_name", "physician_name", "physician_email", "patient_reference",
              "intended_use_date", "justification", "signature_date")
NATIONAL_KEYS = (*PART1_KEYS[:15], "regulatory_status", "quantity", "period", "justification",
                 "signature_date")
LONG = frozenset({"intended_purpose", "regulatory_status", "justification",
                  "manufacturer_address"})
CHOICES = {"applicant_role": ("manufacturer", "authorised_representative",
                              "mandated_third_party"),
           "regulation": ("MDR", "IVDR")}
PDF_LAYOUTS = ("inline", "left", "above", "twocol", "labels_first", "fillable_left",
               "fillable_above")
DOCX_LAYOUTS = ("table", "tables", "header", "paragraphs", "controls")
HOSPITALS = (("AZ Sint-Jan Brugge", "Dr. Pieter Claes", "pieter.claes@azsintjan.be"),
             ("CHU de Liège", "Dr Marie Lambert", "marie.lambert@chuliege.be"),
             ("UZ Gent", "Prof. Dr. Hilde Peeters", "hilde.peeters@uzgent.be"),
             ("Cliniques universitaires Saint-Luc", "Pr Olivier Dupont",
              "olivier.dupont@saintluc.uclouvain.be"),
             ("ZNA Middelheim", "Dr. Sofie Jacobs", "sofie.jacobs@zna.be"),
             ("Hôpital Erasme", "Dr Nadia Benali", "nadia.benali@erasme.ulb.be"))
JUSTIFICATIONS = {
    "en": ("No CE-marked device of this size exists; surgery is the only alternative and "
           "carries a high risk for this patient. Expected benefit: avoiding open surgery.",
           "All approved treatments have failed. The device is the last option and the "
           "published series show a clear benefit."),
    "fr": ("Aucun dispositif marqué CE de cette taille n'existe ; la chirurgie ouverte est "
           "la seule alternative et présente un risque élevé. Bénéfice attendu important.",
           "Tous les traitements autorisés ont échoué ; le dispositif est la dernière option "
           "et les séries publiées montrent un bénéfice net."),
    "nl": ("Er bestaat geen hulpmiddel met CE-markering in deze maat; open chirurgie is het "
           "enige alternatief en houdt een hoog risico in. Verwacht voordeel: aanzienlijk.",
           "Alle goedgekeurde behandelingen faalden; het hulpmiddel is de laatste optie en de "
           "gepubliceerde reeksen tonen een duidelijk voordeel."),
}
MONTHS = {"en": ("January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December"),
          "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                 "septembre", "octobre", "novembre", "décembre"),
          "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
                 "september", "oktober", "november", "december")}
PERIOD = {"en": ("from", "to"), "fr": ("du", "au"), "nl": ("van", "tot")}
CLASS_WORD = {"en": "Class", "fr": "Classe", "nl": "Klasse"}


# --- what a request holds ----------------------------------------------------------------


@dataclass
class Part:
    """One form (part) of a request: its kind and the printed rows."""

    kind: str
    title: str
    rows: list[tuple[str, str, str]]  # (key, printed label, printed value); key "" = combined
    signature: str | None = None  # printed signature label (Part 2)
    signed: bool = False


@dataclass
class Request:
    """A generated request: its parts, files, subject, and the labels it should get."""

    name: str
    lang: str
    request_type: str
    parts: list[Part]
    expected_fields: dict[str, str]
    missing: list[str]
    subject: str
    mandate: bool
    files: list[tuple[str, bytes, str]] = field(default_factory=list)
    note: str = ""


class Wording:
    """Picks label wordings from one half of the paraphrase lists, or from a whole list."""

    def __init__(self, rng: random.Random, half: int | None, source: ModuleType = words) -> None:
        self.rng = rng
        self.half = half
        self.words = source

    def pick(self, options: Sequence[str]) -> str:
        """One option of this half (every other item, from a seeded order)."""
        mine = (list(options)[self.half::2] if self.half is not None else []) or list(options)
        return self.rng.choice(mine)

    def label(self, key: str, lang: str) -> str:
        """A printed label of a field."""
        return self.pick(self.words.LABELS[key][lang])


def printed_date(iso: str, lang: str, rng: random.Random) -> str:
    """A date as people type it: numeric, written out, or ISO."""
    day = date.fromisoformat(iso)
    style = rng.choice(("num", "long", "iso", "dots"))
    if style == "long":
        return f"{day.day} {MONTHS[lang][day.month - 1]} {day.year}"
    if style == "iso":
        return iso
    sep = "." if style == "dots" else ("-" if lang == "nl" else "/")
    return f"{day.day:02d}{sep}{day.month:02d}{sep}{day.year}"


def latin1(text: str) -> str:
    """What Helvetica and a fillable field can show."""
    table = {"–": "-", "—": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "œ": "oe", "…": "...",
             "≥": ">=", "≤": "<=", "µ": "u"}
    return "".join(table.get(ch, ch) for ch in text).encode("latin-1", "replace").decode("latin-1")


def _devices() -> list[msgs.Device]:
    return [v for v in vars(msgs).values() if isinstance(v, msgs.Device)]


def _applicants() -> list[msgs.Applicant]:
    return [v for v in vars(msgs).values() if isinstance(v, msgs.Applicant)]


def make_request(number: int, wording: Wording, rng: random.Random) -> Request:
    """One request: compassionate use (two parts) or national derogation, with its labels."""
    lang = rng.choice(LANGS)
    applicant = rng.choice(_applicants())
    device = rng.choice(_devices())
    national = rng.random() < 0.35
    signed_on = f"2026-0{rng.randint(2, 4)}-{rng.randint(10, 28)}"
    values: dict[str, str] = {
        "applicant_name": applicant.name, "applicant_role": applicant.role,
        "contact_name": applicant.contact, "contact_email": applicant.email,
        "contact_phone": applicant.phone, "manufacturer_name": device.maker,
        "manufacturer_address": device.address, "manufacturer_srn": device.srn,
        "device_name": device.name, "device_model": device.model,
        "device_reference": device.reference, "udi_di": device.udi,
        "risk_class": device.risk_class, "regulation": device.regulation,
        "intended_purpose": _device_text(device.purpose, lang),
        "regulatory_status": _device_text(device.status, lang),
        "quantity": str(rng.randint(1, 4) if not national else rng.randint(5, 40)),
        "signature_date": signed_on,
    }
    values = {k: latin1(v) for k, v in values.items() if v}
    name = f"v{number:03d}_{lang}_{'nd' if national else 'cu'}"
    request = (_national if national else _compassionate)(name, lang, values, wording, rng)
    if not (device.model or device.reference):
        # A fixture device given by its name alone (the 'device unidentified' request): the
        # form lacks what identifies it, whatever the wording.
        request.missing = sorted({*request.missing, "device_identified"})
    return request


def _device_text(texts: dict[str, str], lang: str) -> str:
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


def _row(key: str, values: dict[str, str], lang: str, wording: Wording,
         rng: random.Random) -> tuple[str, str, str]:
    value = values[key]
    text = value
    if key in ("signature_date", "intended_use_date"):
        text = printed_date(value, lang, rng)
    elif key == "risk_class" and rng.random() < 0.5:
        text = f"{CLASS_WORD[lang]} {value}"
    elif key == "quantity" and rng.random() < 0.4:
        text = {"en": f"{value} units", "fr": f"{value} unités", "nl": f"{value} stuks"}[lang]
    elif key in CHOICES:
        text = wording.pick(wording.words.OPTIONS[value][lang])
    elif key == "period":
        start, end = value.split("/")
        a, b = PERIOD[lang]
        text = f"{a} {printed_date(start, lang, rng)} {b} {printed_date(end, lang, rng)}"
    return key, wording.label(key, lang), text


def _compassionate(name: str, lang: str, values: dict[str, str], wording: Wording,
                   rng: random.Random) -> Request:
    hospital, physician, email = rng.choice(HOSPITALS)
    patient = rng.choice(("J.D.", "M.V.", "A.B.", "K.L.", "P.-J. M.", "S.T."))
    values = {**values, "hospital_name": latin1(hospital), "physician_name": latin1(physician),
              "physician_email": email, "patient_reference": patient,
              "intended_use_date": f"2026-05-{rng.randint(10, 28)}",
              "justification": latin1(rng.choice(JUSTIFICATIONS[lang]))}
    part1 = Part("form_part1", wording.pick(wording.words.TITLES["form_part1"][lang]),
                 [_row(k, values, lang, wording, rng) for k in PART1_KEYS if k in values])
    signed = rng.random() < 0.85
    part2 = Part("form_part2", wording.pick(wording.words.TITLES["form_part2"][lang]),
                 [_row(k, values, lang, wording, rng) for k in PART2_KEYS if k in values],
                 signature=wording.pick(wording.words.SIGNATURE[lang]), signed=signed)
    mandated = values["applicant_role"] == "mandated_third_party"
    mandate = mandated and rng.random() < 0.8
    missing = ([] if signed else ["physician_signature"]) + (
        ["mandate_proof"] if mandated and not mandate else [])
    expected = {k: values[k] for k in (*PART1_KEYS, *PART2_KEYS) if k in values}
    subject = f"Compassionate Use – {hospital} – {patient}"
    return Request(name, lang, "compassionate_use", [part1, part2], expected, sorted(missing),
                   subject, mandate)


def _national(name: str, lang: str, values: dict[str, str], wording: Wording,
              rng: random.Random) -> Request:
    combined = rng.random() < 0.35
    values = {**values, "justification": latin1(rng.choice(JUSTIFICATIONS[lang]))}
    rows = [_row(k, values, lang, wording, rng) for k in NATIONAL_KEYS
            if k in values and k not in ("quantity", "period")]
    expected = {k: values[k] for k in NATIONAL_KEYS if k in values and k != "period"}
    if combined:
        months = rng.choice((6, 12, 18, 24))
        scope = wording.words.SCOPE_VALUE[lang].format(n=values["quantity"], m=months)
        rows.insert(len(rows) - 2, ("", wording.pick(wording.words.COMBINED_SCOPE[lang]), scope))
        expected["period"] = f"P{months}M"
    else:
        start = f"2026-0{rng.randint(5, 7)}-01"
        values["period"] = f"{start}/{int(start[:4]) + 1}{start[4:]}"
        expected["period"] = values["period"]
        at = len(rows) - 2
        rows[at:at] = [_row("quantity", values, lang, wording, rng),
                       _row("period", values, lang, wording, rng)]
    form = Part("national_form", wording.pick(wording.words.TITLES["national_form"][lang]), rows)
    mandated = values["applicant_role"] == "mandated_third_party"
    mandate = mandated and rng.random() < 0.8
    missing = ["mandate_proof"] if mandated and not mandate else []
    subject = rng.choice(("Request for national derogation", "Demande de dérogation",
                          "Aanvraag afwijking", "Derogation request - " + values["device_name"]))
    return Request(name, lang, "national_derogation", [form], expected, missing, subject,
                   mandate)


# --- PDF ---------------------------------------------------------------------------------

PAGE_W, PAGE_H = A4
MARGIN = 50.0
VALUE_X = 250.0


class Pdf:
    """A reportlab canvas with a cursor; values may be held back to be drawn last."""

    def __init__(self, title: str) -> None:
        self.buf = BytesIO()
        self.c = canvas.Canvas(self.buf, pagesize=A4, invariant=1, pageCompression=1)
        self.c.setTitle(title)
        self.y = PAGE_H - MARGIN
        self.later: list[tuple[float, float, str, str, float]] = []
        self.fields = 0

    def text(self, x: float, text: str, font: str = "Helvetica", size: float = 9.5,
             width: float | None = None, hold: bool = False) -> int:
        """Draw wrapped text at the cursor (or keep it for the end); return the lines."""
        parts = simpleSplit(text, font, size, width or PAGE_W - MARGIN - x) or [""]
        for i, part in enumerate(parts):
            y = self.y - size - i * (size + 3)
            if hold:
                self.later.append((x, y, part, font, size))
            else:
                self.c.setFont(font, size)
                self.c.drawString(x, y, part)
        return len(parts)

    def down(self, lines: int, size: float = 9.5, gap: float = 5.0) -> None:
        """Move the cursor under what was drawn."""
        self.y -= lines * (size + 3) + gap

    def need(self, height: float) -> None:
        """Start a new page when the next block does not fit."""
        if self.y - height < MARGIN + 20:
            self.page()

    def page(self) -> None:
        """Finish the page (held values drawn last) and start the next."""
        self.flush()
        self.c.showPage()
        self.y = PAGE_H - MARGIN

    def flush(self) -> None:
        """Draw the held values: after every label in the content stream."""
        for x, y, part, font, size in self.later:
            self.c.setFont(font, size)
            self.c.drawString(x, y, part)
        self.later = []

    def finish(self) -> bytes:
        """Close the document."""
        self.flush()
        self.c.showPage()
        self.c.save()
        return self.buf.getvalue()


def signature_png(name: str) -> bytes:
    """A handwritten-looking squiggle (its strokes come from the name)."""
    img = Image.new("RGB", (240, 70), "white")
    pen = ImageDraw.Draw(img)
    seed = sum(ord(ch) for ch in name)
    points = [(12.0 + i * 10, 40.0 + ((seed * (i + 3)) % 31) - 15) for i in range(22)]
    pen.line(points, fill=(20, 30, 110), width=3, joint="curve")
    out = BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def pdf_parts(parts: Sequence[Part], layout: str, lang: str, mandate: bytes | None,
              name_for_signature: str) -> bytes:
    """Draw the parts one after the other (a new page each), the mandate letter after them."""
    pdf = Pdf(parts[0].title)
    for index, part in enumerate(parts):
        if index:
            pdf.page()
        pdf.text(MARGIN, "FAMHP / AFMPS / FAGG", "Helvetica", 7.5)
        pdf.down(1, 7.5)
        pdf.down(pdf.text(MARGIN, part.title, "Helvetica-Bold", 12), 12, 8)
        _pdf_rows(pdf, part, layout)
        if part.signature:
            _pdf_signature(pdf, part, name_for_signature)
    if mandate is not None:
        pdf.page()
        _pdf_letter(pdf, mandate)
    return pdf.finish()


def _pdf_rows(pdf: Pdf, part: Part, layout: str) -> None:
    rows = list(part.rows)
    if layout == "twocol":
        short = [r for r in rows if r[0] not in LONG and len(r[2]) < 26 and len(r[1]) < 26]
        for left, right in zip(short[0::2], [*short[1::2], None], strict=False):
            pdf.need(20)
            pdf.text(MARGIN, left[1], width=110)
            pdf.text(170, left[2], width=130)
            if right is not None:
                pdf.text(310, right[1], width=115)
                pdf.text(430, right[2], width=115)
            pdf.down(1, gap=9)
        rows = [r for r in rows if r not in short]
        layout = "above"
    for key, label, value in rows:
        _pdf_row(pdf, layout, key, label, value)


def _pdf_row(pdf: Pdf, layout: str, key: str, label: str, value: str) -> None:
    pdf.need(60)
    if layout == "inline":
        pdf.down(pdf.text(MARGIN, f"{label}: {value}"))
    elif layout in ("left", "labels_first"):
        held = layout == "labels_first"
        lines = max(pdf.text(MARGIN, label, width=185),
                    pdf.text(VALUE_X, value, width=PAGE_W - MARGIN - VALUE_X, hold=held))
        pdf.down(lines, gap=7)
    elif layout == "above":
        pdf.down(pdf.text(MARGIN, label, "Helvetica-Bold", 8), 8, 2)
        pdf.down(pdf.text(MARGIN + 6, value, size=10), 10, 8)
    else:
        _pdf_widget(pdf, layout, key, label, value)


def _pdf_widget(pdf: Pdf, layout: str, key: str, label: str, value: str) -> None:
    """A fillable field with a meaningless name, its label left of it or above it."""
    pdf.fields += 1
    long = key in LONG
    height = 44.0 if long else 16.0
    if layout == "fillable_above":
        pdf.down(pdf.text(MARGIN, label, size=8.5), 8.5, 2)
        x, width = MARGIN, PAGE_W - 2 * MARGIN
        y = pdf.y - height
        pdf.y = y - 8
    else:
        lines = pdf.text(MARGIN, label, size=8.5, width=185)
        x, width = VALUE_X, PAGE_W - MARGIN - VALUE_X
        y = pdf.y - height
        pdf.y = min(y, pdf.y - lines * 11.5) - 8
    text = "\n".join(simpleSplit(value, "Helvetica", 9, width - 8)) if long else value
    pdf.c.acroForm.textfield(name=f"Text{pdf.fields}", x=x, y=y, width=width, height=height,
                             value=text, fontSize=9, borderWidth=0.6, forceBorder=True,
                             **({"fieldFlags": "multiline"} if long else {}))


def _pdf_signature(pdf: Pdf, part: Part, name: str) -> None:
    """A signature line; when signed, a picture drawn over the line and just above it."""
    pdf.need(90)
    pdf.y -= 30
    label = part.signature or "Signature"
    pdf.text(MARGIN, f"{label}:", "Helvetica", 9.5)
    line_y = pdf.y - 11
    pdf.c.setLineWidth(0.5)
    pdf.c.line(MARGIN + 150, line_y, MARGIN + 360, line_y)
    if part.signed:
        image = ImageReader(BytesIO(signature_png(name)))
        pdf.c.drawImage(image, MARGIN + 170, line_y - 10, width=150, height=44)
    pdf.y -= 40


def _pdf_letter(pdf: Pdf, text: str | bytes) -> None:
    body = text.decode() if isinstance(text, bytes) else text
    title, *paragraphs = body.split("\n")
    pdf.down(pdf.text(MARGIN, title, "Helvetica-Bold", 14), 14, 10)
    for paragraph in paragraphs:
        pdf.down(pdf.text(MARGIN, latin1(paragraph), size=10), 10, 6)


# --- Word --------------------------------------------------------------------------------


def docx_parts(parts: Sequence[Part], layout: str, mandate: bytes | None, name: str) -> bytes:
    """Write the parts (a page break between them), the mandate letter after them."""
    document = Document()
    document.styles["Normal"].font.size = Pt(10)
    props = document.core_properties
    props.title, props.author, props.last_modified_by, props.revision = "", "", "", 1
    props.created = props.modified = datetime(2026, 4, 1, 9, 0, 0)  # the same file every run
    for index, part in enumerate(parts):
        if index:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        head = document.add_paragraph().add_run(part.title)
        head.bold = True
        head.font.size = Pt(13)
        _docx_rows(document, part, layout)
        _docx_signature(document, part, layout, name)
    if mandate is not None:
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        title, *paragraphs = mandate.decode().split("\n")
        document.add_paragraph().add_run(title).bold = True
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    out = BytesIO()
    document.save(out)
    return _fixed_times(out.getvalue())


def _fixed_times(data: bytes) -> bytes:
    """The package with one fixed time on every entry: the same bytes on every run."""
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            entry = zipfile.ZipInfo(item.filename, date_time=(2026, 4, 1, 9, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, source.read(item))
    return out.getvalue()


def _docx_rows(document: Any, part: Part, layout: str) -> None:
    rows = part.rows
    if layout in ("table", "tables"):
        chunks = [rows] if layout == "table" else [rows[i:i + 5] for i in range(0, len(rows), 5)]
        for chunk in chunks:
            table = document.add_table(rows=0, cols=2)
            table.style = "Table Grid"
            for _, label, value in chunk:
                cells = table.add_row().cells
                cells[0].text, cells[1].text = label, value
            document.add_paragraph()
    elif layout == "header":
        for i in range(0, len(rows), 3):
            chunk = rows[i:i + 3]
            table = document.add_table(rows=2, cols=len(chunk))
            table.style = "Table Grid"
            for c, (_, label, value) in enumerate(chunk):
                table.rows[0].cells[c].text = label
                table.rows[1].cells[c].text = value
            document.add_paragraph()
    elif layout == "paragraphs":
        for _, label, value in rows:
            document.add_paragraph(f"{label}: {value}")
    else:
        for number, (_, label, value) in enumerate(rows, start=1):
            _control_paragraph(document, label, value, number)


def _control_paragraph(document: Any, label: str, value: str, number: int) -> None:
    """'Label' then a content control holding the value (no meaningful tag)."""
    par = document.add_paragraph()
    par.add_run(f"{label}\t")
    xml = (f'<w:sdt {nsdecls("w")}><w:sdtPr><w:id w:val="{7000 + number}"/>'
           f'<w:tag w:val="Text{number}"/></w:sdtPr><w:sdtContent><w:r><w:t xml:space="preserve">'
           f'{_xml(value)}</w:t></w:r></w:sdtContent></w:sdt>')
    par._p.append(parse_xml(xml))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _docx_signature(document: Any, part: Part, layout: str, name: str) -> None:
    if not part.signature:
        return
    if layout in ("table", "tables", "header"):
        table = document.add_table(rows=1, cols=2)
        table.style = "Table Grid"
        table.rows[0].cells[0].text = part.signature
        if part.signed:
            table.rows[0].cells[1].paragraphs[0].add_run().add_picture(
                BytesIO(signature_png(name)), width=Cm(4.5))
        return
    document.add_paragraph(f"{part.signature}:")
    par = document.add_paragraph()
    if part.signed:
        par.add_run().add_picture(BytesIO(signature_png(name)), width=Cm(4.5))
    else:
        par.add_run("____________________________")


# --- requests to files and messages --------------------------------------------------------


def mandate_text(request: Request, rng: random.Random) -> bytes:
    """The mandate letter's title and paragraphs."""
    lang = request.lang
    fields = request.expected_fields
    agent = fields["applicant_name"]
    title = msgs.DOC_TITLES["mandate"][lang]
    paragraphs = [p.format(device=fields["device_name"], model=fields.get("device_model", "-"),
                           reference="-", maker=fields["manufacturer_name"],
                           address=fields["manufacturer_address"], purpose="", agent=agent,
                           institution="", signed="2 March 2026",
                           maker_sig=f"[signed] {fields['manufacturer_name']}",
                           agent_sig=f"[signed] {agent}")
                  for p in msgs.DOC_TEXT["mandate"][lang]]
    return "\n".join([title, *paragraphs]).encode()


def render(request: Request, rng: random.Random) -> None:
    """Choose file types and layouts; fill request.files."""
    mandate = mandate_text(request, rng) if request.mandate else None
    signer = request.expected_fields.get("physician_name", "x")
    one_file = len(request.parts) > 1 and rng.random() < 0.5
    parts = list(request.parts)
    appended = mandate is not None and rng.random() < 0.5
    if one_file:
        if rng.random() < 0.25:
            parts.reverse()
        groups = [parts]
    else:
        groups = [[p] for p in parts]
    for index, group in enumerate(groups):
        last = index == len(groups) - 1
        inner = mandate if appended and last else None
        pdf = rng.random() < 0.55
        stem = rng.choice(("form", "request", "aanvraag", "demande", "application"))
        tag = "parts" if len(group) > 1 else {"form_part1": "part1", "form_part2": "part2",
                                               "national_form": "national"}[group[0].kind]
        filename = f"{stem}_{tag}_{request.lang}"
        if pdf:
            layout = rng.choice(PDF_LAYOUTS)
            data = pdf_parts(group, layout, request.lang, inner, signer)
            request.files.append((f"{filename}.pdf", data, PDF_MIME))
        else:
            layout = rng.choice(DOCX_LAYOUTS)
            data = docx_parts(group, layout, inner, signer)
            request.files.append((f"{filename}.docx", data, DOCX_MIME))
        request.note += f"{filename} {'pdf' if pdf else 'docx'}/{layout}; "
    if mandate is not None and not appended:
        letter = Pdf("mandate")
        _pdf_letter(letter, mandate)
        request.files.append((f"mandate_{request.lang}.pdf", letter.finish(), PDF_MIME))


def to_message(request: Request, number: int) -> bytes:
    """The e-mail that carries the request."""
    greeting = {"en": "Dear Sir or Madam,\n\nPlease find our request attached.\n\nKind regards",
                "fr": "Madame, Monsieur,\n\nVeuillez trouver notre demande en annexe.\n\n"
                      "Cordialement",
                "nl": "Geachte,\n\nIn bijlage vindt u onze aanvraag.\n\nMet vriendelijke groeten"}
    contact = request.expected_fields["contact_name"]
    email = request.expected_fields["contact_email"]
    spec = msgs.Spec(
        name=request.name, note=request.note, kind="new_request", lang=request.lang,
        sender=(contact, email), subject=request.subject, date="2026-04-14 10:00",
        msgid=f"<variant-{number:04d}@variants.example>",
        body=f"{greeting[request.lang]},\n{contact}\n",
        attachments=[msgs.Att(n, d, m) for n, d, m in request.files])
    return msgs.build(spec)


def expected(request: Request) -> dict[str, Any]:
    """The labels: every field (null where the request holds none), missing and complete."""
    fields = {k: {"value": request.expected_fields.get(k)} for k in FIELD_KEYS}
    return {"kind": "new_request", "request_type": request.request_type,
            "language": request.lang, "missing": request.missing,
            "complete": not request.missing, "fields": fields, "variant": request.note.strip()}


SPLITS: dict[str, tuple[int | None, ModuleType]] = {
    "dev": (0, words), "eval": (1, words), "heldout": (None, heldout), "fresh": (None, fresh),
    "fifth": (None, fifth), "sixth": (None, sixth), "seventh": (None, seventh),
    "eighth": (None, eighth), "ninth": (None, ninth), "tenth": (None, tenth)}
"""Each split's half of the wordings and their module. ``fresh`` to ``tenth`` are development
material too: sets of wordings written apart from the others, free to read when writing
rules."""


FRESH = ("fresh", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
"""The development sets written apart, in the order they were written."""


def generate(out: Path, count: int, seed: int = SEED,
             splits: Sequence[str] = ("dev", "eval")) -> dict[str, int]:
    """Write `count` requests per split under out/<split> (development, evaluation, held out)."""
    written: dict[str, int] = {}
    for split in splits:
        half, source = SPLITS[split]
        rng = random.Random(f"{seed}-{split}")
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        offset = 1000 * list(SPLITS).index(split)
        for number in range(1, count + 1):
            request = make_request(number, Wording(rng, half, source), rng)
            render(request, rng)
            (folder / f"{request.name}.eml").write_bytes(to_message(request, number + offset))
            (folder / f"{request.name}.expected.json").write_text(
                json.dumps(expected(request), indent=2, ensure_ascii=False) + "\n",
                encoding="utf-8")
        written[split] = count
    return written


def main(argv: Sequence[str] | None = None,
         write: Callable[[str], object] = sys.stdout.write) -> int:
    """Command line: write the variant folders."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--heldout", action="store_true",
                        help="also write OUT/heldout from the held-out wordings")
    parser.add_argument("--fresh", action="store_true",
                        help="also write OUT/fresh, OUT/fifth, ... OUT/tenth, more "
                             "development material from a fourth to a tenth set of wordings")
    args = parser.parse_args(argv)
    splits = ("dev", "eval", *(("heldout",) if args.heldout else ()),
              *(FRESH if args.fresh else ()))
    done = generate(args.out, args.count, args.seed, splits)
    write(", ".join(f"{n} {split}" for split, n in done.items())
          + f" requests written under {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
