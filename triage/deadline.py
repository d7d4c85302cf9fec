"""The decision clock of a case: it runs while a request is complete and awaits a decision.

An incomplete case waits for the applicant, so the clock is stopped; a decided one is done.
The target number of days is a per-profile setting (web.decision_days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from config.vocabulary import FINAL_CASE_STATUSES

ClockState = Literal["running", "waiting", "decided", "none"]


@dataclass(frozen=True)
class Clock:
    """Where a case stands against its decision target."""

    state: ClockState
    completed_at: datetime | None
    days_since_complete: int | None
    due: datetime | None
    overdue: bool

    def describe(self) -> str:
        """Return the clock in words, for a page."""
        if self.state == "waiting":
            return "stopped: waiting for the applicant"
        if self.state == "decided":
            return "stopped: decided"
        if self.state == "none":
            return "not running"
        days = f"{self.days_since_complete} days since complete"
        if self.due is None:
            return f"{days}; no target set for this profile"
        return f"{days}; due {self.due:%Y-%m-%d}" + (" (overdue)" if self.overdue else "")


def decision_clock(status: str, completed_at: datetime | None, target_days: int | None,
                   now: datetime) -> Clock:
    """Return the clock of a case from its status, when it became complete, and the target."""
    if status in FINAL_CASE_STATUSES:
        return Clock("decided", None, None, None, False)
    if status == "incomplete":
        return Clock("waiting", None, None, None, False)
    if status != "complete" or completed_at is None:
        return Clock("none", None, None, None, False)
    days = max((now - completed_at).days, 0)
    due = completed_at + timedelta(days=target_days) if target_days is not None else None
    return Clock("running", completed_at, days, due, due is not None and now > due)
