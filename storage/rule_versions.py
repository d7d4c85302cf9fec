"""The rule files of each profile version that filed a message, kept by the version's hash."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.profiles import Profile
from storage.models import RuleVersion, utcnow
from storage.sql import insert_ignoring_conflict


def remember_rule_version(s: Session, profile: Profile) -> None:
    """Keep the profile's rule files under its version, unless they are kept already."""
    # Only the key is read: the files (about 100 kB) are not fetched for every message.
    kept = select(RuleVersion.version).where(RuleVersion.version == profile.version)
    if s.scalar(kept) is not None:
        return
    # Another instance may file with the same new version at the same moment.
    insert_ignoring_conflict(s, RuleVersion, ["version"], version=profile.version,
                             profile=profile.name, created_at=utcnow(),
                             files=dict(profile.files))


def rule_versions_starting(s: Session, prefix: str) -> list[RuleVersion]:
    """Return the kept versions whose hash starts with prefix (one, when it is unique)."""
    query = (select(RuleVersion).where(RuleVersion.version.startswith(prefix, autoescape=True))
             .order_by(RuleVersion.version).limit(10))
    return list(s.scalars(query))
