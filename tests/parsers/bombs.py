"""Compression bombs made on the fly: small files that declare little and inflate to a lot.

Zeros are compressed in chunks as they stream by, so no test ever holds the inflated size.
"""

from __future__ import annotations

import bz2
import json
import lzma
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
_CHUNK = 16 * MIB
_LZMA_DICT = MIB
# LZMA1 properties byte for lc=3, lp=0, pb=2: (pb * 5 + lp) * 9 + lc.
_LZMA_PROPS = bytes([(2 * 5 + 0) * 9 + 3]) + struct.pack("<I", _LZMA_DICT)
_VERSIONS = {zipfile.ZIP_STORED: 20, zipfile.ZIP_DEFLATED: 20, zipfile.ZIP_BZIP2: 46,
             zipfile.ZIP_LZMA: 63}
REPO = Path(__file__).resolve().parents[2]


def zeros(size: int, chunk: int = _CHUNK) -> Iterator[bytes]:
    """``size`` zero bytes, a chunk at a time."""
    block = bytes(min(chunk, size))
    for _ in range(size // len(block) if block else 0):
        yield block
    if block and size % len(block):
        yield bytes(size % len(block))


def compress(method: int, chunks: Iterable[bytes]) -> bytes:
    """The bytes a zip member of that method holds for the data, compressed as it streams."""
    if method == zipfile.ZIP_STORED:
        return b"".join(chunks)
    prefix = b""
    compressor: zlib._Compress | bz2.BZ2Compressor | lzma.LZMACompressor
    if method == zipfile.ZIP_DEFLATED:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    elif method == zipfile.ZIP_BZIP2:
        compressor = bz2.BZ2Compressor(9)
    else:
        compressor = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[{
            "id": lzma.FILTER_LZMA1, "preset": 1, "dict_size": _LZMA_DICT, "lc": 3, "lp": 0,
            "pb": 2}])
        # Zip's LZMA header: encoder version 9.4, properties size 5, the properties.
        prefix = b"\x09\x04" + struct.pack("<H", len(_LZMA_PROPS)) + _LZMA_PROPS
    parts = [prefix, *(compressor.compress(c) for c in chunks), compressor.flush()]
    return b"".join(parts)


@dataclass(frozen=True)
class Entry:
    """One member as written, with the size and checksum its headers declare."""

    name: str
    method: int
    packed: bytes
    declared_size: int
    crc: int = 0


def honest(name: str, data: bytes, method: int) -> Entry:
    """A member whose headers tell the truth."""
    return Entry(name, method, compress(method, [data]), len(data), zlib.crc32(data))


def lying_zip(entries: Iterable[Entry]) -> bytes:
    """A zip archive written by hand, so that a member may declare any size it likes."""
    body = bytearray()
    directory = bytearray()
    count = 0
    for entry in entries:
        count += 1
        name = entry.name.encode()
        fields = (_VERSIONS.get(entry.method, 20), 0, entry.method, 0, 0x21, entry.crc,
                  len(entry.packed), entry.declared_size, len(name))
        offset = len(body)
        body += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fields, 0) + name + entry.packed
        directory += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, *fields, 0, 0, 0,
                                 0, 0, offset) + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(directory),
                      len(body), 0)
    return bytes(body + directory + end)


def pdf_with_streams(first: bytes, packed_streams: list[bytes], *, field: bool = False,
                     ) -> bytes:
    """A one-page PDF whose contents are Flate streams: ``first`` text, then the others.

    With ``field``, the page carries a filled form field whose name ("Text1") says nothing,
    so its printed label is looked for with word positions (pdfplumber).
    """
    streams = [zlib.compress(first), *packed_streams]
    form = b" /AcroForm << /Fields [%d 0 R] >>" % (5 + len(streams)) if field else b""
    objects = [b"<< /Type /Catalog /Pages 2 0 R" + form + b" >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"]
    refs = " ".join(f"{5 + i} 0 R" for i in range(len(streams))).encode()
    annots = b" /Annots [%d 0 R]" % (5 + len(streams)) if field else b""
    objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ["
                   + refs + b"] /Resources << /Font << /F1 4 0 R >> >>" + annots + b" >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.extend(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(s) + s
                   + b"\nendstream" for s in streams)
    if field:
        objects.append(b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Text1) /V (CardioFlow)"
                       b" /Rect [250 710 400 730] /P 3 0 R >>")
    return pdf_file(objects)


def pdf_with_drawn_widget(packed_appearance: bytes, *, scanned: bool) -> bytes:
    """A one-page PDF with a widget whose appearance stream (Flate) is ``packed_appearance``.

    The page prints a label, or with ``scanned`` only draws a picture (a scan: no text), so
    that its page is rendered for OCR, annotations included.
    """
    content = (b"q 612 0 0 792 0 0 cm /Im1 Do Q\n" if scanned
               else b"BT /F1 12 Tf 72 720 Td (Device name: CardioFlow) Tj ET\n")
    picture = b" /XObject << /Im1 7 0 R >>" if scanned else b""
    pixels = zlib.compress(bytes(64))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R"
               b" /Resources << /Font << /F1 4 0 R >>" + picture + b" >> /Annots [6 0 R] >>",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               _stream(b"", zlib.compress(content)),
               b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Text1) /Rect [250 710 400 730]"
               b" /P 3 0 R /AP << /N 8 0 R >> >>",
               _stream(b" /Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace"
                       b" /DeviceGray /BitsPerComponent 8", pixels),
               _stream(b" /Type /XObject /Subtype /Form /BBox [0 0 150 20]", packed_appearance)]
    return pdf_file(objects)


def _stream(entries: bytes, packed: bytes) -> bytes:
    """A Flate stream object's body: its dictionary (with ``entries``) and data."""
    return (b"<< /Length %d /Filter /FlateDecode" % len(packed) + entries + b" >>\nstream\n"
            + packed + b"\nendstream")


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of these objects (numbered from 1, the first the catalog) with its xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def flate_spaces(size: int) -> bytes:
    """A zlib stream of ``size`` spaces (blank page content), compressed as it streams."""
    compressor = zlib.compressobj(9)
    chunk = b" " * min(_CHUNK, size)
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join([*parts, compressor.compress(b" " * (size % len(chunk))),
                     compressor.flush()])


def run_measured(code: str, *args: str, address_space_mb: int | None = None,
                 ) -> tuple[dict[str, object], float]:
    """Run Python code in a child (optionally under RLIMIT_AS); its JSON output and peak MB.

    The child of a child is measured, so RUSAGE_CHILDREN is that run's peak alone.
    """
    limit = (f"resource.setrlimit(resource.RLIMIT_AS, ({address_space_mb} * 2**20, "
             f"{address_space_mb} * 2**20))" if address_space_mb else "")
    wrapper = (
        "import json, resource, subprocess, sys\n"
        f"code = {('import resource' + chr(10) + limit + chr(10) + code)!r}\n"
        "run = subprocess.run([sys.executable, '-c', code, *sys.argv[1:]],"
        " capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'rc': run.returncode, 'out': run.stdout, 'err': run.stderr[-2000:],"
        " 'peak': peak}))\n")
    run = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True,
                         text=True, check=True, cwd=REPO)
    result = json.loads(run.stdout)
    assert result["rc"] == 0, result["err"]
    return json.loads(result["out"]), float(result["peak"])
