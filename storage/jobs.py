"""Scheduled jobs run once per day across every instance that shares the database."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from storage.db import storage_errors
from storage.models import JobRun, utcnow
from storage.sql import dialect_insert


@storage_errors
def claim_job_run(s: Session, job: str, day: date, host: str) -> bool:
    """Record that job runs for day; False when another instance (or an earlier run) has.

    The key (job, day) is unique: of instances claiming at the same moment, exactly one
    insert goes in, on SQLite and PostgreSQL alike. Commit before doing the job's work.
    """
    insert = dialect_insert(s, JobRun).values(job=job, day=day, started_at=utcnow(), host=host)
    # RETURNING gives a row only when the insert went in (the ORM's rowcount is not reliable).
    claimed = insert.on_conflict_do_nothing(index_elements=["job", "day"]).returning(JobRun.job)
    return s.execute(claimed).first() is not None
