"""Scheduled jobs claimed once per day in the database, whichever instance asks first."""

from __future__ import annotations

from datetime import date

from storage.db import Database
from storage.jobs import claim_job_run


def test_a_job_is_claimed_once_per_day_and_again_the_next_day(database: Database) -> None:
    day = date(2026, 12, 14)
    with database.session() as s:
        assert claim_job_run(s, "digest", day, "host-a pid 1")
    with database.session() as s:
        assert not claim_job_run(s, "digest", day, "host-b pid 2")
    with database.session() as s:
        assert claim_job_run(s, "digest", date(2026, 12, 15), "host-b pid 2")
        assert claim_job_run(s, "another job", day, "host-b pid 2")
