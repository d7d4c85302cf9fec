"""Escaping and layout helpers for the reports: every string is text unless marked as markup.

Values in a report come from e-mail and attachments, which anyone can write. They reach the
page only through ``tag``/``render``, which escape everything (quotes included) except
``Html`` built by these helpers, so forgetting to escape is not possible by accident.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Nothing in a report may load or run anything: no scripts, frames, fonts or remote images.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STATUS_MARKS = {"present": "✓", "missing": "✗", "unclear": "?", "not_applicable": "–"}
STATUS_WORDS = {"present": "present", "missing": "missing", "unclear": "unclear",
                "not_applicable": "not applicable"}


class Html(str):
    """Markup made by these helpers: rendered as is, never escaped a second time."""

    __slots__ = ()


Child = Any  # Html, text, numbers, None, or an iterable of those


def esc(value: object) -> str:
    """Return a value as HTML text, with <, >, &, " and ' escaped."""
    return html.escape(str(value), quote=True)


def render(child: Child) -> Html:
    """Return a child as markup: Html kept, None dropped, iterables joined, the rest escaped."""
    if child is None or child is False:
        return Html("")
    if isinstance(child, Html):
        return child
    if isinstance(child, str | int | float):
        return Html(esc(child))
    if isinstance(child, Iterable):
        return Html("".join(render(c) for c in child))
    return Html(esc(child))


def _attribute(name: str, value: object) -> str:
    """Return one attribute; a trailing underscore lets Python keywords through (class_)."""
    name = name.rstrip("_").replace("_", "-")
    if value is True:
        return f" {name}"
    return f' {name}="{esc(value)}"'


def tag(element: str, *children: Child, **attrs: object) -> Html:
    """Return an element with escaped children and attributes (None/False attributes dropped)."""
    attributes = "".join(_attribute(k, v) for k, v in attrs.items()
                         if v is not None and v is not False)
    return Html(f"<{element}{attributes}>{render(children)}</{element}>")


def void(element: str, **attrs: object) -> Html:
    """Return an element without content (meta, br)."""
    attributes = "".join(_attribute(k, v) for k, v in attrs.items() if v is not None)
    return Html(f"<{element}{attributes}>")


def join(parts: Iterable[Child], separator: Child = ", ") -> Html:
    """Return the parts rendered and joined by a separator."""
    return Html(render(separator).join(render(p) for p in parts))


def table(headers: Iterable[str], rows: Iterable[Child], empty: str, **attrs: object) -> Html:
    """Return a table with a header row, or a short 'nothing here' paragraph."""
    body = list(rows)
    if not body:
        return tag("p", empty, class_="empty")
    head = tag("thead", tag("tr", [tag("th", h, scope="col") for h in headers]))
    return tag("table", head, tag("tbody", body), **attrs)


def section(anchor: str, title: str, *content: Child) -> Html:
    """Return a titled section that the contents list can link to."""
    return tag("section", tag("h2", title), *content, id=anchor)


def page(title: str, css: str, *body: Child, lang: str = "en") -> Html:
    """Return a complete, self-contained HTML document: inline style, no script."""
    head = tag("head", void("meta", charset="utf-8"),
               void("meta", http_equiv="Content-Security-Policy",
                    content=CONTENT_SECURITY_POLICY),
               void("meta", name="viewport", content="width=device-width, initial-scale=1"),
               tag("title", title), tag("style", Html(css)))
    return Html("<!DOCTYPE html>\n" + tag("html", head, tag("body", *body), lang=lang) + "\n")


def optional(markup: Html | None) -> Html:
    """Return markup, or nothing for None."""
    return markup if markup is not None else Html("")


def badge(text: str, kind: str) -> Html:
    """Return a small coloured label (the colour is in the class; the word is the meaning)."""
    return tag("span", text, class_=f"badge badge-{kind}")


def mark(status: str) -> Html:
    """Return the ✓/✗/?/– mark of a checklist status, with the status as its accessible name."""
    word = STATUS_WORDS.get(status, status)
    return tag("span", STATUS_MARKS.get(status, "?"), class_=f"mark mark-{status}",
               title=word, aria_label=word, role="img")


def zone(name: str | None) -> ZoneInfo:
    """Return a time zone by name, UTC when unknown (a report must still render)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_time(value: object) -> datetime | None:
    """Return an ISO 8601 string (or a datetime) as an aware datetime, or None."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_time(value: object, timezone: str | None) -> str:
    """Return a timestamp as 'YYYY-MM-DD HH:MM' in the reviewers' time zone, or '—'."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")


def duration(seconds: float | int | None) -> str:
    """Return a duration the way people say it: '3 d 4 h', '5 h 12 min', '7 min'."""
    if seconds is None:
        return "—"
    minutes = max(int(seconds), 0) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def size(count: int | None) -> str:
    """Return a byte count as B, KB or MB (powers of 1024, one decimal)."""
    if count is None:
        return "—"
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


def percent(value: object) -> str:
    """Return a 0..1 confidence as a whole percentage, or '—'."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{round(value * 100)} %"
    return "—"


def words(value: object) -> str:
    """Return a vocabulary word for people: 'compassionate_use' -> 'compassionate use'."""
    return str(value).replace("_", " ") if value not in (None, "") else "—"


def plain(value: object) -> str:
    """Return a JSON value as one line of text (lists joined, mappings as key: value)."""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    return "—" if value is None or value == "" else str(value)
