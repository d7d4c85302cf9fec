"""The route of each message on the case page: its relays oldest first and its anomalies.

Reads the ``route`` that ``storage.routes.with_routes`` puts on each message of the page's
data (``hops``, ``transit``, ``defects``, ``details`` ...); a message without one shows why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from triage.reports.html import (
    Html,
    badge,
    join,
    local_time,
    parse_time,
    table,
    tag,
    words,
    zone,
)

Data = Mapping[str, Any]

# A hop held this long, or dated before the hop that handed it over, is worth a look.
SLOW_HOP_SECONDS = 3600


def message_routes(messages: Sequence[Data], tz: str | None) -> Html:
    """Return, per message of the case, its Received chain and mail-parser's defects."""
    if not messages:
        return tag("p", "No message filed.", class_="empty")
    intro = tag("p", "Where each message came from, as its Received headers say, oldest relay "
                     "first (the oldest are written by the sender's side and can be forged; "
                     "the newest by the servers nearest to our mailbox), and what mail-parser "
                     "found malformed in it.", class_="muted")
    return Html(intro + "".join(_message_route(i, m, tz) for i, m in enumerate(messages, 1)))


def _message_route(number: int, message: Data, tz: str | None) -> Html:
    """Return one message's heading, hops and anomalies."""
    heading = tag("h3", f"{number}. {local_time(message.get('sent_at'), tz)} · "
                        f"{message.get('sender') or '—'} · {words(message.get('role'))}")
    route = message.get("route")
    if not isinstance(route, Mapping):
        return Html(heading + tag("p", "Not received from a mailbox: no route.",
                                  class_="empty"))
    if route.get("error"):
        return Html(heading + tag("p", f"Route not available: {route['error']}",
                                  class_="empty"))
    return tag("div", heading, _summary(route), _hops(route.get("hops") or [], tz),
               _anomalies(route), class_="route")


def _summary(route: Data) -> Html:
    """Return 'N hops, T in transit' and what was left unread."""
    hops = route.get("hops") or []
    if not hops:
        return tag("p", "No Received header: the message says nothing of its route.",
                   class_="empty")
    text = f"{len(hops)} hop{'s' if len(hops) != 1 else ''}"
    transit = route.get("transit")
    text += f", {seconds_text(transit)} in transit" if transit is not None else \
        ", transit time unknown (fewer than two dated hops)"
    omitted = int(route.get("omitted_hops") or 0)
    note = (f" The {omitted} older Received header{'s' if omitted != 1 else ''} below the "
            f"newest {len(hops)} were not read." if omitted else "")
    return tag("p", text + ".", tag("span", note, class_="muted") if note else None)


def _hops(hops: Sequence[Data], tz: str | None) -> Html:
    """Return the hops as a table: from, by, with, date, delay."""
    rows = [tag("tr", tag("td", n, class_="num"),
                tag("td", h.get("from") or h.get("raw") or "—", class_="mono"),
                tag("td", h.get("by") or "—", class_="mono"),
                tag("td", h.get("with") or "—"),
                tag("td", _hop_time(h.get("date"), tz)),
                tag("td", _delay(h.get("delay"))))
            for n, h in enumerate(hops, 1)]
    return table(["#", "From", "By", "With", "Date", "Delay"], rows, "", class_="route") \
        if rows else Html("")


def _hop_time(value: object, tz: str | None) -> str:
    """Return a hop's date to the second in the reviewers' time zone (delays are seconds)."""
    moment = parse_time(value)
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def _delay(value: object) -> Html | str:
    """Return a hop's delay, flagged when long or negative (a clock or a date is wrong)."""
    if not isinstance(value, int | float):
        return "—"
    if value < 0:
        return Html(badge(seconds_text(value), "warn")
                    + tag("div", "dated before the hop before it", class_="muted"))
    if value >= SLOW_HOP_SECONDS:
        return badge(seconds_text(value), "warn")
    return seconds_text(value)


def _anomalies(route: Data) -> Html:
    """Return mail-parser's defect categories with their details, or that it found none."""
    notes = []
    if not route.get("body_checked", True):
        notes.append(tag("p", "The body was not checked for defects: the message is too "
                              "large to be walked when the page is built.", class_="muted"))
    if route.get("header_cut"):
        notes.append(tag("p", "The header was cut before it was read (a field or the whole "
                              "header was too long).", class_="muted"))
    defects = list(route.get("defects") or [])
    if not defects:
        return Html(tag("p", "No anomaly found.", class_="muted") + "".join(notes))
    details = [tag("li", d) for d in route.get("details") or []]
    return Html(tag("p", "Anomalies: ", join([badge(str(d), "warn") for d in defects], " "))
                + (tag("ul", details, class_="reasons") if details else "") + "".join(notes))


def seconds_text(value: float) -> str:
    """Return seconds the way people say them: '24 s', '3 min 5 s', '2 h 5 min', '1 d 3 h'."""
    sign, rest = ("−", -int(value)) if value < 0 else ("", int(value))
    minutes, secs = divmod(rest, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = ((days, "d", hours, "h") if days else (hours, "h", minutes, "min") if hours
             else (minutes, "min", secs, "s") if minutes else (secs, "s", 0, ""))
    big, big_unit, small, small_unit = parts
    return sign + f"{big} {big_unit}" + (f" {small} {small_unit}" if small else "")
