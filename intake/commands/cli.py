"""The `derogation-intake` command: one entry point with subcommands for people and cron."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from config.errors import IntakeError
from config.settings import Settings, load_settings
from intake.commands.web import register_web

log = logging.getLogger("derogation_intake")

Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config)
        # One-shot commands print their own lines; only `run` logs each message at INFO.
        quiet = getattr(args, "command_name", "") != "run"
        _configure_logging(settings, args.verbose, quiet)
        code: int = args.handler(args, settings)
        return code
    except IntakeError as exc:
        print(f"derogation-intake: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _configure_logging(settings: Settings, verbose: bool, quiet: bool) -> None:
    """Log to stderr at the configured level (DEBUG with --verbose, WARNING when quiet)."""
    level = getattr(logging, settings.general.log_level)
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = max(level, logging.WARNING)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The scheduler's own per-job lines repeat ours; keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="derogation-intake",
        description="Reads the derogation mailbox, files cases and acknowledges requests.")
    parser.add_argument("--config", type=Path, default=None,
                        help="settings file (default: $DEROGATION_INTAKE_CONFIG or the "
                             "embedded default: a local Maildir and SQLite under ./var)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in _REGISTRARS:
        register(sub)
    return parser


def _add(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, handler: Handler,
         help_text: str) -> argparse.ArgumentParser:
    """Add a subcommand bound to its handler."""
    command = sub.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=handler, command_name=name)
    return command


def _register_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """run, poll, demo."""
    from intake.commands import operate

    _add(sub, "run", operate.cmd_run, "poll every mailbox on its schedule until stopped")
    poll = _add(sub, "poll", operate.cmd_poll, "run one intake cycle")
    poll.add_argument("--once", action="store_true", required=True,
                      help="run one cycle and exit (for cron and tests)")
    poll.add_argument("--mailbox", help="only this mailbox")
    poll.add_argument("--no-send", action="store_true",
                      help="file and queue acknowledgements but do not send them")
    demo = _add(sub, "demo", operate.cmd_demo,
                "seed the local Maildir with sample requests and run one cycle")
    demo.add_argument("--samples", type=Path, default=None, help="folder of .eml files")


def _register_admin(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """db, config, triage, outbox."""
    from intake.commands import operate

    db = _add(sub, "db", operate.cmd_db, "database maintenance")
    db.add_argument("action", choices=["upgrade"], help="upgrade: apply migrations")
    config = _add(sub, "config", operate.cmd_config, "show or check the settings")
    config.add_argument("action", choices=["check"],
                        help="check: validate and print the resolved settings, secrets masked")
    triage = _add(sub, "triage", operate.cmd_triage,
                  "parse and triage files without touching the database or any server")
    triage.add_argument("files", nargs="+", type=Path, help=".eml, .msg, .pdf or .docx files")
    triage.add_argument("--json", action="store_true", help="one JSON object per message")
    triage.add_argument("--profile", default=None,
                        help="authority profile (default: the first mailbox's)")
    outbox = _add(sub, "outbox", operate.cmd_outbox, "the acknowledgements waiting to leave")
    outbox.add_argument("action", choices=["list", "send", "release", "cancel"],
                        help="list: pending, held, sent, failed; send: one delivery pass; "
                             "release: let held, failed or uncertain ones go; cancel: never send")
    outbox.add_argument("ids", nargs="*", type=int, help="outbox ids (release, cancel)")
    outbox.add_argument("--held", action="store_true", help="release: every held one")
    outbox.add_argument("--note", default="", help="why (recorded on the case)")


def _register_cases(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """cases list|show|export."""
    from intake.commands import operate
    from intake.commands.review import add_review_arguments

    cases = _add(sub, "cases", operate.cmd_cases,
                 "look at the filed cases, correct a field, record a decision")
    cases.add_argument("action", choices=["list", "show", "export", "set", "status"])
    cases.add_argument("ref", nargs="?", help="case reference (show, set, status)")
    add_review_arguments(cases)
    cases.add_argument("--format", choices=["json", "csv"], default="json",
                       help="export format (default json)")
    cases.add_argument("--status", help="only cases in this status (for list)")
    cases.add_argument("--output", type=Path, help="write the export to this file")


def _register_rules(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """rules validate|test|eval."""
    from intake.commands.rules import register_rules

    register_rules(sub)


def _register_reports(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """report case|digest."""
    from intake.commands.review import register_report

    register_report(sub)


def _register_reprocess(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """reprocess."""
    from intake.commands.reprocess import register_reprocess

    register_reprocess(sub)


_REGISTRARS = (_register_run, _register_admin, _register_cases, _register_rules,
               _register_reports, _register_reprocess, register_web)


if __name__ == "__main__":
    raise SystemExit(main())
