"""Reports for reviewers: the case page and the daily digest, rendered from plain data."""

from __future__ import annotations

from triage.reports.case_page import case_to_html
from triage.reports.digest import digest_to_html, digest_to_text, queue_order

__all__ = ["case_to_html", "digest_to_html", "digest_to_text", "queue_order"]
