"""Scanned and photographed copies of the fixture forms, made at test time (seeded, cached).

A form is printed (poppler's ``pdftoppm``), its signature box emptied and, when the fixture
is signed, signed by hand (a drawn scribble); then, for a "scan", turned by 1-3 degrees,
blurred and speckled like a ward copier's output and put in an image-only PDF; for a
"photo", skewed in perspective, lit unevenly and saved as a JPEG. Nothing here is
committed: the files are written under a cache directory on first use.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pdfplumber
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
FORMS = ROOT / "tests" / "fixtures" / "forms"
CACHE = Path(tempfile.gettempdir()) / "derogation-intake-scans-v1"
SIGNATURE_BOX = (230.0, 52.0)  # points: the signature box every fixture form prints


@dataclass(frozen=True)
class Scan:
    """One scanned or photographed copy of a fixture form and what it should read as."""

    name: str
    path: Path
    source: Path  # the fixture it was made from
    expected: dict[str, Any]

    @property
    def signed(self) -> bool | None:
        """Whether Part 2 is signed (None for other forms)."""
        value = self.expected.get("signed")
        return None if value is None else bool(value)


def fixture_pdfs() -> list[Path]:
    """The PDF fixture forms (Word files are never scanned)."""
    return sorted(FORMS.glob("*.pdf"))


def expected_of(pdf: Path) -> dict[str, Any]:
    """The fixture's expected.json."""
    data: dict[str, Any] = json.loads(
        (FORMS / f"{pdf.stem}.expected.json").read_text(encoding="utf-8"))
    return data


def make_scan(pdf: Path, style: str = "scan", seed: int = 0, dpi: int = 200,
              signed: bool | None = None) -> Scan:
    """A scanned PDF (style "scan"), photographed JPEG ("photo") or TIFF ("tiff")."""
    expected = expected_of(pdf)
    if signed is not None:
        expected = {**expected, "signed": signed}
    sign = bool(expected.get("signed"))
    suffix = {"scan": "pdf", "photo": "jpg", "tiff": "tif"}[style]
    name = f"{pdf.stem}.{style}{seed}{'.signed' if sign else ''}"
    path = CACHE / f"{name}.{suffix}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        pages = printed_pages(pdf, dpi, sign if "signed" in expected else None)
        rng = random.Random(f"{pdf.name}:{style}:{seed}")
        data = {"scan": _scanned_pdf, "photo": _photo, "tiff": _tiff}[style](pages, dpi, rng)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)
    return Scan(name, path, pdf, expected)


def printed_pages(pdf: Path, dpi: int, signed: bool | None) -> list[Image.Image]:
    """The form as printed on paper, its signature box emptied and signed by hand if asked."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), f"{tmp}/p"],
                       check=True, capture_output=True)
        pages = [Image.open(p).convert("L") for p in sorted(Path(tmp).glob("p-*.png"))]
    if signed is not None:
        for number, box in _signature_boxes(pdf):
            _sign_by_hand(pages[number], box, dpi / 72.0, signed, seed=pdf.name)
    return pages


def _signature_boxes(pdf: Path) -> list[tuple[int, tuple[float, float, float, float]]]:
    """The drawn signature box of each page (x0, top, x1, bottom in points)."""
    width, height = SIGNATURE_BOX
    found = []
    with pdfplumber.open(pdf) as doc:
        for number, page in enumerate(doc.pages):
            for r in page.rects:
                if abs(r["width"] - width) < 2 and abs(r["height"] - height) < 2:
                    found.append((number, (r["x0"], r["top"], r["x1"], r["bottom"])))
    return found


def _sign_by_hand(page: Image.Image, box: tuple[float, float, float, float], scale: float,
                  signed: bool, seed: str) -> None:
    """Empty the box (a digital stamp has no place on paper) and draw a scribble if signed."""
    x0, top, x1, bottom = (v * scale for v in box)
    pen = ImageDraw.Draw(page)
    pen.rectangle((x0 + 4, top + 4, x1 - 4, bottom - 4), fill=255)
    if not signed:
        return
    rng = random.Random(seed)
    x, base = x0 + 20, (top + bottom) / 2 + 4
    points = [(x, base)]
    while x < x0 + (x1 - x0) * rng.uniform(0.55, 0.8):
        x += rng.uniform(5, 12) * scale / 2.8
        points.append((x, base + rng.uniform(-16, 12) * scale / 2.8))
    pen.line(points, fill=25, width=max(2, round(scale * 1.1)), joint="curve")
    pen.line([(x0 + 25, base + 9 * scale / 2.8), (x - 10, base + 5 * scale / 2.8)], fill=40,
             width=max(2, round(scale * 0.8)))


def _degrade(page: Image.Image, rng: random.Random) -> Image.Image:
    """A copier's output: turned 1-3 degrees, slightly blurred, speckled."""
    angle = rng.choice((-1, 1)) * rng.uniform(1.0, 3.0)
    turned = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    blurred = turned.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 0.9)))
    pixels = blurred.load()
    assert pixels is not None
    width, height = blurred.size
    for _ in range(width * height // 1500):
        pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 40, 255))
    return blurred


def _scanned_pdf(pages: list[Image.Image], dpi: int, rng: random.Random) -> bytes:
    """An image-only PDF, one scanned image a page, as a copier sends it."""
    scanned = [_degrade(p, rng) for p in pages]
    out = io.BytesIO()
    scanned[0].save(out, "PDF", resolution=float(dpi), save_all=True,
                    append_images=scanned[1:])
    return out.getvalue()


def _tiff(pages: list[Image.Image], dpi: int, rng: random.Random) -> bytes:
    """A multi-page TIFF (a fax-like scanner's format)."""
    scanned = [_degrade(p, rng) for p in pages]
    out = io.BytesIO()
    scanned[0].save(out, "TIFF", dpi=(dpi, dpi), save_all=True, append_images=scanned[1:],
                    compression="tiff_deflate")
    return out.getvalue()


def _photo(pages: list[Image.Image], dpi: int, rng: random.Random) -> bytes:
    """The first page photographed by a phone: perspective, uneven light, JPEG, no DPI."""
    page = pages[0]
    width, height = page.size
    margin = int(width * 0.06)
    canvas = Image.new("L", (width + 2 * margin, height + 2 * margin), 120)
    canvas.paste(page, (margin, margin))
    w, h = canvas.size
    dx, dy = w * rng.uniform(0.01, 0.025), h * rng.uniform(0.005, 0.015)
    # Corners of the source quadrilateral mapped onto the output rectangle.
    quad = (dx, 0.0, 0.0, h - dy, w, h, w - dx * 0.3, dy)
    photo = canvas.transform((w, h), Image.Transform.QUAD, quad,
                             resample=Image.Resampling.BICUBIC, fillcolor=110)
    photo = photo.rotate(rng.uniform(-2.5, 2.5), resample=Image.Resampling.BICUBIC,
                         fillcolor=110)
    light = Image.linear_gradient("L").resize((w, h)).rotate(rng.uniform(30, 60))
    lit = Image.composite(photo, photo.point(lambda v: int(v * 0.72)), light)
    colour = Image.merge("RGB", (lit, lit.point(lambda v: int(v * 0.97)),
                                 lit.point(lambda v: int(v * 0.9))))
    out = io.BytesIO()
    colour.filter(ImageFilter.GaussianBlur(0.6)).save(out, "JPEG", quality=82)
    return out.getvalue()
