"""`derogation-intake rules validate|test|eval`: tools for administrators who tune the rules.

validate checks rule files and templates and names every problem with its file, line and key;
test shows, for real files, which rule found each value, which rules missed and what nearly
matched; eval measures the rules against labelled files and compares with a baseline.

This module wires the actions and holds validate; test is in ``intake.commands.rules_probe``,
eval in ``intake.commands.rules_eval``, init and show in ``intake.commands.rules_files``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from config.errors import ConfigError
from config.profiles import profile_root
from config.settings import Settings
from config.validate import Validation, check_path, check_profiles, shipped_profiles
from intake.commands.rules_eval import cmd_rules_eval
from intake.commands.rules_files import register_rules_files
from intake.commands.rules_probe import cmd_rules_test

__all__ = ["cmd_rules_validate", "register_rules"]


# --- wiring --------------------------------------------------------------------------------


def register_rules(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `rules validate|test|eval` to the command line's subcommands."""
    rules = sub.add_parser("rules", help="check, try and measure the rule files",
                           description="Check, try and measure the rule files and templates.")
    actions = rules.add_subparsers(title="actions", metavar="ACTION", required=True)
    validate = actions.add_parser("validate", help="check rule files and templates")
    validate.add_argument("path", nargs="?", type=Path, default=None,
                          help="a profile folder or one rule or template file (default: every "
                               "profile of general.profiles_dir and every mailbox's)")
    validate.set_defaults(handler=cmd_rules_validate, command_name="rules")
    test = actions.add_parser("test", help="show which rules find what in real files")
    test.add_argument("files", nargs="+", type=Path, help=".eml, .msg, .pdf or .docx files")
    test.add_argument("--profile", default=None,
                      help="profile name (in general.profiles_dir) or folder")
    test.set_defaults(handler=cmd_rules_test, command_name="rules")
    evaluate = actions.add_parser("eval", help="measure the rules against labelled files")
    evaluate.add_argument("directory", nargs="?", type=Path, default=None,
                          help="files with <name>.expected.json beside each")
    evaluate.add_argument("--profile", default=None,
                          help="profile name (in general.profiles_dir) or folder")
    evaluate.add_argument("--baseline", type=Path, default=None,
                          help="compare with this saved run; exit 1 if any file got worse")
    evaluate.add_argument("--save-baseline", type=Path, default=None,
                          help="write this run's per-file results to this file")
    evaluate.add_argument("--from-corrections", action="store_true",
                          help="measure extraction against reviewers' corrections in the database")
    evaluate.set_defaults(handler=cmd_rules_eval, command_name="rules")
    register_rules_files(actions)  # init, show


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

