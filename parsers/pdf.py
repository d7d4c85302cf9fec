"""PDF to ExtractedDocument: AcroForm fields, printed labels and values, signatures.

pypdf opens the file, counts pages and reads the form tree; pdfium gives a fast plain text
of every page read (pypdf's where pdfium cannot open the file); the slower word positions
are only asked for the pages whose plain text shows form labels, or that carry form fields
with meaningless names whose printed label must be found by position. Nothing raises out
of ``pdf_to_document``: a file that cannot be read comes back with ``error`` set
("encrypted", "broken").

This module opens the file and puts the document together; the form tree is read in
``parsers.pdf_form`` and the printed page in ``parsers.pdf_layout``.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pdfplumber
from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject

from config.errors import ParseError
from config.extraction_rules import ExtractionRules
from parsers.labels import (
    DEFAULT_LIMITS,
    FileInfo,
    Findings,
    failed_document,
    label_cues,
    to_document,
)
from parsers.parts import Segment
from parsers.pdf_form import form_signatures, form_values, named_by_rules, read_form
from parsers.pdf_layout import layout_values, page_words, plumber_page_words
from parsers.pdf_marks import PdfiumFile, capped_texts
from parsers.pdf_streams import BOMB, check_raw_streams, check_streams, pdf_limits
from parsers.pdf_xfa import UNREAD as XFA_UNREAD
from parsers.pdf_xfa import has_xfa, read_xfa
from parsers.records import ExtractedDocument, FormField, Limits
from parsers.scan import ScanReading, needs_ocr, pdf_page_images, read_scanned

__all__ = ["open_pdf", "pages_to_read", "pdf_to_document"]

# Both libraries log a warning for every oddity of a damaged file; the outcome is recorded on
# the document instead, so only their errors are worth the log.
logging.getLogger("pypdf").setLevel(logging.ERROR)
logging.getLogger("pdfminer").setLevel(logging.ERROR)

_FIRST_TEXT_CHARS = 1500
_MAX_PAGES = 1_000_000  # a declared count past this is not believed (pdfium stops there too)
_MAX_TREE_NODES = 10_000  # page-tree nodes visited to find the pages read


def pdf_to_document(info: FileInfo, data: bytes, rules: ExtractionRules,
                    limits: Limits = DEFAULT_LIMITS) -> ExtractedDocument:
    """Read a PDF's form fields, labelled values and signatures; never raises."""
    try:
        with warnings.catch_warnings(), pdf_limits(limits):
            warnings.simplefilter("ignore")
            return _read(info, data, rules, limits)
    except ParseError as exc:
        return failed_document(rules, info, exc.reason, exc.detail)
    except (Exception, RecursionError) as exc:  # a hostile file must not stop the batch
        return failed_document(rules, info, "broken", f"{type(exc).__name__}: {exc}"[:300])


def _read(info: FileInfo, data: bytes, rules: ExtractionRules, limits: Limits,
          ) -> ExtractedDocument:
    try:
        reader = _opened(data)
        count, leading = _leading_pages(reader, limits)
    except ParseError as exc:
        if exc.reason != "broken":
            raise
        # pdfminer reads some files whose cross-reference table pypdf gives up on.
        return _fallback_document(info, data, rules, limits, exc.detail)
    return to_document(rules, info, _findings(reader, count, leading, data, rules, limits))


def open_pdf(data: bytes) -> PdfReader:
    """Open a PDF with pypdf, trying the empty user password; ParseError when it cannot."""
    reader = _opened(data)
    with _pypdf_errors():
        _ = len(reader.pages)
    return reader


def _opened(data: bytes) -> PdfReader:
    """The file opened by pypdf (its cross-references read, not yet its pages)."""
    if not data.strip():
        raise ParseError("broken", "empty file")
    with _pypdf_errors():
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("encrypted", "a password is needed to open this PDF")
    return reader


@contextmanager
def _pypdf_errors() -> Iterator[None]:
    """pypdf's errors as ParseError: encrypted, a bomb, or broken."""
    try:
        yield
    except FileNotDecryptedError as exc:
        raise ParseError("encrypted", str(exc)) from exc
    except NotImplementedError as exc:  # certificate (public-key) encryption
        raise ParseError("encrypted", str(exc)) from exc
    except LimitReachedError as exc:  # a cross-reference or object stream past the limit
        raise ParseError(BOMB, f"{exc}"[:300]) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ParseError("broken", f"{type(exc).__name__}: {exc}"[:300]) from exc


# --- the page tree ---------------------------------------------------------------------------


def _leading_pages(reader: PdfReader, limits: Limits) -> tuple[int, list[Any]]:
    """The page count, and the pages to read with the resources they inherit.

    pypdf's page list reads every page of the file (1.4 ms for a bench PDF, whose pages are
    mostly not read): the count the tree declares is taken, as pdfium takes it, and only
    the pages to read are looked up. A count that is missing or that the tree does not
    hold falls back to the whole list.
    """
    with _pypdf_errors():
        count = _declared_count(reader)
        if count is not None:
            wanted = len(pages_to_read(count, limits))
            found = _first_pages(reader, wanted)
            if len(found) == wanted:
                return count, [item for page in found for item in page]
        count = len(reader.pages)
        return count, [reader.pages[n] for n in pages_to_read(count, limits)]


