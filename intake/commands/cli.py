"""The `derogation-intake` command: one entry point with subcommands for people and cron.

Only the arguments are defined here; each handler is imported when its command runs, so that
`--help`, `cases list` and the other quick commands never load the NLP or PDF libraries.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from types import FrameType
from typing import TypeAlias

from config.errors import ConfigError, DeliveryError, IntakeError, MailboxError, StorageError
from config.settings import Settings, load_settings, mask_url_password
from config.vocabulary import Role, names
from intake.commands import exits

log = logging.getLogger("derogation_intake")

Handler = Callable[[argparse.Namespace, Settings], int]
# A string: argparse's class is not subscriptable at run time; mypy reads the alias.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
PROG = "derogation-intake"


class Terminated(BaseException):
    """SIGTERM arrived while no command had its own handler (models loading, a one-shot run)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    main_pid = os.getpid()
    previous = signal.signal(signal.SIGTERM, lambda n, f: _on_sigterm(main_pid, n, f))
    try:
        code = _run(build_parser().parse_args(argv))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `cases show REF | head`: the reader has what it wanted; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exits.BROKEN_PIPE
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    """Load the settings the command needs, run it, and turn errors into exit statuses."""
    try:
        # Only the commands that talk to the mailboxes or the SMTP relay need their secrets.
        settings = load_settings(args.config, secrets=args.connects)
        # One-shot commands print their own lines; only `run` logs each message at INFO.
        _configure_logging(settings, args.verbose, quiet=args.command_name != "run")
        code: int = args.handler(args, settings)
        return code
    except IntakeError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"{PROG}: {mask_url_password(line)}", file=sys.stderr)
        return exit_status(exc)
    except BrokenPipeError:
        raise  # main() ends quietly
    except OSError as exc:
        # A file or folder named on the command line that cannot be written or read.
        print(f"{PROG}: {_describe_os_error(exc)}", file=sys.stderr)
        return exits.FAILED
    except KeyboardInterrupt:
        return exits.INTERRUPTED
    except Terminated:
        print(f"{PROG}: stopped (SIGTERM)", file=sys.stderr)
        return exits.OK


def exit_status(exc: IntakeError) -> int:
    """Return the exit status for an error: 78 settings or rules, 75 a server, else 1."""
    if isinstance(exc, ConfigError):
        return exits.CONFIG
    if isinstance(exc, MailboxError) or (isinstance(exc, DeliveryError) and not exc.permanent):
        return exits.TEMPFAIL
    if isinstance(exc, StorageError) and _unreachable(exc.__cause__):
        return exits.TEMPFAIL
    return exits.FAILED


def _unreachable(cause: BaseException | None) -> bool:
    """Tell whether a database error means the server could not be reached (or hung up)."""
    if cause is None or "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(cause, OperationalError | InterfaceError)


