"""Acknowledgement templates of an authority profile: loaded, validated, rendered.

Templates are data that administrators edit, so everything that can go wrong with them is
found when they are loaded (start-up), not when an applicant is waiting for a reply, and is
reported as a ConfigError naming the file and the line.

Layout: ``<profile>/templates/<lang>/`` holds ``strings.toml`` and, for each template name,
``<name>.txt.j2`` (required in English, the fallback language) and optionally
``<name>.html.j2``. Files whose name starts with ``_`` are partials for ``{% include %}``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import meta

from config.errors import ConfigError
from config.rulefile import check_known_keys, read_toml, require, rule_error
from config.triage_rules_load import load_triage_rules
from config.vocabulary import FALLBACK_LANGUAGE, Language, names

TEMPLATE_NAMES = ("new_complete", "new_incomplete", "follow_up", "enquiry", "unknown_ref")
LANGUAGES = names(Language)  # a folder per language
STRINGS_FILE = "strings.toml"
TEXT_SUFFIX = ".txt.j2"
HTML_SUFFIX = ".html.j2"

_STRINGS_KEYS = ("subject_label", "request_types", "checklist")


@dataclass(frozen=True)
class RenderedText:
    """One acknowledgement rendered in one language."""

    text: str
    html: str | None
    subject_label: str  # the localised "Acknowledgement of receipt"
    language: str  # the language actually used (after falling back to English)


@dataclass(frozen=True)
class Strings:
    """The localised words of one language: subject label, request types, item explanations."""

    subject_label: str
    request_types: Mapping[str, str]
    checklist: Mapping[str, str]

    def as_context(self) -> dict[str, Any]:
        """Return the mapping templates see as ``strings``."""
        return {"subject_label": self.subject_label,
                "request_types": dict(self.request_types),
                "checklist": dict(self.checklist)}


@dataclass(frozen=True)
class _Language:
    """The compiled templates and strings of one language folder."""

    code: str
    folder: Path
    env: jinja2.Environment
    strings: Strings
    names: frozenset[str]  # template file names present, e.g. "follow_up.txt.j2"


@dataclass(frozen=True)
class TemplateSet:
    """Every acknowledgement template of a profile, per language, validated at load."""

    root: Path
    languages: Mapping[str, _Language]

    def render(self, name: str, language: str, context: Mapping[str, Any]) -> RenderedText:
        """Render a template in a language (English when that language lacks it)."""
        if name not in TEMPLATE_NAMES:
            raise ValueError(f"unknown template '{name}' (known: {', '.join(TEMPLATE_NAMES)})")
        lang = self._language_for(name, language)
        full = {**context, "strings": lang.strings.as_context()}
        text = _render_file(lang, name + TEXT_SUFFIX, full)
        html = _render_file(lang, name + HTML_SUFFIX, full) \
            if name + HTML_SUFFIX in lang.names else None
        return RenderedText(text, html, lang.strings.subject_label, lang.code)

    def subject_labels(self) -> frozenset[str]:
        """Return the subject label of every language (to strip them from a reply's subject)."""
        return frozenset(lang.strings.subject_label for lang in self.languages.values())

    def _language_for(self, name: str, language: str) -> _Language:
        # A whole reply falls back, never half of it: mixed languages read as a mistake.
        lang = self.languages.get(language)
        if lang is not None and name + TEXT_SUFFIX in lang.names:
            return lang
        return self.languages[FALLBACK_LANGUAGE]


def load_templates(profile_dir: Path, checklist_ids: Collection[str] | None = None,
                   request_types: Collection[str] | None = None) -> TemplateSet:
    """Load and validate ``<profile_dir>/templates`` against the profile's vocabulary."""
    root = profile_dir / "templates"
    if not root.is_dir():
        raise ConfigError("no templates folder", path=str(root))
    vocabulary = _vocabulary(profile_dir / "triage.toml", checklist_ids, request_types)
    languages = {folder.name: _load_language(folder, vocabulary)
                 for folder in _language_folders(root)}
    _require_fallback(root, languages)
    templates = TemplateSet(root, languages)
    for lang in languages.values():
        _smoke_render(templates, lang)
    return templates


@dataclass(frozen=True)
class _Vocabulary:
    """What every strings file must explain: checklist item ids and request types."""

    checklist_ids: frozenset[str]
    request_types: frozenset[str]


def _vocabulary(triage_path: Path, checklist_ids: Collection[str] | None,
                request_types: Collection[str] | None) -> _Vocabulary:
    # Explicit arguments win; otherwise the profile's triage rules say what triage can
    # produce, so that a reply can never meet an id its language cannot explain.
    if checklist_ids is None or request_types is None:
        rules = load_triage_rules(triage_path) if triage_path.is_file() else None
        if checklist_ids is None:
            checklist_ids = {item.id for items in rules.checklists.values()
                             for item in items} if rules else set()
        if request_types is None:
            request_types = set(rules.request_type.types) if rules else set()
    return _Vocabulary(frozenset(checklist_ids), frozenset(request_types))


def _language_folders(root: Path) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    for folder in folders:
        if folder.name not in LANGUAGES:
            raise ConfigError(f"unknown language folder '{folder.name}' "
                              f"(known: {', '.join(LANGUAGES)})", path=str(folder))
    return folders


def _require_fallback(root: Path, languages: Mapping[str, _Language]) -> None:
    fallback = languages.get(FALLBACK_LANGUAGE)
    if fallback is None:
        raise ConfigError(f"missing the '{FALLBACK_LANGUAGE}' folder (the fallback language)",
                          path=str(root))
    for name in TEMPLATE_NAMES:
        if name + TEXT_SUFFIX not in fallback.names:
            raise ConfigError(f"missing required template {name}{TEXT_SUFFIX}",
                              path=str(fallback.folder / (name + TEXT_SUFFIX)))


def _load_language(folder: Path, vocabulary: _Vocabulary) -> _Language:
    strings = load_strings(folder / STRINGS_FILE, vocabulary.checklist_ids,
                           vocabulary.request_types)
    names = frozenset(_template_files(folder))
    env = _environment(folder)
    # Partials are compiled too: a syntax error in one must stop start-up like any other.
    for path in sorted(folder.glob("*.j2")):
        _compile(env, folder, path.name)
    return _Language(folder.name, folder, env, strings, names)


def _template_files(folder: Path) -> Iterable[str]:
    allowed = {n + s for n in TEMPLATE_NAMES for s in (TEXT_SUFFIX, HTML_SUFFIX)}
    for path in sorted(folder.iterdir()):
        name = path.name
        if name == STRINGS_FILE or (name.startswith("_") and name.endswith(".j2")):
            continue
        if name not in allowed:
            raise ConfigError(f"unexpected file '{name}' (templates are <name>{TEXT_SUFFIX} "
                              f"or <name>{HTML_SUFFIX} with name one of "
                              f"{', '.join(TEMPLATE_NAMES)}; partials start with '_')",
                              path=str(path))
        yield name
    for name in TEMPLATE_NAMES:
        html, text = folder / (name + HTML_SUFFIX), folder / (name + TEXT_SUFFIX)
        if html.exists() and not text.exists():
            # Plain text is what every client can show; HTML is only its alternative.
            raise ConfigError(f"an HTML template needs its plain-text twin {text.name}",
                              path=str(html))


def _environment(folder: Path) -> jinja2.Environment:
    # StrictUndefined: a misspelt variable must fail, never print an empty string to an
    # applicant. Only HTML is escaped; plain text must show "&" and "<" as written.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _compile(env: jinja2.Environment, folder: Path, name: str) -> None:
    path = folder / name
    try:
        source = path.read_text(encoding="utf-8")
        env.get_template(name)
        referenced = meta.find_referenced_templates(env.parse(source))
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"template syntax error: {exc.message}", path=str(path),
                          line=exc.lineno) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=str(path)) from exc
    for target in referenced:
        if target is not None and not (folder / target).is_file():
            raise ConfigError(f"includes '{target}', which does not exist in {folder.name}/",
                              path=str(path), line=_line_of(source, target))


