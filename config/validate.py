"""Checking an authority profile's rule files and reply templates, collecting every problem.

The loaders stop at the first mistake of a file (that is what start-up needs). An
administrator editing several files wants every file's problem at once, so each file is
checked on its own here and the problems are collected: at least one per broken file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from config.errors import ConfigError
from config.extraction_rules import load_extraction_rules
from config.profile_folders import PROFILES_DIR
from config.profiles import profile_files
from config.rulefile import read_toml
from config.templates import STRINGS_FILE, load_templates
from config.triage_rules import TriageRules
from config.triage_rules_load import load_triage_rules

EXTRACTION_FILE = "extraction.toml"
TRIAGE_FILE = "triage.toml"
TEMPLATES_DIR = "templates"
# Top-level tables only a triage rule file has (to tell an included rule file's kind).
_TRIAGE_TABLES = frozenset({"automated", "kind", "request_type", "regulation", "urgency",
                            "case_ref", "acknowledge", "checklist", "text"})
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+?)\s*=")


@dataclass(frozen=True)
class Validation:
    """The files checked and the problems found in them."""

    files: tuple[Path, ...]
    errors: tuple[ConfigError, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.errors

    def plus(self, other: Validation) -> Validation:
        """Return both checks together, each file and each problem once."""
        # A profile that includes another's rule file meets that file's problem again.
        errors = {e.describe(): e for e in (*self.errors, *other.errors)}
        return Validation(tuple(dict.fromkeys((*self.files, *other.files))),
                          tuple(errors.values()))


def validate_profile(root: Path) -> list[ConfigError]:
    """Check a profile folder's rule files and templates; return every problem found."""
    return list(check_profile(root).errors)


def check_profile(root: Path) -> Validation:
    """Check a profile folder: extraction.toml, triage.toml and every template."""
    errors = _attempt(load_extraction_rules, root / EXTRACTION_FILE)
    triage, triage_errors = _triage(root / TRIAGE_FILE)
    errors += triage_errors + _templates(root, triage)
    return Validation(tuple(profile_files(root)), tuple(errors))


def check_path(path: Path) -> Validation:
    """Check a profile folder, a folder of profiles, or one rule or template file."""
    if path.is_dir():
        return _check_folder(path)
    if not path.is_file():
        return Validation((), (ConfigError("no such file or folder", path=str(path)),))
    if path.suffix == ".j2" or path.name == STRINGS_FILE:
        return _check_template_file(path)
    return Validation((path,), tuple(_check_rule_file(path)))


def check_profiles(roots: Iterable[Path]) -> Validation:
    """Check several profile folders (each once)."""
    total = Validation((), ())
    for root in dict.fromkeys(r.resolve() for r in roots):
        total = total.plus(check_profile(root))
    return total


def shipped_profiles(search: Path = PROFILES_DIR) -> list[Path]:
    """Return the profile folders of a folder of profiles (by default the shipped ones)."""
    if not search.is_dir():
        raise ConfigError(f"the folder of profiles {search} does not exist", path=str(search),
                          key="profiles_dir")
    return sorted(p for p in search.iterdir() if is_profile(p))


def is_profile(path: Path) -> bool:
    """Whether a folder looks like a profile (a rule file or a templates folder)."""
    return path.is_dir() and any((path / name).exists()
                                 for name in (EXTRACTION_FILE, TRIAGE_FILE, TEMPLATES_DIR))


# --- the parts -----------------------------------------------------------------------------


def _check_folder(path: Path) -> Validation:
    if is_profile(path):
        return check_profile(path)
    profiles = [p for p in sorted(path.iterdir()) if is_profile(p)]
    if not profiles:
        reason = f"not a profile folder (no {EXTRACTION_FILE}, {TRIAGE_FILE} or {TEMPLATES_DIR}/)"
        return Validation((), (ConfigError(reason, path=str(path)),))
    return check_profiles(profiles)


