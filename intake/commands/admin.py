"""Administrators' one-shot commands: `db upgrade`, `config check` and the `triage` probe.

None of them polls or sends; `config check` resolves every secret to check that it is there.
"""

from __future__ import annotations

import argparse
import json
import sys

from config.errors import ConfigError, IntakeError
from config.profiles import load_profile
from config.settings import Settings, mask_url_password, settings_to_dict
from intake.commands import exits


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the database migrations."""
    from intake.runtime import data_folder, database_url
    from storage.db import upgrade

    data_folder(settings)
    url = database_url(settings)
    upgrade(url)
    print(f"database upgraded: {mask_url_password(url)}")
    return exits.OK


def cmd_config_check(args: argparse.Namespace, settings: Settings) -> int:
    """Print the resolved settings with secrets masked, after checking every profile.

    The settings file itself was checked on loading (every problem reported); here each
    mailbox's profile is checked too, and every broken one is named.
    """
    problems = []
    for mailbox in settings.mailboxes:
        try:
            load_profile(mailbox.profile, settings.general.profiles_dir)
        except ConfigError as exc:
            problems.append(f"mailboxes.{mailbox.name}.profile: {exc}")
    if problems:
        for problem in problems:
            print(f"derogation-intake: {problem}", file=sys.stderr)
        return exits.CONFIG
    print(json.dumps(settings_to_dict(settings, mask_secrets=True), indent=2, default=str))
    print(f"settings OK: {settings.config_path}", file=sys.stderr)
    return exits.OK


def cmd_triage(args: argparse.Namespace, settings: Settings) -> int:
    """Parse and triage files offline; print JSON lines or a readable report."""
    from intake.commands.probe import probe_file
    from intake.commands.rules_probe import resolve_profile

    profile = resolve_profile(args.profile, settings)
    status = exits.OK
    for path in args.files:
        try:
            output = probe_file(path, profile, as_json=args.json)
        except (IntakeError, OSError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = exits.FAILED
            continue
        print(output)
    return status