def _line_of(source: str, needle: str) -> int | None:
    for number, line in enumerate(source.splitlines(), start=1):
        if needle in line:
            return number
    return None


def load_strings(path: Path, checklist_ids: Collection[str],
                 request_types: Collection[str] = ()) -> Strings:
    """Read one language's strings.toml; every checklist id and request type needs a text."""
    if not path.is_file():
        raise ConfigError(f"missing {STRINGS_FILE}", path=str(path))
    data = read_toml(path)
    check_known_keys(data, _STRINGS_KEYS, path, "")
    label = require(data, "subject_label", str, path, "")
    types = _string_table(data, "request_types", path)
    checklist = _string_table(data, "checklist", path)
    _require_keys(path, "checklist", checklist, checklist_ids, "no explanation for")
    _require_keys(path, "request_types", types, request_types, "no name for")
    return Strings(label.strip(), types, checklist)


def _require_keys(path: Path, table: str, present: Mapping[str, str], wanted: Collection[str],
                  what: str) -> None:
    missing = sorted(set(wanted) - set(present))
    if missing:
        raise rule_error(path, table, f"{what} {', '.join(missing)}")


def _string_table(data: Mapping[str, Any], name: str, path: Path) -> dict[str, str]:
    table: dict[str, Any] = require(data, name, dict, path, "")
    for key, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise rule_error(path, f"{name}.{key}", "must be a non-empty string")
    return dict(table)


