"""A deterministic benchmark corpus: the mail a derogation mailbox receives, in realistic mix.

Message ``i`` depends only on ``i`` (a seeded generator), so any count reuses the cache:
- requests (13 in 20): a 2-page FAMHP form as a PDF (fillable or flattened, from the
  fixture renderers), a 40-page supporting PDF of real prose (reportlab) and a Word file
  (Part 2 of the form, or the institution's statement for a national derogation);
- follow-ups (4 in 20): a reply to an earlier request of the corpus (In-Reply-To and
  References) bringing a signed Part 2 as a PDF;
- automated mail (3 in 20): out-of-office replies (Auto-Submitted), never acknowledged.
Files are written under the cache directory (``var/bench-corpus`` by default, not committed).
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import docx
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

from tests.fixtures.forms import make_forms as forms
from tests.fixtures.messages import make_messages as fixtures

VERSION = 1
REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO / "var" / "bench-corpus"
SUPPORT_PAGES = 40
PATTERN = ("request",) * 13 + ("follow_up",) * 4 + ("automated",) * 3
ACKNOWLEDGED = frozenset({"request", "follow_up"})
MAILBOX = forms.FAMHP_MAILBOX
DOCX = fixtures.DOCX
PDF = fixtures.PDF
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

APPLICANTS = (fixtures.VALVIA, fixtures.OCULIX, fixtures.SONORA, fixtures.IMMUNOQUANT,
              fixtures.MEDISUPPLY, fixtures.QUALITAS, fixtures.NEUROVASC, fixtures.PULMOSENSE,
              fixtures.CLINREG, fixtures.BIOTRADE, fixtures.ENDOVIA, fixtures.ORTHOLYS,
              fixtures.KINDERCOR, fixtures.ADSORBA, fixtures.PERFUSIA, fixtures.RESPIRA)
# Devices whose texts exist in English (the fallback language of the fixtures' Device.text).
DEVICES = tuple(d for d in (
           fixtures.PULMOVALVE, fixtures.MAGROD, fixtures.FLOWGUARD, fixtures.KERALENS,
           fixtures.AUDINERV, fixtures.BRONCHOSEAL, fixtures.EPISTIM, fixtures.BILIASTENT,
           fixtures.AORTAFLEX, fixtures.PEDIHEART, fixtures.ESOSEAL, fixtures.OSTEOGROW,
           fixtures.OXYLINE, fixtures.GLAUDRAIN)
    if "en" in d.purpose and "en" in d.status)
HOSPITALS = (("UZ Leuven", "uzleuven.be"), ("CHU de Liège", "chuliege.be"),
             ("AZ Groeninge", "azgroeninge.be"), ("Cliniques universitaires Saint-Luc",
                                                  "saintluc.uclouvain.be"),
             ("UZ Gent", "uzgent.be"), ("Jessa Ziekenhuis", "jessazh.be"),
             ("CHU UCL Namur", "chuuclnamur.uclouvain.be"), ("ZNA Middelheim", "zna.be"),
             ("Hôpital Erasme", "hubruxelles.be"), ("AZ Delta", "azdelta.be"))
FIRST = ("An", "Bart", "Claire", "David", "Els", "Fatima", "Geert", "Hélène", "Ines", "Jan",
         "Karim", "Lies", "Marc", "Nora", "Olivier", "Pieter", "Sophie", "Tom", "Valérie",
         "Wim")
LAST = ("Peeters", "Janssens", "Maes", "Dubois", "Lambert", "Claes", "Willems", "Leroy",
        "Goossens", "Mertens", "Wouters", "Dupont", "Jacobs", "Martin", "Lemaire", "Hermans")
LANGS = ("en", "en", "fr", "nl", "nl")
PART2_FORMATS = ("table", "sdt", "legacy", "above")
SUBJECT_ND = {"en": "Request for a national derogation - {device}",
              "fr": "Demande de dérogation nationale - {device}",
              "nl": "Aanvraag nationale afwijking - {device}"}
GREETING = {"en": "Dear FAMHP team,", "fr": "Madame, Monsieur,", "nl": "Geachte,"}
REQUEST_TEXT = {
    "en": "Please find attached our request for the use of {device} (model {model}) for a "
          "patient of {hospital}, with the completed forms and the instructions for use. "
          "Do not hesitate to contact me should you need anything else.",
    "fr": "Veuillez trouver ci-joint notre demande d'utilisation du dispositif {device} "
          "(modèle {model}) pour un patient de {hospital}, avec les formulaires complétés "
          "et la notice d'utilisation. Je reste à votre disposition.",
    "nl": "In bijlage vindt u onze aanvraag voor het gebruik van {device} (model {model}) "
          "voor een patiënt van {hospital}, met de ingevulde formulieren en de "
          "gebruiksaanwijzing. Aarzel niet om mij te contacteren.",
}
FOLLOW_TEXT = {
    "en": "As requested, please find attached the signed Part 2 of the form.",
    "fr": "Comme demandé, veuillez trouver ci-joint la partie 2 du formulaire, signée.",
    "nl": "Zoals gevraagd vindt u in bijlage het ondertekende deel 2 van het formulier.",
}
AWAY_TEXT = {
    "en": "Thank you for your message. I am out of the office until {day} with limited "
          "access to e-mail.",
    "fr": "Merci pour votre message. Je suis absent(e) du bureau jusqu'au {day}.",
    "nl": "Bedankt voor uw bericht. Ik ben afwezig tot en met {day}.",
}
# The supporting document: sections of an instructions-for-use and clinical summary.
PROSE = (
    "Description. {device} (model {model}, reference {reference}) is manufactured by "
    "{maker}. The device is supplied sterile, for single use, in a double sterile barrier "
    "pouch inside a protective carton that also holds these instructions and patient cards.",
    "Intended purpose. {purpose} The device is intended to be used by specialists trained by "
    "the manufacturer, in a hospital with the surgical and imaging facilities listed below.",
    "Contraindications. Do not use the device in patients with a known hypersensitivity to "
    "any of its materials, with an active systemic or local infection, or whose anatomy lies "
    "outside the range of sizes given in the sizing table of section 4.",
    "Warnings. Inspect the sterile barrier before opening. Do not use the device if the "
    "packaging is damaged, if the expiry date has passed or if the temperature indicator has "
    "changed colour. Do not resterilise or reuse: reuse may cause infection or device failure.",
    "Preparation. Select the size from the measurements taken on the pre-operative imaging. "
    "Open the outer pouch outside the sterile field and present the inner pouch to the "
    "scrub nurse. Rinse the device three times in sterile saline as described in figure 6.",
    "Procedure. Advance the delivery system over the guide wire under fluoroscopic control. "
    "Confirm the position in two orthogonal projections before deployment. Deploy the device "
    "with a slow, controlled movement and check its position again before releasing it.",
    "Follow-up. Patients should be seen at one, three, six and twelve months, then yearly. "
    "Imaging at each visit confirms the position and integrity of the device. Record the "
    "unique device identifier in the patient file and in the national implant register.",
    "Adverse events. Reported events include haematoma at the access site, arrhythmia, "
    "migration of the device, thrombosis and infection. Serious incidents must be reported "
    "to the manufacturer and to the competent authority of the Member State without delay.",
    "Clinical data. A prospective multicentre study enrolled {patients} patients with a "
    "follow-up of twelve months. The primary safety endpoint was met; the primary "
    "performance endpoint was reached in {success} percent of patients at twelve months.",
    "Storage. Store at room temperature, between 5 and 30 degrees Celsius, away from direct "
    "sunlight and humidity. Keep the device in its original packaging until the moment of use.",
    "Disposal. After explantation or in case of a failed procedure, return the device to "
    "the manufacturer for analysis using the return kit, following the local rules for "
    "biological waste.",
    "Regulatory status. {status} This document accompanies a request to the competent "
    "authority and does not replace the instructions of the final labelling.",
)


@dataclass(frozen=True)
class Request:
    """What a request of the corpus is about; its follow-ups and auto-replies reuse it."""

    index: int
    lang: str
    applicant: fixtures.Applicant
    device: fixtures.Device
    hospital: tuple[str, str]
    physician: str
    sender: str
    national: bool
    message_id: str
    subject: str


def kind_of(index: int) -> str:
    """Return the kind of corpus message ``index``: request, follow_up or automated."""
    return PATTERN[index % len(PATTERN)]


def acknowledged_count(count: int) -> int:
    """Return how many of the first ``count`` messages get an acknowledgement."""
    return sum(1 for i in range(count) if kind_of(i) in ACKNOWLEDGED)


def request_of(index: int) -> Request:
    """Return the facts of request ``index`` (drawn from a generator seeded by the index)."""
    rng = random.Random(f"bench-request-{index}")
    lang, applicant, device = rng.choice(LANGS), rng.choice(APPLICANTS), rng.choice(DEVICES)
    hospital = rng.choice(HOSPITALS)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    physician = f"Dr {rng.choice(FIRST)} {rng.choice(LAST)}"
    local = f"{first}.{last}".lower().replace("é", "e").replace("è", "e")
    sender = f"{local}{index}@{applicant.email.split('@')[1]}"
    national = rng.random() < 0.25
    patient = f"{rng.choice(FIRST)[0]}.{rng.choice(LAST)[0]}."
    subject = (SUBJECT_ND[lang].format(device=device.name) if national
               else fixtures.subject_cu(hospital[0], patient))
    return Request(index, lang, applicant, device, hospital, physician, sender, national,
                   f"<bench-{index:06d}.{rng.getrandbits(40):010x}@{sender.split('@')[1]}>",
                   subject)


def followed_request(index: int) -> int:
    """Return the index of the earlier request a follow-up or auto-reply answers."""
    rng = random.Random(f"bench-follows-{index}")
    earlier = [i for i in range(max(0, index - 40), index) if kind_of(i) == "request"]
    return rng.choice(earlier)


def message(index: int) -> bytes:
    """Return the RFC 5322 bytes of corpus message ``index``."""
    kind = kind_of(index)
    if kind == "request":
        return request_message(request_of(index))
    if kind == "follow_up":
        return follow_up_message(index, request_of(followed_request(index)))
    return away_message(index, request_of(followed_request(index)))


def request_message(req: Request) -> bytes:
    """A request: the form as a PDF, a 40-page supporting PDF and a Word file."""
    msg = _envelope(req.sender, req.applicant.contact, req.subject, req.message_id, req.index)
    text = REQUEST_TEXT[req.lang].format(device=req.device.name, model=req.device.model,
                                         hospital=req.hospital[0])
    msg.set_content(f"{GREETING[req.lang]}\n\n{text}\n\n{req.applicant.contact}\n"
                    f"{req.applicant.name}\n{req.applicant.phone}\n")
    for filename, data, mime in _request_files(req):
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return _bytes(msg)


def _request_files(req: Request) -> list[tuple[str, bytes, str]]:
    """The three attachments of a request."""
    rng = random.Random(f"bench-files-{req.index}")
    style = rng.choice((fixtures.F_EN, fixtures.F_EN_FLAT, fixtures.F_FIELD))
    fmt = rng.choice(("fillable", "flat"))
    model = req.device.model.replace(" ", "_") or "device"
    if req.national:
        form = fixtures.national(req.lang, req.applicant, req.device, "3",
                                 "2026-04-01/2026-12-31", _justification(req), "2026-03-01")
        word = ("Institution_statement.docx", statement_docx(req), DOCX)
    else:
        form = fixtures.part1(req.lang, req.applicant, req.device, "1", "2026-03-01")
        part2, _, _ = forms.render(_part2(req, signed=True), rng.choice(PART2_FORMATS),
                                   forms.Style())
        word = ("Part2_signed.docx", part2, DOCX)
    body, _, _ = forms.render(form, fmt, style)
    support = support_pdf(req, SUPPORT_PAGES)
    return [(f"{'National_form' if req.national else 'Part1'}_{model}.pdf", body, PDF),
            (f"IFU_{model}.pdf", support, PDF), word]


def _part2(req: Request, signed: bool) -> forms.FormData:
    """Part 2 of the form as the treating physician fills it in."""
    local = req.physician.lower().replace("dr ", "").replace(" ", ".")
    return fixtures.part2(req.lang, req.hospital[0], req.physician,
                          f"{local}@{req.hospital[1]}", "J.D.", "2026-04-15",
                          _justification(req), "2026-03-01", signed=signed)


def _justification(req: Request) -> str:
    """Why the device is needed (a sentence with the device's name)."""
    return (f"No CE-marked alternative to {req.device.name} is available for this patient; "
            "the treating team considers the expected benefit to outweigh the risks.")


def follow_up_message(index: int, req: Request) -> bytes:
    """A reply to request ``req`` bringing the signed Part 2 as a PDF."""
    msg = _envelope(req.sender, req.applicant.contact, f"RE: {req.subject}",
                    f"<bench-fu-{index:06d}@{req.sender.split('@')[1]}>", index)
    msg["In-Reply-To"] = req.message_id
    msg["References"] = req.message_id
    msg.set_content(f"{GREETING[req.lang]}\n\n{FOLLOW_TEXT[req.lang]}\n\n"
                    f"{req.applicant.contact}\n{req.applicant.name}\n")
    body, _, _ = forms.render(_part2(req, signed=True), "fillable", fixtures.F_CANON_ABOVE)
    msg.add_attachment(body, maintype="application", subtype="pdf",
                       filename="Part2_signed.pdf")
    return _bytes(msg)


def away_message(index: int, req: Request) -> bytes:
    """An out-of-office reply from the applicant (never acknowledged)."""
    msg = _envelope(req.sender, req.applicant.contact,
                    {"en": "Automatic reply: ", "fr": "Réponse automatique : ",
                     "nl": "Automatisch antwoord: "}[req.lang] + req.subject,
                    f"<bench-auto-{index:06d}@{req.sender.split('@')[1]}>", index)
    msg["In-Reply-To"] = req.message_id
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(AWAY_TEXT[req.lang].format(day="16/03") + f"\n\n{req.applicant.contact}\n")
    return _bytes(msg)


def small_message(index: int) -> bytes:
    """A small request (the 2-page form only, about 30 KB) for backlogs and database scale."""
    req = request_of(index)
    msg = _envelope(req.sender, req.applicant.contact, req.subject,
                    req.message_id.replace("<bench-", "<bench-small-"), index)
    text = REQUEST_TEXT[req.lang].format(device=req.device.name, model=req.device.model,
                                         hospital=req.hospital[0])
    msg.set_content(f"{GREETING[req.lang]}\n\n{text}\n")
    form = fixtures.part1(req.lang, req.applicant, req.device, "1", "2026-03-01")
    body, _, _ = forms.render(form, "fillable", fixtures.F_EN)
    msg.add_attachment(body, maintype="application", subtype="pdf", filename="Part1.pdf")
    return _bytes(msg)


def large_message(megabytes: int) -> bytes:
    """A request (form and Part 2) whose supporting PDF is ``megabytes`` MB of 40 scans."""
    req = request_of(0)
    msg = _envelope(req.sender, req.applicant.contact, req.subject,
                    "<bench-large@" + req.sender.split("@")[1] + ">", 0)
    text = REQUEST_TEXT[req.lang].format(device=req.device.name, model=req.device.model,
                                         hospital=req.hospital[0])
    msg.set_content(f"{GREETING[req.lang]}\n\n{text}\n\n{req.applicant.contact}\n")
    files = _request_files(req)
    files[1] = ("Clinical_file_scanned.pdf", scanned_pdf(req, megabytes), PDF)
    for filename, data, mime in files:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return _bytes(msg)


def _envelope(sender: str, name: str, subject: str, message_id: str,
              index: int) -> EmailMessage:
    """The headers every corpus message has."""
    msg = EmailMessage(policy=policy.default)
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = f"{fixtures.MAILBOX_NAME} <{MAILBOX}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(START + timedelta(minutes=7 * index))
    msg["Message-ID"] = message_id
    return msg


def _bytes(msg: EmailMessage) -> bytes:
    """Serialise as a mail client would (CRLF line ends)."""
    return msg.as_bytes(policy=policy.SMTP)


# --- documents -----------------------------------------------------------------------------

def support_pdf(req: Request, pages: int) -> bytes:
    """A supporting document of real prose, every page different (section order shuffled)."""
    rng = random.Random(f"bench-support-{req.index}")
    dev = req.device
    values = {"device": dev.name, "model": dev.model or "-", "reference": dev.reference or "-",
              "maker": dev.maker, "purpose": dev.text("purpose", "en"),
              "status": dev.text("status", "en"), "patients": rng.randint(40, 400),
              "success": rng.randint(70, 95)}
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    sheet.setTitle(f"Instructions for use - {dev.name}")
    for number in range(1, pages + 1):
        paragraphs = rng.sample(PROSE, 6)
        _page(sheet, f"{dev.maker} - {dev.name} - IFU-{req.index:06d} rev. {rng.randint(2, 9)}"
                     f" - page {number} of {pages}", [p.format(**values) for p in paragraphs])
    sheet.save()
    return buffer.getvalue()


def _page(sheet: canvas.Canvas, header: str, paragraphs: list[str]) -> None:
    """Draw one page: a header line, then wrapped paragraphs."""
    width, height = A4
    sheet.setFont("Helvetica", 8)
    sheet.drawString(50, height - 40, header)
    y = height - 70
    sheet.setFont("Helvetica", 10)
    for paragraph in paragraphs:
        for line in simpleSplit(paragraph, "Helvetica", 10, width - 100):
            sheet.drawString(50, y, line)
            y -= 13
        y -= 9
    sheet.showPage()


def scanned_pdf(req: Request, megabytes: int, pages: int = SUPPORT_PAGES) -> bytes:
    """A PDF of ``pages`` pages of text, each with an incompressible 'scan', ~megabytes MB."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    rng = random.Random(f"bench-scan-{megabytes}")
    side = int((megabytes * 1024 * 1024 / pages / 3) ** 0.5)  # RGB bytes per page
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    for number in range(1, pages + 1):
        noise = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        sheet.drawImage(ImageReader(noise), 50, 300, width=400, height=400)
        _page(sheet, f"Scanned clinical file - page {number} of {pages}",
              [p.format(device=req.device.name, model=req.device.model, reference="-",
                        maker=req.device.maker, purpose="", status="", patients=120,
                        success=84) for p in PROSE[:2]])
    sheet.save()
    return buffer.getvalue()


def statement_docx(req: Request) -> bytes:
    """The institution's statement supporting a national derogation, as a Word letter."""
    document = docx.Document()
    document.add_heading(f"{req.hospital[0]} - Statement of the healthcare institution", 1)
    for text in (
            f"{req.hospital[0]} supports the request of {req.applicant.name} for the use of "
            f"{req.device.name} (model {req.device.model}) in Belgium.",
            "The devices will be used only by trained specialists, recorded in the implant "
            "register and followed up as described in the protocol.",
            "The hospital pharmacy manages the stock and the traceability of every device "
            "(the unique device identifier is recorded per patient).",
            f"{req.physician}, head of department"):
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- the cache -----------------------------------------------------------------------------

def cached(directory: Path, count: int, build: str = "message", start: int = 0,
           workers: int = 2) -> list[Path]:
    """Return the files of messages start..start+count-1, generating missing ones in parallel."""
    folder = directory / f"v{VERSION}" / build
    folder.mkdir(parents=True, exist_ok=True)
    numbers = range(start, start + count)
    paths = {i: folder / f"{i:07d}.eml" for i in numbers}
    missing = [i for i in numbers if not paths[i].exists()]
    if missing:
        with ProcessPoolExecutor(max(1, workers)) as pool:
            for i, data in zip(missing, pool.map(BUILDERS[build], missing, chunksize=8),
                               strict=True):
                _write(paths[i], data)
    return [paths[i] for i in numbers]


def _write(path: Path, data: bytes) -> None:
    """Write a file atomically (an interrupted generation never leaves half a message)."""
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)


def read_all(paths: list[Path]) -> Iterator[bytes]:
    """Yield the bytes of each cached message."""
    for path in paths:
        yield path.read_bytes()


BUILDERS = {"message": message, "small": small_message}
