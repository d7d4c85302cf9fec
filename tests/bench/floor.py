"""The floor: what reading the mail costs at the least, to compare the pipeline with.

The same messages, fetched in one pass (``BODY.PEEK[]``), split with the standard library's
MIME parser, every PDF page read by the fastest plain-text engine available here (pypdf or
pdfium, measured on the corpus's own PDFs) and every Word paragraph by python-docx. Nothing
is stored, triaged or answered. Messages are read in a pool of worker processes of the same
size as the pipeline's, so that the ratio measures the pipeline's work, not its parallelism.
"""

from __future__ import annotations

import email
import io
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from email import policy
from multiprocessing import get_context
from typing import Any

import docx
import pypdfium2  # type: ignore[import-untyped]
from imapclient import IMAPClient
from pypdf import PdfReader

FETCH_CHUNK = 50


@dataclass(frozen=True)
class Read:
    """What reading one message found."""

    pdf_pages: int = 0
    docx_paragraphs: int = 0
    characters: int = 0

    def __add__(self, other: Read) -> Read:
        return Read(self.pdf_pages + other.pdf_pages,
                    self.docx_paragraphs + other.docx_paragraphs,
                    self.characters + other.characters)


def pdf_text_pypdf(data: bytes) -> list[str]:
    """Plain text of every page with pypdf."""
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def pdf_text_pdfium(data: bytes) -> list[str]:
    """Plain text of every page with pdfium (pypdfium2)."""
    document = pypdfium2.PdfDocument(data)
    try:
        texts = []
        for index in range(len(document)):
            page = document[index]
            text_page = page.get_textpage()
            texts.append(text_page.get_text_range())
            text_page.close()
            page.close()
        return texts
    finally:
        document.close()


ENGINES: dict[str, Callable[[bytes], list[str]]] = {
    "pypdf": pdf_text_pypdf,
    "pypdfium2": pdf_text_pdfium,
}


def docx_text(data: bytes) -> list[str]:
    """The paragraphs of a Word file (python-docx)."""
    return [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]


def attachments(raw: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield (lower-case file name, decoded bytes) of each attachment of a message."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    for part in message.walk():
        name = part.get_filename()
        payload = part.get_payload(decode=True) if name else None
        if name and isinstance(payload, bytes):
            yield name.lower(), payload


def read_message(raw: bytes, engine: str) -> Read:
    """Read every PDF and Word attachment of one message as plain text."""
    found = Read()
    for name, data in attachments(raw):
        if name.endswith(".pdf"):
            pages = ENGINES[engine](data)
            found += Read(pdf_pages=len(pages), characters=sum(map(len, pages)))
        elif name.endswith(".docx"):
            paragraphs = docx_text(data)
            found += Read(docx_paragraphs=len(paragraphs),
                          characters=sum(map(len, paragraphs)))
    return found


def engine_timings(samples: list[bytes], rounds: int = 3) -> dict[str, float]:
    """Seconds per PDF page of each engine, best of ``rounds`` over the sample messages."""
    pdfs = [data for raw in samples for name, data in attachments(raw) if name.endswith(".pdf")]
    pages = sum(len(pdf_text_pdfium(d)) for d in pdfs) or 1  # also warms pdfium up
    timings = {}
    for name, engine in ENGINES.items():
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for data in pdfs:
                engine(data)
            best = min(best, time.perf_counter() - started)
        timings[name] = best / pages
    return timings


def fetch_all(host: str, port: int, user: str, password: str,
              folder: str = "INBOX") -> Iterator[bytes]:
    """Yield every message of the folder in UID order: one pass, in chunks, BODY.PEEK[]."""
    imap = IMAPClient(host, port, ssl=False, timeout=120)
    try:
        imap.login(user, password)
        imap.select_folder(folder, readonly=True)
        uids = sorted(imap.search(["ALL"]))
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start:start + FETCH_CHUNK]
            data = imap.fetch(chunk, ["BODY.PEEK[]"])
            for uid in chunk:
                yield bytes(data[uid][b"BODY[]"])
    finally:
        imap.logout()


def read_all(messages: Iterator[bytes], engine: str, workers: int) -> tuple[int, Read]:
    """Read the messages in a process pool, a bounded window ahead; return (count, totals)."""
    total, count = Read(), 0
    window: deque[Future[Read]] = deque()
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        for raw in messages:
            window.append(pool.submit(read_message, raw, engine))
            if len(window) >= 2 * workers:
                total += window.popleft().result()
                count += 1
        while window:
            total += window.popleft().result()
            count += 1
    return count, total


def floor_pass(login: dict[str, Any], engine: str, workers: int) -> dict[str, Any]:
    """Time one floor pass over the mailbox; return the figures."""
    started = time.perf_counter()
    count, total = read_all(fetch_all(**login), engine, workers)
    seconds = time.perf_counter() - started
    return {"messages": count, "seconds": seconds, "engine": engine, "workers": workers,
            "pdf_pages": total.pdf_pages, "docx_paragraphs": total.docx_paragraphs,
            "characters": total.characters}
