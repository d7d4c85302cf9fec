"""Time extraction of a 20-page text PDF (a cover letter then an IFU-like text).

Run: ``.venv/bin/python -m tests.bench.bench_extract`` (from the repository root). It prints
the best of five runs in seconds; the goal is under one second on a 2-core machine.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

from config.extraction_rules import load_extraction_rules
from parsers.extract import file_to_document

PROFILE = Path(__file__).resolve().parents[2] / "config" / "profiles" / "famhp"
PAGES = 20
RUNS = 5
GOAL_SECONDS = 1.0

LETTER = (
    "Name of the applicant: Valvia Cardio Ltd",
    "Contact person: Ciara Walsh",
    "E-mail address: ciara.walsh@valvia-cardio.ie",
    "Name of the device: PulmoValve Junior",
    "Model: PVJ-18",
    "Risk class: Class III",
    "Number of devices requested: 1",
)
PROSE = (
    "The valve is delivered sterile in a sealed pouch and must be inspected before use. "
    "Do not use the device if the packaging is damaged or the expiry date has passed. "
    "The implantation procedure is performed under fluoroscopic guidance by a trained "
    "interventional cardiologist. Select the valve size from the measured diameter of the "
    "conduit and the landing zone. Crimp the valve onto the delivery balloon, advance the "
    "system over the guide wire and deploy it with a controlled inflation. "
)


def text_pdf(pages: int = PAGES) -> bytes:
    """A cover page of 'Label: value' lines, then pages of wrapped prose."""
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    sheet.setTitle("Instructions for use - PulmoValve Junior")
    for number in range(pages):
        lines = LETTER if number == 0 else simpleSplit(PROSE * 9, "Helvetica", 10, 480)
        sheet.setFont("Helvetica", 10)
        for index, line in enumerate(lines[:60]):
            sheet.drawString(56, 780 - 12.5 * index, line)
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def best_time(data: bytes, runs: int = RUNS) -> float:
    """Best wall-clock time of `runs` extractions of the same file."""
    rules = load_extraction_rules(PROFILE / "extraction.toml")
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        document = file_to_document("ifu.pdf", data, rules)
        timings.append(time.perf_counter() - start)
    assert document.pages == PAGES and document.error is None
    return min(timings)


def main() -> None:
    """Build the PDF, time it, print the figure."""
    data = text_pdf()
    seconds = best_time(data)
    verdict = "ok" if seconds < GOAL_SECONDS else "SLOWER THAN GOAL"
    print(f"extract {PAGES}-page text PDF ({len(data)} bytes): best of {RUNS} = "
          f"{seconds:.3f} s (goal < {GOAL_SECONDS:.1f} s) {verdict}")


if __name__ == "__main__":
    main()
