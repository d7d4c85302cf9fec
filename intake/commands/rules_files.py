"""`derogation-intake rules init|show`: the administrators' own rule files, and old versions.

init copies the shipped profiles to a folder of the administrators' (under /etc, in a git
repository of theirs) that general.profiles_dir then names: an upgrade of the application
leaves it alone. show prints the rule files of a rules version a case was filed with, as
they were kept in the database when that version first filed a message.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from config.errors import IntakeError
from config.profile_folders import PROFILES_DIR, profile_root
from config.profiles import load_profile_from
from config.settings import Settings
from config.validate import shipped_profiles
from intake.runtime import database_url
from storage.db import Database, make_safe, upgrade
from storage.models import RuleVersion
from storage.rule_versions import rule_versions_starting

__all__ = ["cmd_rules_init", "cmd_rules_show"]

_HEX = re.compile(r"[0-9a-f]+")


# --- rules init ----------------------------------------------------------------------------


def cmd_rules_init(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the shipped profiles to DIR, refusing to overwrite; say what to set next."""
    target: Path = args.directory.expanduser().absolute()
    try:
        names = profiles_to_copy(args.profile)
    except IntakeError as exc:
        print(f"rules init: {exc}", file=sys.stderr)
        return 1
    copies = {source: target / source.relative_to(PROFILES_DIR)
              for name in names for source in _files(PROFILES_DIR / name)}
    existing = sorted(str(p.relative_to(target)) for p in copies.values() if p.exists())
    if existing:
        shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
        print(f"rules init: nothing copied: {len(existing)} file(s) exist already in "
              f"{target}: {shown}", file=sys.stderr)
        return 1
    for source, copy in copies.items():
        copy.parent.mkdir(parents=True, exist_ok=True)
        # copyfile, not copy2: an installed package's files may be read-only.
        shutil.copyfile(source, copy)
    print(f"copied {', '.join(names)} ({len(copies)} files) to {target}")
    print(f"Next: name the folder in the settings file ({settings.config_path}):\n"
          f"  [general]\n  profiles_dir = \"{target}\"\n"
          f"(or DEROGATION_INTAKE_GENERAL__PROFILES_DIR={target}), check it with "
          f"`derogation-intake rules validate`, then restart `run`.")
    return 0


def profiles_to_copy(name: str | None) -> list[str]:
    """Every shipped profile, or one and the shipped profiles its rule files include."""
    if name is None:
        return [p.name for p in shipped_profiles(PROFILES_DIR)]
    profile = load_profile_from(profile_root(name, PROFILES_DIR))
    included = [Path(p).parent.name for p in profile.extraction.paths[1:]
                if Path(p).parent.parent == PROFILES_DIR]
    return list(dict.fromkeys([name, *included]))


def _files(root: Path) -> list[Path]:
    """Every file of a profile folder (rule files, templates, notes beside them)."""
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


# --- rules show ----------------------------------------------------------------------------


def cmd_rules_show(args: argparse.Namespace, settings: Settings) -> int:
    """Print the kept rule files of a version (exit 1 for an unknown or ambiguous one)."""
    prefix = args.version.strip().lower()
    if not _HEX.fullmatch(prefix):
        print(f"rules show: {args.version!r} is not a rules version (hexadecimal, as cases "
              f"show it)", file=sys.stderr)
        return 1
    url = database_url(settings)
    try:
        upgrade(url)
        found = _versions(url, prefix)
    except IntakeError as exc:
        print(f"rules show: cannot read the database {make_safe(url)}: {exc}", file=sys.stderr)
        return 1
    if len(found) != 1:
        print(_not_one(prefix, found), file=sys.stderr)
        return 1
    return _print_version(found[0], args.file)


def _versions(url: str, prefix: str) -> list[RuleVersion]:
    database = Database.open(url)
    try:
        with database.session() as s:
            return rule_versions_starting(s, prefix)
    finally:
        database.dispose()


def _not_one(prefix: str, found: list[RuleVersion]) -> str:
    if not found:
        return (f"rules show: no rules version {prefix} is kept in this database (versions "
                f"are kept from the first message they filed)")
    listed = ", ".join(f"{v.version} ({v.profile})" for v in found)
    return f"rules show: {prefix} is the start of several versions: {listed}"


def _print_version(version: RuleVersion, wanted: str | None) -> int:
    files: dict[str, str] = version.files
    names = sorted(files)
    if wanted is not None:
        names = [n for n in names if n == wanted or n.endswith("/" + wanted)]
        if len(names) != 1:
            what = "several files" if names else "no file"
            print(f"rules show: {what} named {wanted} in version {version.version} "
                  f"(files: {', '.join(sorted(files))})", file=sys.stderr)
            return 1
        sys.stdout.write(files[names[0]])
        return 0
    print(f"rules version {version.version} of profile {version.profile}, first used "
          f"{version.created_at:%Y-%m-%d %H:%M} UTC, {len(files)} files")
    for name in names:
        print(f"\n==> {name} <==")
        sys.stdout.write(files[name] if files[name].endswith("\n") else files[name] + "\n")
    return 0