def _check_rule_file(path: Path) -> list[ConfigError]:
    """A single .toml rule file: extraction or triage, by its name or its tables."""
    if TRIAGE_FILE.split(".")[0] in path.name:
        return _triage(path)[1]
    if EXTRACTION_FILE.split(".")[0] in path.name:
        return _attempt(load_extraction_rules, path)
    try:
        tables = set(read_toml(path))
    except ConfigError as exc:
        return [with_table_key(exc)]
    if tables & _TRIAGE_TABLES:
        return _triage(path)[1]
    return _attempt(load_extraction_rules, path)


def _check_template_file(path: Path) -> Validation:
    """One template or strings file, checked with the rest of its profile's templates."""
    root = next((p.parent for p in path.parents if p.name == TEMPLATES_DIR), None)
    if root is None:
        reason = f"a template must sit in <profile>/{TEMPLATES_DIR}/<language>/"
        return Validation((path,), (ConfigError(reason, path=str(path)),))
    triage, _ = _triage(root / TRIAGE_FILE)
    return Validation((path,), tuple(_templates(root, triage)))


def _triage(path: Path) -> tuple[TriageRules | None, list[ConfigError]]:
    try:
        return load_triage_rules(path), []
    except ConfigError as exc:
        return None, [with_table_key(exc)]


def _attempt(load: Callable[[Path], object], path: Path) -> list[ConfigError]:
    try:
        load(path)
    except ConfigError as exc:
        return [with_table_key(exc)]
    return []


def _templates(root: Path, triage: TriageRules | None) -> list[ConfigError]:
    """Every template's syntax on its own; then the whole set, as start-up loads it."""
    folder = root / TEMPLATES_DIR
    own = [e for path in sorted(folder.rglob("*")) if path.is_file()
           for e in _template_syntax(path)] if folder.is_dir() else []
    if own:
        # The set would only stop again at the first of these.
        return own
    # Without triage rules the vocabulary is unknown: check the rest, not the explanations.
    ids = {i.id for items in triage.checklists.values() for i in items} if triage else set()
    types = set(triage.request_type.types) if triage else set()
    try:
        load_templates(root, checklist_ids=ids, request_types=types)
    except ConfigError as exc:
        return [with_table_key(exc)]
    return []


def _template_syntax(path: Path) -> list[ConfigError]:
    if path.name == STRINGS_FILE:
        return _attempt(read_toml, path)
    if path.suffix != ".j2":
        return []
    try:
        jinja2.Environment(autoescape=False).parse(path.read_text(encoding="utf-8"))  # noqa: S701
    except jinja2.TemplateSyntaxError as exc:
        return [ConfigError(f"template syntax error: {exc.message}", path=str(path),
                            line=exc.lineno)]
    except (OSError, UnicodeDecodeError) as exc:
        return [ConfigError(f"cannot read: {exc}", path=str(path))]
    return []


# --- naming the key of a TOML syntax error ----------------------------------------------------


def with_table_key(error: ConfigError) -> ConfigError:
    """Name the table (and key) at an error's line when the loader could not (TOML syntax)."""
    if error.key or error.line is None or not (error.path or "").endswith(".toml"):
        return error
    key = key_at_line(Path(error.path or ""), error.line)
    if key is None:
        return error
    return ConfigError(error.reason, path=error.path, line=error.line, key=key)


def key_at_line(path: Path, line: int) -> str | None:
    """The dotted key written on a line of a TOML file, or the table it stands in."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    table = next((m.group(1) for text in reversed(lines[:max(line - 1, 0)])
                  if (m := _HEADER.match(text))), None)
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    header = _HEADER.match(here)
    if header:
        return header.group(1)
    assign = _ASSIGN.match(here)
    name = assign.group(1).replace('"', "").replace("'", "") if assign else None
    parts = [p for p in (table, name) if p]
    return ".".join(parts) or None