def _declared_count(reader: PdfReader) -> int | None:
    """The root's /Count when it is a plausible page count, else None."""
    count = _page_tree(reader).get_object().get("/Count")
    count = count.get_object() if count is not None else None
    return int(count) if isinstance(count, int) and 0 < count <= _MAX_PAGES else None


def _page_tree(reader: PdfReader) -> Any:
    """The root of the page tree (KeyError when the catalog has none)."""
    catalog: Any = reader.trailer["/Root"].get_object()
    return catalog["/Pages"]


def _first_pages(reader: PdfReader, wanted: int) -> list[list[Any]]:
    """The first pages in document order, each with the resources it inherits (if any).

    Fewer when the tree does not hold them: a loop, a missing kid, too many nodes.
    """
    found: list[list[Any]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, Any]] = [(_page_tree(reader), None)]
    visited = 0
    while stack and len(found) < wanted and visited < _MAX_TREE_NODES:
        visited += 1
        ref, inherited = stack.pop()
        node = ref.get_object()
        if not isinstance(node, DictionaryObject) or id(node) in seen:
            continue
        seen.add(id(node))
        kind = node.get("/Type", "/Pages" if "/Kids" in node else "/Page")
        if kind == "/Pages":
            resources = node.get("/Resources", inherited)
            kids = node.get("/Kids")
            kids = kids.get_object() if kids is not None else None
            if isinstance(kids, ArrayObject):
                stack.extend((kid, resources) for kid in reversed(kids))
        elif kind == "/Page":
            own = "/Resources" in node or inherited is None
            found.append([node] if own else [node, inherited])
    return found


# --- the whole document ------------------------------------------------------------------


def _findings(reader: PdfReader, count: int, leading: Sequence[Any], data: bytes,
              rules: ExtractionRules, limits: Limits) -> Findings:
    numbers = pages_to_read(count, limits)
    check_streams(reader, leading, limits)  # before pdfium or pdfplumber inflates anything
    pdfium_file = _open_pdfium(data, limits)
    try:
        texts = _page_texts(reader, pdfium_file, numbers, limits.max_text_chars)
        scanned = _scanned_pages(rules, reader, data, texts, limits)
        texts.update(scanned.texts)
        form = read_form(reader)
        xfa = read_xfa(reader)
        form = [*form, *xfa]
        wanted = [n for n in _pages_needing_words(rules, texts, form, numbers, limits)
                  if n not in scanned.texts]
        words = page_words(data, wanted, pdfium_file)
    finally:
        if pdfium_file is not None:
            pdfium_file.close()
    values, labels_hit, misses = form_values(rules, form, words)
    layout = layout_values(rules, words, form)
    text = "\n\n".join(texts[n] for n in numbers if texts.get(n))
    return Findings(
        text=text[:limits.max_text_chars],
        first_text=_first_text(reader, texts, numbers, count > limits.full_read_max_pages),
        pages=count, fields=(*values, *layout.values, *scanned.values),
        labels_hit=(*labels_hit, *layout.labels, *scanned.labels),
        form_names=tuple(f.name for f in form),
        signatures=(*form_signatures(form), *layout.signatures, *scanned.signatures),
        near_misses=tuple(misses),
        page_problems=(*scanned.problems, *([XFA_UNREAD] if has_xfa(reader) and not xfa else [])),
        segments=tuple(Segment(texts[n], n + 1, n + 1) for n in numbers if n in texts),
    )


def _scanned_pages(rules: ExtractionRules, reader: PdfReader, data: bytes,
                   texts: dict[int, str], limits: Limits) -> ScanReading:
    """OCR of the pages read that have no usable text layer (scanned pages)."""
    candidates = [n for n in sorted(texts) if needs_ocr(texts[n]) and _pictured(reader, n)]
    if not candidates:
        return ScanReading({})
    drawn = [reader.pages[n] for n in candidates]
    check_streams(reader, drawn, limits, drawn=True)  # rendering draws the annotations
    with pdf_page_images(data, limits.ocr_dpi) as render:
        return read_scanned(rules, candidates, render, limits)


def pages_to_read(count: int, limits: Limits) -> range:
    """All pages of a short PDF; the first few of a long one (an IFU, a study)."""
    return range(count if count <= limits.full_read_max_pages else min(limits.skim_pages, count))


def _open_pdfium(data: bytes, limits: Limits) -> PdfiumFile | None:
    """The file opened in pdfium, the pages that may be read for words kept loaded; None
    when pdfium cannot open it (pypdf and pdfplumber read it then)."""
    try:
        return PdfiumFile(data, keep=limits.pdf_max_word_pages)
    except ParseError:
        return None