def _describe_os_error(exc: OSError) -> str:
    """Return 'PATH: reason' for a file-system error, as a person would say it."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason


def _on_sigterm(main_pid: int, signum: int, frame: FrameType | None) -> None:
    """Stop the command cleanly; a forked worker still dies as it always did."""
    if os.getpid() != main_pid:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated


class MaskingFormatter(logging.Formatter):
    """A formatter that hides the password of any URL in a log line (user:***@host)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then mask URL passwords in the whole text."""
        return mask_url_password(super().format(record))


def _configure_logging(settings: Settings, verbose: bool, quiet: bool) -> None:
    """Log to stderr at the configured level (DEBUG with --verbose, WARNING when quiet)."""
    level = getattr(logging, settings.general.log_level)
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = max(level, logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    # Log times are UTC and say so (reports show the agency's zone, named beside each time).
    formatter = MaskingFormatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
                                 datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
    # The scheduler's own per-job lines repeat ours; keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))


def version() -> str:
    """Return the installed version of the application."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("derogation-intake")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _Version(argparse.Action):
    """`--version`: print the version, looked up only when asked."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"{PROG} {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Reads the derogation mailbox, files cases and acknowledges requests.",
        epilog="Exit status: 0 done; 1 failed; 2 wrong arguments; 3 a message went to "
               "Needs-attention; 75 a server could not be reached (try again later); "
               "78 settings or rules are wrong. `COMMAND --help` shows a command's options.")
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version")
    parser.add_argument("--config", type=Path, default=None,
                        help="settings file (default: $DEROGATION_INTAKE_CONFIG or the "
                             "embedded default: a local Maildir and SQLite under ./var)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for register in _REGISTRARS:
        register(sub)
    return parser


def lazy(target: str) -> Handler:
    """Return a handler that imports 'module:function' only when the command runs."""
    module, _, name = target.partition(":")

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        function: Handler = getattr(importlib.import_module(module), name)
        return function(args, settings)

    handler.__name__ = name
    return handler


def command(sub: Commands, name: str, target: str, help_text: str, *,
            connects: bool = False, family: str | None = None) -> argparse.ArgumentParser:
    """Add a (sub)command bound to its handler 'module:function'.

    ``connects`` marks the commands that reach the mailboxes or the SMTP relay: only they
    load those secrets.
    """
    parser = sub.add_parser(name, help=help_text,
                            description=help_text[0].upper() + help_text[1:] + ".")
    parser.set_defaults(handler=lazy(target), command_name=family or name, connects=connects)
    return parser


def group(sub: Commands, name: str, help_text: str) -> Commands:
    """Add a command whose actions are subcommands (`cases list`, `outbox send` ...)."""
    parser = sub.add_parser(name, help=help_text,
                            description=help_text[0].upper() + help_text[1:] + ".")
    return parser.add_subparsers(title="actions", metavar="ACTION", required=True)


OPERATE = "intake.commands.operate"
ADMIN = "intake.commands.admin"
CASES = "intake.commands.cases"
OUTBOX = "intake.commands.outbox"
REVIEW = "intake.commands.review"
WEB = "intake.commands.web"
RULES_FILES = "intake.commands.rules_files"


def _register_run(sub: Commands) -> None:
    """run, poll, demo."""
    command(sub, "run", f"{OPERATE}:cmd_run",
            "poll every mailbox on its schedule and send acknowledgements until stopped",
            connects=True)
    poll = command(sub, "poll", f"{OPERATE}:cmd_poll",
                   "run one intake cycle of every mailbox, send what is due, and exit "
                   "(for cron; `run` keeps polling)", connects=True)
    poll.add_argument("--once", action="store_true",
                      help="the same as without it: poll always runs one cycle")
    poll.add_argument("--mailbox", help="only this mailbox")
    poll.add_argument("--no-send", action="store_true",
                      help="file and queue acknowledgements but do not send them")
    demo = command(sub, "demo", f"{OPERATE}:cmd_demo",
                   "seed the local Maildir with the sample messages and run one cycle",
                   connects=True)
    demo.add_argument("--samples", type=Path, default=None, help="folder of .eml files")


def _register_admin(sub: Commands) -> None:
    """db, config, triage."""
    db = group(sub, "db", "database maintenance")
    command(db, "upgrade", f"{ADMIN}:cmd_db_upgrade", "apply the database migrations",
            family="db")
    config = group(sub, "config", "check the settings")
    command(config, "check", f"{ADMIN}:cmd_config_check",
            "validate the settings, the secrets they name and every mailbox's profile; "
            "print them resolved, secrets masked, or every problem with its file, line and key",
            connects=True, family="config")
    triage = command(sub, "triage", f"{ADMIN}:cmd_triage",
                     "parse and triage files without touching the database or any server")
    triage.add_argument("files", nargs="+", type=Path, help=".eml, .msg, .pdf or .docx files")
    triage.add_argument("--json", action="store_true", help="one JSON object per message")
    triage.add_argument("--profile", default=None,
                        help="profile name or folder (default: the first mailbox's)")


def _register_outbox(sub: Commands) -> None:
    """outbox list|send|release|cancel."""
    outbox = group(sub, "outbox", "the acknowledgements waiting to leave")
    command(outbox, "list", f"{OUTBOX}:cmd_outbox_list",
            "one line per acknowledgement: state, attempts, next attempt, last error",
            family="outbox")
    send = command(outbox, "send", f"{OUTBOX}:cmd_outbox_send",
                   "send the acknowledgements that are due, then say what still waits and "
                   "until when", connects=True, family="outbox")
    send.add_argument("--now", action="store_true",
                      help="also send those waiting for a retry (after a relay outage), "
                           "without waiting for their back-off")
    release = command(outbox, "release", f"{OUTBOX}:cmd_outbox_release",
                      "let held, failed or uncertain acknowledgements go at the next "
                      "`outbox send`", family="outbox")
    release.add_argument("ids", nargs="*", type=int, metavar="ID", help="outbox ids")
    release.add_argument("--held", action="store_true", help="every held one")
    release.add_argument("--note", default="", help="why (recorded on the case)")
    cancel = command(outbox, "cancel", f"{OUTBOX}:cmd_outbox_cancel",
                     "decide that acknowledgements will never be sent", family="outbox")
    cancel.add_argument("ids", nargs="+", type=int, metavar="ID", help="outbox ids")
    cancel.add_argument("--note", required=True, help="why (recorded on the case)")


def _register_cases(sub: Commands) -> None:
    """cases list|show|export|set|status."""
    cases = group(sub, "cases", "look at the filed cases, correct a field, record a decision")
    listing = command(cases, "list", f"{CASES}:cmd_cases_list", "one line per case",
                      family="cases")
    listing.add_argument("--status", help="only cases in this status")
    show = command(cases, "show", f"{CASES}:cmd_cases_show",
                   "a readable summary of one case: checklist, fields and their sources, "
                   "documents, thread, acknowledgements", family="cases")
    show.add_argument("ref", metavar="REF", help="case reference")
    export = command(cases, "export", f"{CASES}:cmd_cases_export",
                     "every case with its fields, documents, checklist and messages",
                     family="cases")
    export.add_argument("--format", choices=["json", "csv"], default="json",
                        help="json (default) or csv")
    export.add_argument("--output", type=Path, help="write to this file (default: stdout)")
    correct = command(cases, "set", f"{REVIEW}:cmd_cases_set",
                      "record a reviewer's value for a field (kept beside the extracted one)",
                      family="cases")
    correct.add_argument("ref", metavar="REF", help="case reference")
    correct.add_argument("field", metavar="FIELD", help="canonical field name")
    correct.add_argument("value", metavar="VALUE", help="the reviewer's value")
    correct.add_argument("--actor", help="who decides (default: the login name)")
    decide = command(cases, "status", f"{REVIEW}:cmd_cases_status",
                     "record a decision on a case", family="cases")
    decide.add_argument("ref", metavar="REF", help="case reference")
    decide.add_argument("status", metavar="STATUS",
                        help="granted, refused, withdrawn, closed (or back to incomplete, "
                             "complete)")
    decide.add_argument("--note", required=True, help="the reason, for the record")
    decide.add_argument("--actor", help="who decides (default: the login name)")
    merge = command(cases, "merge", f"{REVIEW}:cmd_cases_merge",
                    "move every message of OTHER into REF (a follow-up filed apart, a sender "
                    "not yet on the case) and re-check REF", family="cases")
    merge.add_argument("ref", metavar="REF", help="the case that stays")
    merge.add_argument("other", metavar="OTHER", help="the case merged into it")
    merge.add_argument("--actor", help="who decides (default: the login name)")


def _register_reports(sub: Commands) -> None:
    """report case|digest."""
    report = group(sub, "report", "write a case page or the reviewers' digest")
    case = command(report, "case", f"{REVIEW}:cmd_report",
                   "write one case's page (self-contained HTML)", family="report")
    case.set_defaults(what="case", output_dir=None, text=False)
    case.add_argument("ref", metavar="REF", help="case reference")
    case.add_argument("--output", type=Path, default=None,
                      help="a file, a folder, or '-' for stdout (default: "
                           "reports.output_dir/REF.html)")
    digest = command(report, "digest", f"{REVIEW}:cmd_report",
                     "write the queue of open cases", family="report")
    digest.set_defaults(what="digest", ref=None, output=None)
    digest.add_argument("--output-dir", type=Path, default=None,
                        help="folder of digest-YYYY-MM-DD.html (default: reports.output_dir)")
    digest.add_argument("--text", action="store_true",
                        help="print the plain-text digest instead of writing HTML")


def _register_rules(sub: Commands) -> None:
    """rules validate|test|eval|init|show."""
    rules = group(sub, "rules", "check, try and measure the rule files and templates")
    validate = command(rules, "validate", "intake.commands.rules:cmd_rules_validate",
                       "check rule files and templates; every problem as path:line: key: "
                       "reason", family="rules")
    validate.add_argument("path", nargs="?", type=Path, default=None,
                          help="a profile folder or one rule or template file (default: every "
                               "shipped profile and every mailbox's)")
    test = command(rules, "test", "intake.commands.rules_probe:cmd_rules_test",
                   "show which rules find what in real files, and the near misses",
                   family="rules")
    test.add_argument("files", nargs="+", type=Path, help=".eml, .msg, .pdf or .docx files")
    test.add_argument("--profile", default=None, help=PROFILE_HELP)
    evaluate = command(rules, "eval", "intake.commands.rules_eval:cmd_rules_eval",
                       "measure the rules against labelled files", family="rules")
    evaluate.add_argument("directory", nargs="?", type=Path, default=None,
                          help="files with <name>.expected.json beside each")
    evaluate.add_argument("--profile", default=None, help=PROFILE_HELP)
    evaluate.add_argument("--baseline", type=Path, default=None,
                          help="compare with this saved run; exit 1 if any file got worse")
    evaluate.add_argument("--save-baseline", type=Path, default=None,
                          help="write this run's per-file results to this file")
    evaluate.add_argument("--from-corrections", action="store_true",
                          help="measure extraction against reviewers' corrections in the database")
    init = command(rules, "init", f"{RULES_FILES}:cmd_rules_init",
                   "copy the shipped profiles to DIR, to keep and tune there "
                   "(general.profiles_dir then names DIR); existing files are never overwritten",
                   family="rules")
    init.add_argument("directory", type=Path, metavar="DIR", help="the folder to copy to")
    init.add_argument("--profile", default=None,
                      help="only this profile (and those its rule files include)")
    show = command(rules, "show", f"{RULES_FILES}:cmd_rules_show",
                   "print the rule files a rules version (recorded on cases and messages) "
                   "stood for", family="rules")
    show.add_argument("version", metavar="VERSION", help="the version hash, or a unique prefix")
    show.add_argument("--file", default=None, metavar="NAME",
                      help="only this file (e.g. extraction.toml or famhp/triage.toml)")


PROFILE_HELP = ("profile name (famhp) or profile folder (the folder holding extraction.toml, "
                "for a copy being tuned); default: the first mailbox's")


def _register_reprocess(sub: Commands) -> None:
    """reprocess."""
    reprocess = command(sub, "reprocess", "intake.commands.reprocess:cmd_reprocess",
                        "apply the current rules to cases already filed")
    which = reprocess.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", dest="cases", action="append", metavar="REF",
                       help="this case (repeat for more)")
    which.add_argument("--since", type=iso_date, metavar="DATE",
                       help="cases with mail filed since this date (YYYY-MM-DD)")
    which.add_argument("--all", action="store_true", help="every case")
    reprocess.add_argument("--dry-run", action="store_true",
                           help="show what would change; write nothing")
    reprocess.add_argument("--acknowledge", action="store_true",
                           help="queue a follow-up acknowledgement for a changed open case "
                                "whose missing items changed (default: none)")
    reprocess.add_argument("--verbose", dest="show_unchanged", action="store_true",
                           help="list the unchanged cases too")
    reprocess.add_argument("--profile", default=None, metavar="NAME|DIR",
                           help="a profile folder (as for `rules test`) whose rules replace the "
                                "shipped profile of the same name, to try a change on a copy")


def _register_web(sub: Commands) -> None:
    """serve, users add|list|disable|token."""
    serve = command(sub, "serve", f"{WEB}:cmd_serve", "serve the reviewers' workspace (web)")
    serve.add_argument("--host", help="listen on this address (default: web.host)")
    serve.add_argument("--port", type=int, help="listen on this port (default: web.port)")
    users = group(sub, "users", "accounts of the reviewers' workspace")
    add = command(users, "add", f"{WEB}:cmd_users", "add an account (password from a prompt)",
                  family="users")
    add.add_argument("name", help="account name")
    add.add_argument("--role", choices=names(Role),
                     default="reviewer", help="what the account may do (default reviewer)")
    add.add_argument("--password-file", type=Path,
                     help="read the password from this file instead of a prompt")
    command(users, "list", f"{WEB}:cmd_users", "one line per account", family="users")
    for action, text in (("disable", "disable an account and end its sessions and tokens"),
                         ("token", "issue an API token for an account (printed once)")):
        one = command(users, action, f"{WEB}:cmd_users", text, family="users")
        one.add_argument("name", help="account name")
    for name, parser in users.choices.items():
        parser.set_defaults(action=name)


def iso_date(text: str) -> date:
    """Parse a date argument (an ISO date such as 2026-03-01)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


_REGISTRARS = (_register_run, _register_admin, _register_cases, _register_outbox,
               _register_reports, _register_rules, _register_reprocess, _register_web)


if __name__ == "__main__":
    raise SystemExit(main())
