"""Decoded sizes of a PDF's streams, checked before any reader inflates a page.

pdfminer (under pdfplumber) inflates a Flate or LZW stream whole, whatever its size: a
420 KB file can carry a 300 MB page. pypdf stops at a configurable output length. So every
stream pdfminer could decode for the pages we read (their contents, fonts, forms, pictures,
and the object streams that hold the file's objects) is first decoded by pypdf under our
limits, measured and dropped; a file whose stream or total passes a limit is refused as a
bomb before pdfplumber sees it. The same limits bind pypdf's own reading of the file.

A page's annotations (form widgets and their appearance streams) are measured only for a
page that is drawn (OCR renders them): reading a page's text or words decodes its content,
never its annotations' appearances, which were most of the work of measuring a form.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from pypdf import PdfReader, apply_configuration
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

from config.errors import ParseError
from parsers.records import Limits

BOMB = "decompression_bomb"
# A page tree is walked from the page down; its parent would lead to every other page.
_SKIPPED_KEYS = frozenset({"/Parent", "/P", "/Dest", "/D", "/First", "/Last", "/Next",
                           "/Prev"})
_ANNOTATIONS = "/Annots"
_MAX_NODES = 200_000  # objects visited per document: pypdf bounds each dictionary and array
_STREAM_START = re.compile(rb"stream\r?\n")
_CHUNK = 64 * 1024


def pdf_limits(limits: Limits) -> AbstractContextManager[Any]:
    """pypdf's decoders capped at our per-stream limit, and no external decoder run."""
    cap = limits.pdf_max_stream_bytes
    return apply_configuration(
        zlib_maximum_output_length=cap, lzw_maximum_output_length=cap,
        run_length_maximum_output_length=cap, brotli_maximum_output_length=cap,
        jbig2_maximum_output_length=cap, array_based_stream_maximum_output_length=cap,
        jbig2dec_binary=None)


def check_streams(reader: PdfReader, pages: Sequence[Any], limits: Limits, *,
                  drawn: bool = False) -> None:
    """Refuse (ParseError) a file whose streams for these pages decode past the limits.

    ``pages``: the page dictionaries read, and any resources they inherit. ``drawn``: the
    pages are to be rendered, so their annotations' streams count too.
    """
    skipped = _SKIPPED_KEYS if drawn else _SKIPPED_KEYS | {_ANNOTATIONS}
    total = 0
    for number, stream in _streams(reader, pages, skipped):
        size = _decoded_size(number, stream, limits)
        total += size
        if total > limits.pdf_max_decoded_bytes:
            raise ParseError(BOMB, f"streams of the pages read decode to more than "
                             f"{limits.pdf_max_decoded_bytes} bytes (the limit)")


def check_raw_streams(data: bytes, limits: Limits) -> None:
    """For a file pypdf cannot open: inflate every stream that looks like zlib, capped."""
    total = 0
    for match in _STREAM_START.finditer(data):
        size = _inflated_size(data, match.end(), limits.pdf_max_stream_bytes)
        if size is None:
            raise ParseError(BOMB, f"a stream at byte {match.end()} decodes to more than "
                             f"{limits.pdf_max_stream_bytes} bytes (the limit)")
        total += size
        if total > limits.pdf_max_decoded_bytes:
            raise ParseError(BOMB, f"streams decode to more than "
                             f"{limits.pdf_max_decoded_bytes} bytes (the limit)")
    if b"/LZW" in data:
        # LZW cannot be measured without a parser; a damaged file using it is not read.
        raise ParseError(BOMB, "a damaged PDF with LZW-compressed streams is not read")


def _decoded_size(number: int, stream: StreamObject, limits: Limits) -> int:
    """Decode one stream under pypdf's caps, drop the result, return its length."""
    try:
        return len(stream.get_data())
    except LimitReachedError as exc:
        raise ParseError(BOMB, f"stream {number} decodes to more than "
                         f"{limits.pdf_max_stream_bytes} bytes (the limit)") from exc
    except Exception:  # a stream pypdf cannot decode is judged by the readers as before
        return 0
    finally:
        if hasattr(stream, "decoded_self"):
            stream.decoded_self = None  # measured, not kept: pdfplumber reads its own copy


def _streams(reader: PdfReader, pages: Sequence[Any], skipped: frozenset[str],
             ) -> Iterator[tuple[int, StreamObject]]:
    """Object streams of the file, then every stream reachable from the pages read."""
    seen: set[int] = set()
    holders = {number for number, _ in reader.xref_objStm.values()}
    stack: list[Any] = [IndirectObject(n, 0, reader) for n in sorted(holders)]
    stack.extend(reversed(pages))
    stack.append(reader.trailer.get("/Info"))  # pdfplumber reads the metadata too
    visited = 0
    while stack and visited < _MAX_NODES:
        visited += 1
        node = stack.pop()
        number = None
        if isinstance(node, IndirectObject):
            if node.idnum in seen:
                continue
            seen.add(node.idnum)
            number, node = node.idnum, node.get_object()
        if isinstance(node, StreamObject):
            yield (number or 0), node
        if isinstance(node, DictionaryObject):
            stack.extend(v for k, v in node.items() if k not in skipped)
        elif isinstance(node, ArrayObject):
            stack.extend(node)


def _inflated_size(data: bytes, start: int, cap: int) -> int | None:
    """Bytes a zlib stream starting at ``start`` inflates to; None past ``cap``; 0 if not zlib."""
    inflater = zlib.decompressobj()
    size = 0
    at = start
    try:
        while not inflater.eof and at < len(data):
            piece = inflater.unconsumed_tail or data[at:at + _CHUNK]
            if not inflater.unconsumed_tail:
                at += _CHUNK
            size += len(inflater.decompress(piece, cap + 1 - size))
            if size > cap:
                return None
    except zlib.error:
        return size
    return size
