"""`derogation-intake rules validate|test|eval`: tools for administrators who tune the rules.

validate checks rule files and templates and names every problem with its file, line and key;
test shows, for real files, which rule found each value, which rules missed and what nearly
matched; eval measures the rules against labelled files and compares with a baseline.

This module holds validate; test is in ``intake.commands.rules_probe``, eval in
``intake.commands.rules_eval``, init and show in ``intake.commands.rules_files`` (the
arguments of all five are in ``intake.commands.cli``).
"""

from __future__ import annotations

import argparse

from config.errors import ConfigError
from config.profile_folders import profile_root
from config.settings import Settings
from config.validate import Validation, check_path, check_profiles, shipped_profiles

__all__ = ["cmd_rules_validate"]


# --- rules validate ------------------------------------------------------------------------


def cmd_rules_validate(args: argparse.Namespace, settings: Settings) -> int:
    """Check rule files and templates; print each problem as path:line: key: reason."""
    result = check_path(args.path) if args.path else _default_validation(settings)
    for error in result.errors:
        print(error.describe())
    if result.errors:
        broken = len({e.path for e in result.errors})
        print(f"FAILED: {len(result.errors)} problem(s) in {broken} file(s); "
              f"{len(result.files)} files checked")
        return 1
    print(f"OK: {len(result.files)} files")
    return 0


def _default_validation(settings: Settings) -> Validation:
    """Every profile of general.profiles_dir and every profile a mailbox names."""
    folder = settings.general.profiles_dir
    roots, errors = list(shipped_profiles(folder)), []
    for mailbox in settings.mailboxes:
        try:
            roots.append(profile_root(mailbox.profile, folder))
        except ConfigError as exc:
            errors.append(exc)
    checked = check_profiles(roots)
    return Validation(checked.files, (*errors, *checked.errors))