def _page_texts(reader: PdfReader, pdfium_file: PdfiumFile | None, numbers: range,
                cap: int) -> dict[int, str]:
    """Plain text of each page read, stopping once the cap is reached.

    pdfium's, about six times faster than pypdf's (docs/benchmarks.md); pypdf's for a file
    pdfium cannot open.
    """
    if pdfium_file is not None:
        return capped_texts(numbers, cap, pdfium_file.text)
    return capped_texts(numbers, cap, lambda number: reader.pages[number].extract_text() or "")


def _first_text(reader: PdfReader, texts: dict[int, str], numbers: range, skim: bool) -> str:
    """Metadata title and subject, outline titles and the first page(s): the kind cues."""
    parts = [*_metadata(reader), *(_outline_titles(reader) if skim else [])]
    pages = numbers if skim else numbers[:1]
    parts.extend(texts.get(n, "")[:_FIRST_TEXT_CHARS] for n in pages)
    return "\n".join(p for p in parts if p)


def _metadata(reader: PdfReader) -> list[str]:
    try:
        meta = reader.metadata
        return [str(v) for v in (meta.title, meta.subject) if v] if meta else []
    except Exception:  # metadata is a hint; a broken Info dictionary is ignored
        return []


def _outline_titles(reader: PdfReader, limit: int = 40) -> list[str]:
    try:
        return list(_titles(reader.outline, limit, depth=0))[:limit]
    except Exception:  # a broken outline is ignored like missing metadata
        return []


def _titles(items: Sequence[Any], limit: int, depth: int) -> Iterator[str]:
    for item in list(items)[:limit]:
        if isinstance(item, list) and depth < 4:
            yield from _titles(item, limit, depth + 1)
        elif hasattr(item, "title") and item.title:
            yield str(item.title)


def _pages_needing_words(rules: ExtractionRules, texts: dict[int, str],
                         form: Sequence[FormField], numbers: range, limits: Limits,
                         ) -> list[int]:
    """Pages whose text shows labels, or that hold form fields only a printed label names.

    Words with positions cost the most (pdfplumber): a densely printed page is no form,
    and only the first few flagged pages of a document are read so.
    """
    cues = {n: label_cues(rules, text) for n, text in texts.items() if text}
    flagged = {n for n, cue in cues.items() if cue >= 2}
    flagged |= {n for n, cue in cues.items() if cue == 1 and n - 1 in flagged}
    flagged |= {f.page - 1 for f in form
                if f.page and f.has_value and named_by_rules(rules, f) is None}
    light = [n for n in sorted(flagged)
             if n in numbers and len(texts.get(n, "")) <= limits.pdf_max_page_chars]
    return light[:limits.pdf_max_word_pages]



def _pictured(reader: PdfReader, number: int) -> bool:
    """Whether a page draws a picture (a scan is one): a blank or vector page is no scan."""
    try:
        resources = reader.pages[number].get("/Resources")
        return _has_image(resources.get_object() if resources is not None else None, depth=0)
    except Exception:  # unsure: let OCR look
        return True


def _has_image(resources: Any, depth: int) -> bool:
    """An image XObject in the resources, or in a form XObject they draw (a scanner's wrap)."""
    xobjects = resources.get("/XObject") if resources is not None else None
    for item in (xobjects.get_object().values() if xobjects is not None else ()):
        xobject = item.get_object()
        if xobject.get("/Subtype") == "/Image":
            return True
        if xobject.get("/Subtype") == "/Form" and depth < 2 and _has_image(
                xobject.get("/Resources"), depth + 1):
            return True
    return False


# --- files pypdf cannot open ----------------------------------------------------------------


def _fallback_document(info: FileInfo, data: bytes, rules: ExtractionRules, limits: Limits,
                       detail: str) -> ExtractedDocument:
    """Read a PDF that pypdf refused with pdfminer alone: text and printed labels."""
    check_raw_streams(data, limits)  # pypdf could not measure them: pdfminer would not
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            count = len(pdf.pages)
            numbers = pages_to_read(count, limits)
            texts = [_plain_text(pdf, n) for n in numbers]
            words = {n: plumber_page_words(pdf, n) for n in numbers[:limits.pdf_max_word_pages]}
    except Exception as exc:  # neither reader can open it: it is broken
        return failed_document(rules, info, "broken", f"{detail}; {type(exc).__name__}")
    layout = layout_values(rules, words)
    text = "\n\n".join(t for t in texts if t)[:limits.max_text_chars]
    findings = Findings(text=text, first_text=text[:_FIRST_TEXT_CHARS], pages=count,
                        fields=layout.values, labels_hit=layout.labels,
                        signatures=layout.signatures)
    return to_document(rules, info, findings)


def _plain_text(pdf: Any, number: int) -> str:
    try:
        return str(pdf.pages[number].extract_text() or "")
    except Exception:  # one unreadable page must not lose the others
        return ""
