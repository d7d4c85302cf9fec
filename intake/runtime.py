"""What a running process holds once: settings, database, blob store, profiles, delivery.

The worker pool and the delivery are imported when a runtime is opened, not with this module:
commands that only read the database (``open_database``) never load the NLP stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from config.errors import ConfigError
from config.profiles import Profile, load_profile
from config.settings import Settings, database_password
from config.templates import TemplateSet, load_templates
from config.vocabulary import Language
from intake.failpoints import arm_database
from parsers.records import Limits
from storage.blobs import BlobStore, blob_store_in
from storage.db import Database, default_sqlite_url, upgrade

if TYPE_CHECKING:
    from intake.replies.delivery import Delivery
    from intake.workers import PreparePool


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
        pdf_max_stream_bytes=x.pdf_max_stream_mb * mib,
        pdf_max_decoded_bytes=x.pdf_max_decoded_mb * mib,
        pdf_max_word_pages=x.pdf_max_word_pages,
        pdf_max_page_chars=x.pdf_max_page_chars,
        ocr=x.ocr,
        ocr_max_pages=x.ocr_max_pages,
        ocr_max_seconds=float(x.ocr_max_seconds),
        ocr_dpi=x.ocr_dpi,
        ocr_min_confidence=float(x.ocr_min_confidence),
    )


def database_url(settings: Settings) -> str:
    """Return the database URL to connect with, its password read now from its source."""
    url = settings.database.url or default_sqlite_url(settings.general.data_dir)
    password = database_password(settings)
    if password is None:
        return url
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=password.reveal()).render_as_string(hide_password=False)


def data_folder(settings: Settings) -> Path:
    """Create the data directory if needed and return it (a file in its place is an error)."""
    data_dir: Path = settings.general.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"{data_dir} is a file, not a folder", path=str(settings.config_path),
                          key="general.data_dir") from None
    return data_dir


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Open (and migrate) the database alone: for commands that neither poll nor send."""
    data_folder(settings)
    url = database_url(settings)
    if migrate:
        upgrade(url)
    return Database.open(url)


@dataclass
class Runtime:
    """The long-lived parts of a process, built once and passed explicitly."""

    settings: Settings
    database: Database
    blobs: BlobStore
    delivery: Delivery
    limits: Limits
    pool: PreparePool
    # Called once a case with a queued acknowledgement is committed (intake.replies.sender).
    after_filing: Callable[[], None] | None = None
    _templates: dict[str, TemplateSet] = field(default_factory=dict)

    def profile(self, name: str) -> Profile:
        """Return a loaded authority profile (loaded once per process)."""
        return load_profile(name, self.settings.general.profiles_dir)

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

        ``run`` calls this in a thread of its own once the workers are started (they never
        triage) and takes mail meanwhile; a request in a language whose pipeline is still
        loading waits for it (``triage.nlp`` builds each once, whoever asks first).
        """
        from triage.language import detect_language
        from triage.nlp import find_cues

        started = time.perf_counter()
        detect_language(["Warming up the language detector with a sentence."])
        for mailbox in self.settings.mailboxes:
            rules = self.profile(mailbox.profile).triage
            for lang in Language:
                find_cues("warm-up", lang, rules, "body")
        return time.perf_counter() - started

    def close(self) -> None:
        """Stop the worker processes and release the database connections."""
        self.pool.close()
        self.database.dispose()


def _open_database(settings: Settings, migrate: bool) -> Database:
    """Open the database; with the test failpoints armed, let them reach its statements."""
    database = open_database(settings, migrate=migrate)
    arm_database(database.engine)
    return database


def open_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Create the data directory, migrate the database and load every mailbox's profile."""
    from intake.replies.delivery import open_delivery
    from intake.workers import PreparePool

    data_dir = data_folder(settings)
    runtime = Runtime(
        settings=settings,
        database=_open_database(settings, migrate),
        blobs=blob_store_in(data_dir),
        delivery=open_delivery(settings.smtp, data_dir),
        limits=limits_from(settings),
        pool=PreparePool(settings.extraction.worker_count(), limits_from(settings),
                         settings.general.profiles_dir,
                         budget_seconds=settings.extraction.message_budget_seconds,
                         label=str(settings.config_path),
                         profiles=tuple(sorted({m.profile for m in settings.mailboxes}))),
    )
    for mailbox in settings.mailboxes:
        runtime.profile(mailbox.profile)  # a bad rule file stops start-up here
        runtime.templates(mailbox.profile)
    runtime.pool.start()  # the workers load their imports while the intake loads its own
    return runtime
