"""`derogation-intake reprocess`: apply the current rules to cases already filed.

The stored raw messages of each chosen case are read again (parse, extract, triage) with the
rules as they are now, in the order they were filed, and the case's state is decided by
``triage.case.case_state`` as filing decides it; it is compared with the stored one and,
unless --dry-run, recorded in one transaction per case with a "reprocessed" event. Messages
keep the case and the role filing gave them: reprocess re-reads, it does not re-file. Nothing
is deleted: a value the rules no longer find is superseded by an empty one, a reviewer's value
is never touched, and a reviewer's decision (granted, refused, incomplete with a reason ...)
keeps the case's status.

Reading a case and planning its new state is in ``intake.commands.reprocess_plan``; writing the plan
in ``intake.commands.reprocess_apply``; this module holds the command, the choice of cases, the
progress and the summary.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from config.errors import IntakeError
from config.profiles import Profile, load_profile, load_profile_from
from config.settings import Settings
from intake.commands import exits
from intake.commands.reprocess_apply import acknowledge, apply_plan
from intake.commands.reprocess_plan import (
    Change,
    CurrentRules,
    ReadCase,
    ReprocessError,
    case_of,
    plan_case,
    read_case,
    triage_all,
)
from intake.commands.rules_eval import Progress
from intake.runtime import Runtime, open_runtime
from storage.cases import case_by_ref, case_missing, list_cases
from storage.messages import case_messages
from storage.rule_versions import remember_rule_version
from storage.sql import attach

__all__ = ["Options", "cmd_reprocess", "decide_case", "reprocess_case", "reprocess_cases",
           "select_refs", "trial_profile"]


# --- one case, then many --------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the administrator asked for."""

    dry_run: bool = False
    acknowledge: bool = False


@dataclass(frozen=True)
class Outcome:
    """What reprocessing did (or would do) to one case."""

    ref: str
    changes: tuple[Change, ...] = ()
    error: str | None = None
    acknowledgement: str | None = None

    def line(self) -> str:
        """Return the case's line of the report."""
        if self.error is not None:
            return f"{self.ref}: cannot reprocess: {self.error}"
        if not self.changes:
            return f"{self.ref}: unchanged"
        text = "; ".join(c.describe() for c in self.changes)
        return f"{self.ref}: {text}" + (f"; acknowledgement {self.acknowledgement}"
                                        if self.acknowledgement else "")



def decide_case(rt: Runtime, rules: CurrentRules, read: ReadCase, options: Options) -> Outcome:
    """Triage, compare and (unless dry) record one case, in one transaction."""
    with rt.database.session() as s:
        case = case_of(s, read.ref)
        if not options.dry_run:
            case = attach(s, case, lock=True)  # filing into this case waits for our commit
        rows = case_messages(s, case)
        if [r.id for r in rows] != [m.row_id for m in read.stored]:
            raise ReprocessError("a message was filed into the case meanwhile: "
                                 "run reprocess again")
        plan = plan_case(s, case, triage_all(s, rules, rows, read.prepared),
                         rules.profile(case.authority))
        outcome = Outcome(case.ref, tuple(plan.changes))
        if options.dry_run or not plan.changes:
            s.rollback()  # nothing may be written, whatever the session holds
            return outcome
        before = set(case_missing(s, case))
        apply_plan(s, plan)
        remember_rule_version(s, rules.profile(case.authority))
        if not options.acknowledge:
            return outcome
        return replace(outcome, acknowledgement=acknowledge(s, rt, rules, plan, before))


def reprocess_case(rt: Runtime, rules: CurrentRules, ref: str, options: Options) -> Outcome:
    """Read one case's messages again; record what changes unless it is a dry run."""
    try:
        return decide_case(rt, rules, read_case(rt, rules, ref), options)
    except IntakeError as exc:
        return Outcome(ref, error=str(exc))


@dataclass
class Summary:
    """Counts of a run, for its last line."""

    changed: int = 0
    unchanged: int = 0
    failed: int = 0

    def add(self, outcome: Outcome) -> None:
        """Count one case."""
        if outcome.error is not None:
            self.failed += 1
        elif outcome.changes:
            self.changed += 1
        else:
            self.unchanged += 1

    def line(self, dry_run: bool, versions: str) -> str:
        """Return the summary line."""
        total = self.changed + self.unchanged + self.failed
        if dry_run:
            return (f"dry run: {self.changed} of {total} case(s) would change, {self.unchanged} "
                    f"unchanged, {self.failed} failed (rules {versions}); nothing was written")
        return (f"reprocessed {total} case(s): {self.changed} changed, {self.unchanged} "
                f"unchanged, {self.failed} failed (rules {versions})")


def reprocess_cases(rt: Runtime, rules: CurrentRules, refs: Sequence[str], options: Options,
                    *, verbose: bool = False, out: TextIO | None = None,
                    err: TextIO | None = None) -> Summary:
    """Reprocess cases one transaction each; print a line per changed or failed case."""
    out, progress, summary = out or sys.stdout, Progress(len(refs), err or sys.stderr), Summary()
    for number, ref in enumerate(refs, 1):
        progress.step(number, ref)
        outcome = reprocess_case(rt, rules, ref, options)
        summary.add(outcome)
        if outcome.changes or outcome.error is not None or verbose:
            progress.done()  # clear the progress line before a report line
            print(outcome.line(), file=out, flush=True)
    progress.done()
    return summary


def select_refs(s: Session, refs: Sequence[str] | None, since: date | None,
                timezone: str) -> list[str]:
    """The references asked for, the cases with mail filed since a date, or every case."""
    if refs:
        return list(dict.fromkeys(refs))
    cases = list_cases(s)
    if since is None:
        return [c.ref for c in cases]
    # Midnight where the agency is: "since 1 March" means the office's 1 March.
    cutoff = datetime.combine(since, time.min, ZoneInfo(timezone))
    return [c.ref for c in cases if any(m.created_at >= cutoff for m in case_messages(s, c))]


# --- command line ---------------------------------------------------------------------------


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the current rules to filed cases; print what changes (or would) per case."""
    override = trial_profile(args.profile)
    runtime = open_runtime(settings)
    try:
        rules = CurrentRules(runtime.limits, settings.general.profiles_dir, override)
        with runtime.database.session() as s:
            unknown = [r for r in args.cases or () if case_by_ref(s, r) is None]
            refs = select_refs(s, args.cases, args.since, settings.general.timezone)
        if unknown:
            print(f"derogation-intake: no such case: {', '.join(unknown)} (nothing was "
                  f"reprocessed)", file=sys.stderr)
            return exits.FAILED
        options = Options(dry_run=args.dry_run, acknowledge=args.acknowledge)
        summary = reprocess_cases(runtime, rules, refs, options, verbose=args.show_unchanged)
        print(summary.line(options.dry_run, rules.versions()))
    finally:
        runtime.close()
    return exits.FAILED if summary.failed else exits.OK


def trial_profile(name_or_folder: str | None) -> Profile | None:
    """The profile `--profile` names: a folder (a copy being tuned) or a shipped profile.

    It has the meaning `rules test --profile` gives it; its rules replace, for the cases of
    the profile of its name, the rules those cases would otherwise be read with.
    """
    if name_or_folder is None:
        return None
    folder = Path(name_or_folder)
    return load_profile_from(folder) if folder.is_dir() else load_profile(name_or_folder)
