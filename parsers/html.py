"""HTML mail bodies rendered as readable plain text (stdlib parser, no dependency)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content a reader never sees.
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript", "object"})
# Elements that start on a new line.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
    "thead", "tfoot", "tr", "ul", "caption",
})
# Paragraph-like elements get a blank line around them, as a browser shows a margin.
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "pre"})
_CELLS = frozenset({"td", "th"})
_CELL_SEPARATOR = " | "
_INLINE_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


class _TextCollector(HTMLParser):
    """Collect visible text, turning block structure into line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden_depth = 0
        self._pre_depth = 0
        self._cell_in_row = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an element: hide, break a line, or separate a table cell."""
        if tag in _HIDDEN:
            self._hidden_depth += 1
        elif tag == "body":
            # Browsers close an unterminated <head> when the body starts; so do we.
            self._hidden_depth = 0
        elif tag == "br":
            self.chunks.append("\n")  # a <br> always breaks, even after another break
        elif tag in _CELLS:
            self._open_cell()
        elif tag in _BLOCKS:
            self._open_block(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """A self-closing tag (<br/>, <hr/>) opens and closes at once."""
        if tag not in _HIDDEN:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        """Close an element and end its line."""
        if tag in _HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCKS:
            self._close_block(tag)

    def handle_data(self, data: str) -> None:
        """Keep visible text; collapse whitespace except inside <pre>."""
        if self._hidden_depth:
            return
        self.chunks.append(data if self._pre_depth else _INLINE_SPACE.sub(" ", data))

    def _open_cell(self) -> None:
        """Separate cells of one row so that label and value stay apart but on one line."""
        if self._cell_in_row:
            self.chunks.append(_CELL_SEPARATOR)
        self._cell_in_row += 1

    def _open_block(self, tag: str) -> None:
        """Start a block on its own line (a blank line before paragraphs)."""
        self._break(2 if tag in _PARAGRAPHS else 1)
        if tag == "tr":
            self._cell_in_row = 0
        elif tag == "pre":
            self._pre_depth += 1
        elif tag == "li":
            self.chunks.append("- ")

    def _close_block(self, tag: str) -> None:
        """End a block's line; leave <pre> mode when it closes."""
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        self._break(2 if tag in _PARAGRAPHS else 1)

    def _break(self, newlines: int) -> None:
        """End the current line with at least this many newlines, not adding to a break."""
        tail = "".join(self.chunks[-4:]).rstrip(" ")
        present = len(tail) - len(tail.rstrip("\n"))
        if present < newlines:
            self.chunks.append("\n" * (newlines - present))


def html_to_text(html: str) -> str:
    """Render HTML as readable text: blocks on their own lines, scripts and styles dropped."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return _tidy("".join(collector.chunks))


def _tidy(text: str) -> str:
    """Strip each line, drop runs of blank lines and non-breaking spaces used as layout."""
    lines = [line.replace("\xa0", " ").strip() for line in text.split("\n")]
    joined = "\n".join(lines)
    return _MANY_BLANK_LINES.sub("\n\n", joined).strip()
