"""Large base64 payloads kept out of the standard MIME parser, which needs ~9x their size.

The stdlib parser splits a message into line objects: a 70 MB message took 600 MB. Before
parsing, each long run of base64 lines is cut out and replaced by a one-line token; after
parsing, a part whose payload holds tokens gets its original bytes back. A run of lines made
only of base64 characters cannot be a header or a boundary line, so cutting it never changes
the structure the parser sees.
"""

from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass

# Only messages this large are worth the pre-pass; smaller ones parse directly.
MIN_MESSAGE_BYTES = 1024 * 1024
# Runs shorter than this stay in place.
MIN_RUN_BYTES = 256 * 1024
# Blocks of at most this many lines: an unbounded repeat makes the regex engine keep state
# for every line (200 MB for a 70 MB run); bounded blocks are chained instead.
_BLOCK = re.compile(rb"(?m)^(?:[A-Za-z0-9+/]{16,}={0,2}\r?\n){1,1024}")
# A base64 body's last line is often shorter than the rest. Taken into its run, a part's
# payload is one run, decoded with no copy. Such a line cannot be a header (no colon) or a
# boundary (no dash), so taking it never changes the structure the parser sees.
_TAIL = re.compile(rb"(?:[A-Za-z0-9+/]{1,15}={0,2}|={1,2})(?:\r?\n|\Z)")


@dataclass(frozen=True)
class CutMessage:
    """A message with its long base64 runs replaced by tokens, and where they came from."""

    data: bytes  # what the MIME parser reads
    source: bytes  # the original message
    spans: tuple[tuple[int, int], ...]  # (start, end) in source, indexed by token number
    nonce: str

    @property
    def token_pattern(self) -> re.Pattern[bytes]:
        """Match this message's tokens (the nonce stops a sender from forging one)."""
        return re.compile(rb"~~blob-%s-(\d+)~~\r?\n?" % self.nonce.encode("ascii"))

    def holds_tokens(self, payload: str) -> bool:
        """Tell whether a part's raw payload had a run cut out of it."""
        return bool(self.spans) and f"~~blob-{self.nonce}-" in payload

    def restore(self, encoded: bytes) -> bytes:
        """Put the original runs back in place of their tokens."""
        return b"".join(self._pieces(encoded))

    def decode_base64(self, encoded: bytes) -> bytes:
        """Decode a base64 payload that had runs cut out; raise binascii.Error if broken.

        A payload that is one run (what a mail client writes) is decoded straight from the
        message: restoring it first would hold a second copy of the encoded text (68 MB for
        a 50 MB attachment) beside the message and the decoded bytes.
        """
        pieces = self._pieces(encoded)
        # Separators and line ends around a token decode to nothing.
        content = [p for p in pieces if isinstance(p, memoryview) or p.strip()]
        if len(content) == 1:
            return binascii.a2b_base64(content[0])
        return binascii.a2b_base64(b"".join(pieces))

    def _pieces(self, encoded: bytes) -> list[bytes | memoryview]:
        """Split a payload at its tokens, each token replaced by its run (not copied)."""
        source = memoryview(self.source)
        pieces: list[bytes | memoryview] = []
        position = 0
        for match in self.token_pattern.finditer(encoded):
            pieces.append(encoded[position:match.start()])
            start, end = self.spans[int(match.group(1))]
            pieces.append(source[start:end])
            position = match.end()
        pieces.append(encoded[position:])
        return pieces


def cut_large_payloads(data: bytes) -> CutMessage:
    """Replace every long run of base64 lines with a token line."""
    nonce = secrets.token_hex(8)
    if len(data) < MIN_MESSAGE_BYTES:
        return CutMessage(data, data, (), nonce)
    spans = _base64_runs(data)
    pieces: list[bytes] = []
    position = 0
    for number, (start, end) in enumerate(spans):
        pieces.append(data[position:start])
        pieces.append(b"~~blob-%s-%d~~\n" % (nonce.encode("ascii"), number))
        position = end
    if not spans:
        return CutMessage(data, data, (), nonce)
    pieces.append(data[position:])
    return CutMessage(b"".join(pieces), data, tuple(spans), nonce)


def _base64_runs(data: bytes) -> list[tuple[int, int]]:
    """Return (start, end) of every run of base64 lines at least MIN_RUN_BYTES long."""
    runs: list[tuple[int, int]] = []
    start = end = -1
    for block in _BLOCK.finditer(data):
        if block.start() != end:
            if end - start >= MIN_RUN_BYTES:
                runs.append(_with_tail(data, start, end))
            start = block.start()
        end = block.end()
    if end - start >= MIN_RUN_BYTES:
        runs.append(_with_tail(data, start, end))
    return runs


def _with_tail(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Extend a run over a short last base64 line right after it, if there is one."""
    tail = _TAIL.match(data, end)
    return (start, tail.end()) if tail else (start, end)
