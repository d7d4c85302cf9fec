"""What every request of the workspace needs: settings, database, blobs, templates, key."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

from config.settings import Settings
from config.vocabulary import Role
from intake.runtime import database_url, limits_from
from parsers.records import Limits
from storage.blobs import BlobStore
from storage.db import Database, upgrade

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
RANK = {Role.VIEWER: 0, Role.REVIEWER: 1, Role.ADMINISTRATOR: 2}


@dataclass(frozen=True)
class Identity:
    """The logged-in account of a request."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        """Tell whether this account holds at least that role."""
        return RANK[self.role] >= RANK[role]


@dataclass
class Workspace:
    """The long-lived parts of the web process, built once."""

    settings: Settings
    database: Database
    blobs: BlobStore
    limits: Limits
    templates: Environment
    key: bytes

    def close(self) -> None:
        """Release the database connections."""
        self.database.dispose()


def template_environment() -> Environment:
    """Return the Jinja2 environment of the pages: every value escaped unless marked."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(
        ["html", "j2"], default_for_string=True, default=True), trim_blocks=True,
        lstrip_blocks=True)


def open_workspace(settings: Settings) -> Workspace:
    """Migrate the database and build the workspace from the settings."""
    url = database_url(settings)
    settings.general.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    secret = settings.web.secret_key
    if secret is None:
        # Without a configured key, forms stay protected; they expire when the process stops.
        log.warning("web.secret_key_env/secret_key_file not set: using a key for this process")
    key = (secret.reveal() if secret is not None else secrets.token_hex(32)).encode("utf-8")
    return Workspace(settings=settings, database=Database.open(url),
                     blobs=BlobStore(settings.general.data_dir / "blobs"),
                     limits=limits_from(settings), templates=template_environment(), key=key)


def workspace_of(request: Request) -> Workspace:
    """Return the workspace the application was built with."""
    found: Workspace = request.app.state.workspace
    return found
