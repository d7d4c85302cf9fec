"""OCR cost: seconds per scanned page and the peak memory of a worker doing OCR.

Run: ``.venv/bin/python -m tests.bench.bench_ocr`` (also the ``ocr`` phase of ``make bench``,
reported apart from the floor, which reads text layers only). A fresh worker process reads
a scanned two-page Part 1, a scanned Part 2 and a 20-page scanned supporting document (an
IFU with no form labels) as the extraction workers do, and reports the seconds per page
OCR read, the time of the long document, and the worker's peak RSS.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
LONG_PAGES = 20


def long_scan() -> bytes:
    """A 20-page scanned IFU: prose, no form labels, 150 dpi images."""
    pages = []
    for number in range(1, LONG_PAGES + 1):
        page = Image.new("L", (1240, 1754), 255)
        pen = ImageDraw.Draw(page)
        for line in range(36):
            pen.text((110, 120 + 42 * line), f"Instructions for use, page {number}: inspect "
                     "the sterile pouch before use and do not resterilise.", fill=0,
                     font_size=24)
        pages.append(page)
    out = io.BytesIO()
    pages[0].save(out, "PDF", resolution=150.0, save_all=True, append_images=pages[1:])
    return out.getvalue()


def worker(paths: list[str]) -> dict[str, Any]:
    """In a fresh process: read each file as an extraction worker does; time and memory."""
    from config.profiles import load_profile
    from parsers.extract import file_to_document
    from parsers.ocr import installed_languages

    rules = load_profile("famhp").extraction
    installed_languages()  # Tesseract is asked once per process
    files = []
    for path in paths:
        data = Path(path).read_bytes()
        started = time.perf_counter()
        document = file_to_document(Path(path).name, data, rules)
        seconds = time.perf_counter() - started
        files.append({"file": Path(path).name, "pages": document.pages, "seconds": seconds,
                      "ocr_text_chars": len(document.text), "kind": document.kind,
                      "problems": [p.reason for p in document.page_problems]})
    # Tesseract's own memory is not counted: a forked child's maximum includes the pages it
    # shared with this process until exec, so the figure would only repeat this one.
    return {"files": files,
            "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(work: Path) -> dict[str, Any]:
    """Make the scans, read them in a child process, and summarise."""
    from tests.parsers.scans import FORMS, make_scan

    work.mkdir(parents=True, exist_ok=True)
    long_path = work / "ifu-scan.pdf"
    long_path.write_bytes(long_scan())
    forms = [make_scan(FORMS / "part1_en_flat.pdf", "scan", seed=3).path,
             make_scan(FORMS / "part2_en_flat.pdf", "scan", seed=3, signed=True).path]
    done = subprocess.run([sys.executable, "-m", "tests.bench.bench_ocr", "--worker",
                           *map(str, [*forms, long_path])], cwd=REPO, capture_output=True,
                          text=True, check=True, timeout=1800)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    form_files = result["files"][:2]
    form_pages = sum(f["pages"] for f in form_files)
    result["seconds_per_form_page"] = sum(f["seconds"] for f in form_files) / form_pages
    result["long_document_seconds"] = result["files"][2]["seconds"]
    return result


def render(result: dict[str, Any]) -> str:
    """A few lines for the bench table."""
    return (f"ocr: {result['seconds_per_form_page']:.1f} s per scanned form page; 20-page "
            f"scanned IFU {result['long_document_seconds']:.1f} s (first page only); peak "
            f"RSS of the worker {result['worker_peak_rss_mb']:.0f} MB")


def main() -> None:
    """Measure and print (or, with --worker FILES, be the measured worker)."""
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(sys.argv[2:])))
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        result = measure(Path(tmp))
    print(json.dumps(result, indent=2))
    print(render(result))


if __name__ == "__main__":
    main()
