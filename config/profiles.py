"""Authority profiles: a folder of rule files and reply templates per authority."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from config.errors import ConfigError
from config.extraction_rules import ExtractionRules, load_extraction_rules
from config.rulefile import content_hash
from config.triage_rules import TriageRules
from config.triage_rules_load import load_triage_rules

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


@dataclass(frozen=True)
class Profile:
    """Everything one authority's mailbox needs: rules, checklists and templates."""

    name: str
    root: Path
    extraction: ExtractionRules
    triage: TriageRules
    templates_dir: Path
    version: str


def profile_root(name: str, search: Path = PROFILES_DIR) -> Path:
    """Return the folder of a profile, or raise a ConfigError naming the known ones."""
    root = search / name
    if not root.is_dir():
        known = ", ".join(sorted(p.name for p in search.iterdir() if p.is_dir()))
        raise ConfigError(f"unknown authority profile '{name}' (known: {known})",
                          path=str(search), key="profile")
    return root


def profile_files(root: Path) -> list[Path]:
    """Return every rule and template file of a profile (what its version hashes)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".toml", ".j2"})


def load_profile_from(root: Path) -> Profile:
    """Load and validate a profile folder; a bad file stops with its path, line and key."""
    extraction = load_extraction_rules(root / "extraction.toml")
    # Files a rule file includes from another profile are part of this profile's version.
    files = {*profile_files(root), *(Path(p) for p in extraction.paths)}
    return Profile(
        name=root.name,
        root=root,
        extraction=extraction,
        triage=load_triage_rules(root / "triage.toml"),
        templates_dir=root / "templates",
        version=content_hash(files),
    )


@cache
def load_profile(name: str) -> Profile:
    """Load a shipped profile by name, once per process."""
    return load_profile_from(profile_root(name))
