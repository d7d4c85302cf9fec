"""Read-only query behind `rules eval --from-corrections`: reviewers' values beside extraction's.

Nothing here writes. ``read_corrections`` opens the database at a URL, reads each current
reviewer value of a case with the current extracted value of the same key, and closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import aliased

from config.errors import IntakeError
from storage.db import Database
from storage.models import Case, ExtractedField


@dataclass(frozen=True)
class Correction:
    """A reviewer's value for a field of a case, beside what extraction had found."""

    case_ref: str
    key: str
    corrected: str
    extracted: str | None
    rule: str | None


def read_corrections(url: str) -> list[Correction]:
    """Read (never write) each current reviewer value with the current extracted value."""
    if url.startswith("sqlite") and not _sqlite_exists(url):
        raise IntakeError("no database there yet")
    reviewer, extracted = aliased(ExtractedField), aliased(ExtractedField)
    query = (
        select(Case.ref, reviewer.key, reviewer.value, extracted.value, extracted.rule)
        .join(Case, Case.id == reviewer.case_id)
        .outerjoin(extracted, and_(extracted.case_id == reviewer.case_id,
                                   extracted.key == reviewer.key,
                                   extracted.origin == "extracted",
                                   extracted.superseded_by.is_(None)))
        .where(reviewer.origin == "reviewer", reviewer.superseded_by.is_(None))
        .order_by(Case.ref, reviewer.key, extracted.id)
    )
    database = Database.open(url)
    try:
        with database.session() as s:
            rows = s.execute(query).all()
    finally:
        database.dispose()
    # Should two extracted values be current, the newest (last) is the one shown.
    latest = {(r[0], r[1]): Correction(r[0], r[1], r[2], r[3], r[4]) for r in rows}
    return list(latest.values())


def _sqlite_exists(url: str) -> bool:
    """Whether a SQLite URL names a file that exists (opening it would create it)."""
    name = make_url(url).database
    if not name:
        return False
    return name == ":memory:" or Path(name).is_file()
