"""Reading administrator rule files (TOML) with errors that name the file, line and key."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from config.errors import ConfigError

_TOML_LINE = re.compile(r"at line (\d+)")


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error becomes a ConfigError with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=str(path)) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        line = int(match.group(1)) if match else None
        raise ConfigError(f"not valid TOML: {exc}", path=str(path), line=line) from exc


def locate_key(path: Path, dotted_key: str) -> int | None:
    """Return the 1-based line where the last part of a dotted key is written, if found."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    parts = [p for p in re.split(r"[.\[\]]", dotted_key) if p and not p.isdigit()]
    if not parts:
        return None
    # Prefer a line that assigns the last part; fall back to a table header naming it.
    last = re.escape(parts[-1])
    assign = re.compile(rf'^\s*"?{last}"?\s*=')
    header = re.compile(rf"^\s*\[\[?[^\]]*\b{last}\b")
    start = _table_start(lines, parts[:-1])
    for pattern in (assign, header):
        for number in range(start, len(lines)):
            if pattern.search(lines[number]):
                return number + 1
    return None


def _table_start(lines: list[str], table_parts: list[str]) -> int:
    """Return the index of the first line of the innermost table named by the parts."""
    start = 0
    for part in table_parts:
        pattern = re.compile(rf"^\s*\[\[?[^\]]*\b{re.escape(part)}\b")
        for number in range(start, len(lines)):
            if pattern.search(lines[number]):
                start = number
                break
    return start


def rule_error(path: Path, key: str, reason: str) -> ConfigError:
    """Build a ConfigError for a key of a rule file, with the line where it stands."""
    return ConfigError(reason, path=str(path), line=locate_key(path, key), key=key)


def require(table: Mapping[str, Any], name: str, kind: type | tuple[type, ...],
            path: Path, where: str) -> Any:
    """Return table[name] checked against a type, or raise a ConfigError naming it."""
    key = f"{where}.{name}" if where else name
    if name not in table:
        raise rule_error(path, where or name, f"missing key '{name}'")
    value = table[name]
    if not isinstance(value, kind):
        wanted = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise rule_error(path, key, f"must be {wanted}, not {type(value).__name__}")
    return value


def check_known_keys(table: Mapping[str, Any], allowed: Iterable[str], path: Path,
                     where: str) -> None:
    """Refuse keys a rule table does not know (a typo must not pass silently)."""
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise rule_error(path, key, f"unknown key '{unknown[0]}' "
                                    f"(allowed: {', '.join(sorted(allowed))})")


def content_hash(paths: Iterable[Path]) -> str:
    """Return a short SHA-256 over file names and contents: the version of a rule set."""
    return contents_hash((path, path.read_bytes()) for path in paths)


def contents_hash(contents: Iterable[tuple[Path, bytes]]) -> str:
    """Return the version of a rule set from its files' bytes, read once by the caller."""
    digest = hashlib.sha256()
    for path, data in sorted(contents):
        digest.update(path.name.encode())
        digest.update(data)
    return digest.hexdigest()[:16]


def locate_array_key(path: Path, array: str, index: int, key: str | None) -> int | None:
    """Return the line of ``key`` in the index-th ``[[array]]`` table (or of its header)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    header = re.compile(rf"^\s*\[\[\s*{re.escape(array)}\s*\]\]")
    starts = [n for n, line in enumerate(lines) if header.match(line)]
    if index >= len(starts):
        return None
    start = starts[index]
    if key is None:
        return start + 1
    # "key =" or a dotted "key.sub =" line, before the next table header.
    assign = re.compile(rf'^\s*"?{re.escape(key)}"?\s*[=.]')
    for number in range(start + 1, len(lines)):
        if lines[number].lstrip().startswith("["):
            break
        if assign.match(lines[number]):
            return number + 1
    return start + 1
