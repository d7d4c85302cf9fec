"""Authority profiles: a folder of rule files and reply templates per authority.

The profiles are read from a folder of profiles, ``general.profiles_dir`` in the settings: by
default the ones shipped in ``config/profiles``, or the administrators' own copy (under /etc or
in a repository of theirs) that an upgrade of the application leaves alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from config.extraction_rules import ExtractionRules, load_extraction_rules
from config.profile_folders import PROFILES_DIR, profile_root
from config.rulefile import contents_hash
from config.triage_rules import TriageRules
from config.triage_rules_load import load_triage_rules


@dataclass(frozen=True)
class Profile:
    """Everything one authority's mailbox needs: rules, checklists and templates."""

    name: str
    root: Path
    extraction: ExtractionRules
    triage: TriageRules
    templates_dir: Path
    version: str
    # The text of every file the version hashes, by its path from the folder of profiles
    # ("famhp/extraction.toml"): what a case filed with this version was read with.
    files: tuple[tuple[str, str], ...] = ()


class ReadingRules(Protocol):
    """What reading a message needs of a profile: its extraction rules and its version."""

    @property
    def extraction(self) -> ExtractionRules:
        """The rules that read form fields and document kinds."""
        ...

    @property
    def version(self) -> str:
        """The hash of every file of the profile."""
        ...


@dataclass(frozen=True)
class ExtractionProfile:
    """A profile's extraction rules and version only: what a worker process loads."""

    name: str
    extraction: ExtractionRules
    version: str


def profile_files(root: Path) -> list[Path]:
    """Return every rule and template file of a profile (what its version hashes)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".toml", ".j2"})


def load_profile_from(root: Path) -> Profile:
    """Load and validate a profile folder; a bad file stops with its path, line and key."""
    extraction = load_extraction_rules(root / "extraction.toml")
    contents = _contents(root, extraction)
    return Profile(
        name=root.name,
        root=root,
        extraction=extraction,
        triage=load_triage_rules(root / "triage.toml"),
        templates_dir=root / "templates",
        version=contents_hash(contents),
        files=tuple((os.path.relpath(path, root.resolve().parent),
                     data.decode("utf-8", "replace"))
                    for path, data in contents),
    )


@cache
def load_profile(name: str, search: Path = PROFILES_DIR) -> Profile:
    """Load a profile by name from a folder of profiles, once per process."""
    return load_profile_from(profile_root(name, search))


@cache
def load_extraction_profile(name: str, search: Path = PROFILES_DIR) -> ExtractionProfile:
    """Load a profile's extraction rules and version only, once per process.

    A worker reads messages and never triages: the triage rules' check of token patterns
    imports spaCy, about 54 MB a worker that nothing there uses.
    """
    root = profile_root(name, search)
    extraction = load_extraction_rules(root / "extraction.toml")
    return ExtractionProfile(name=root.name, extraction=extraction,
                             version=contents_hash(_contents(root, extraction)))


def _contents(root: Path, extraction: ExtractionRules) -> list[tuple[Path, bytes]]:
    """Return the bytes of every file the profile's version hashes, by path."""
    # Files a rule file includes from another profile are part of this profile's version.
    paths = {p.resolve() for p in (*profile_files(root), *extraction.paths)}
    # Read once: the version and the kept texts must be of the same bytes.
    return [(path, path.read_bytes()) for path in sorted(paths)]
