"""What a running process holds once: settings, database, blob store, profiles, delivery."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from config.profiles import Profile, load_profile
from config.settings import Settings
from config.templates import TemplateSet, load_templates
from config.triage_rules import LANGUAGES
from intake.failpoints import arm_database
from intake.replies.delivery import Delivery, open_delivery
from intake.workers import PreparePool
from parsers.records import Limits
from storage.blobs import BlobStore
from storage.db import Database, default_sqlite_url, upgrade


def limits_from(settings: Settings) -> Limits:
    """Return the attachment limits the settings ask for."""
    x = settings.extraction
    mib = 1024 * 1024
    return Limits(
        max_attachment_bytes=x.max_attachment_mb * mib,
        zip_max_total_bytes=x.zip_max_total_mb * mib,
        zip_max_files=x.zip_max_members,
        zip_max_depth=x.zip_max_depth,
        zip_max_ratio=float(x.zip_max_ratio),
    )


def database_url(settings: Settings) -> str:
    """Return the configured database URL, or the SQLite file under the data directory."""
    return settings.database.url or default_sqlite_url(settings.general.data_dir)


@dataclass
class Runtime:
    """The long-lived parts of a process, built once and passed explicitly."""

    settings: Settings
    database: Database
    blobs: BlobStore
    delivery: Delivery
    limits: Limits
    pool: PreparePool
    _templates: dict[str, TemplateSet] = field(default_factory=dict)

    def profile(self, name: str) -> Profile:
        """Return a loaded authority profile (loaded once per process)."""
        return load_profile(name)

    def templates(self, profile: str) -> TemplateSet:
        """Return the reply templates of a profile (loaded once per process)."""
        if profile not in self._templates:
            loaded = self.profile(profile)
            # The profile's vocabulary is already loaded: no second read of triage.toml.
            self._templates[profile] = load_templates(
                loaded.root, checklist_ids={r.id for rules in loaded.triage.checklists.values()
                                            for r in rules},
                request_types=tuple(loaded.triage.checklists))
        return self._templates[profile]

    def warm_up_triage(self) -> float:
        """Load the language detector and every language's NLP pipeline now; return seconds.

        A long-running service calls this after the workers are started (they never triage),
        so that the first request after a start waits no longer than any other.
        """
        from triage.language import detect_language
        from triage.nlp import find_cues

        started = time.perf_counter()
        detect_language(["Warming up the language detector with a sentence."])
        for mailbox in self.settings.mailboxes:
            rules = self.profile(mailbox.profile).triage
            for lang in LANGUAGES:
                find_cues("warm-up", lang, rules, "body")
        return time.perf_counter() - started

    def close(self) -> None:
        """Stop the worker processes and release the database connections."""
        self.pool.close()
        self.database.dispose()


def _open_database(url: str) -> Database:
    """Open the database; with the test failpoints armed, let them reach its statements."""
    database = Database.open(url)
    arm_database(database.engine)
    return database


def open_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Create the data directory, migrate the database and load every mailbox's profile."""
    data_dir: Path = settings.general.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(settings)
    if migrate:
        upgrade(url)
    runtime = Runtime(
        settings=settings,
        database=_open_database(url),
        blobs=BlobStore(data_dir / "blobs"),
        delivery=open_delivery(settings.smtp, data_dir),
        limits=limits_from(settings),
        pool=PreparePool(settings.extraction.worker_count(), limits_from(settings),
                         budget_seconds=settings.extraction.message_budget_seconds,
                         label=str(settings.config_path),
                         profiles=tuple(sorted({m.profile for m in settings.mailboxes}))),
    )
    for mailbox in settings.mailboxes:
        runtime.profile(mailbox.profile)  # a bad rule file stops start-up here
        runtime.templates(mailbox.profile)
    runtime.pool.start()  # the workers load their imports while the intake loads its own
    return runtime