def _render_file(lang: _Language, name: str, context: Mapping[str, Any]) -> str:
    try:
        return lang.env.get_template(name).render(context)
    except jinja2.TemplateError as exc:
        path, line = _template_location(exc.__traceback__, lang.folder / name)
        raise ConfigError(f"template error: {exc}", path=str(path), line=line) from exc


def _template_location(tb: TracebackType | None, default: Path) -> tuple[Path, int | None]:
    # Jinja rewrites tracebacks so that template frames carry the template's file and line;
    # the innermost one is where the error stands (it may be an included partial).
    path, line = default, None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            path, line = Path(filename), tb.tb_lineno
        tb = tb.tb_next
    return path, line


def sample_contexts(strings: Strings) -> list[dict[str, Any]]:
    """Return contexts (the keys replies.reply_context gives) that reach every branch."""
    items = sorted(strings.checklist)
    base: dict[str, Any] = {
        "case_ref": "SAMPLE-0000-000001", "regulation": "MDR", "device_name": "Sample device",
        "documents": ["part1.pdf", "part2.pdf"], "contact_address": "mailbox@example.org",
        "original_subject": "Sample subject", "received_on": date(2025, 1, 31),
        "missing": [], "advisory": [],
    }
    # Every explanation and both statuses, so that every strings entry is rendered once.
    listed = [{"id": i, "status": "missing"} for i in items]
    unclear = [{"id": i, "status": "unclear"} for i in items[:1]]
    full = {**base, "regulation": "IVDR", "missing": listed + unclear,
            "advisory": listed[:1] + unclear}
    bare = {**base, "regulation": None, "device_name": None, "documents": []}
    types = [*sorted(strings.request_types), None]
    return [{**ctx, "request_type": t} for ctx in (base, full, bare) for t in types]


def _smoke_render(templates: TemplateSet, lang: _Language) -> None:
    # Rendering every template with sample contexts finds misspelt variables and missing
    # keys at start-up, with the file and line, instead of when an applicant writes.
    for name in TEMPLATE_NAMES:
        if name + TEXT_SUFFIX not in lang.names:
            continue
        for context in sample_contexts(lang.strings):
            templates.render(name, lang.code, context)
