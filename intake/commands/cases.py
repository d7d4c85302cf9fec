"""`cases list|show|export`: the filed cases as a table, one case as text, or all as JSON/CSV.

These commands only read the database: they open it alone (no worker pool, no rules, no
mailbox or SMTP secret).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from config.settings import Settings
from config.vocabulary import CaseStatus, names
from intake.commands import exits
from intake.runtime import open_database


def cmd_cases_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print one line per case, optionally only those in one status."""
    if args.status is not None and args.status not in names(CaseStatus):
        print(f"derogation-intake: unknown status {args.status!r} "
              f"(known: {', '.join(names(CaseStatus))})", file=sys.stderr)
        return exits.USAGE
    database = open_database(settings)
    try:
        with database.session() as s:
            rows = case_rows(s, args.status)
    finally:
        database.dispose()
    if not rows:
        print(f"no cases in status {args.status}" if args.status else "no cases on file")
    print_case_table(rows)
    return exits.OK


def cmd_cases_show(args: argparse.Namespace, settings: Settings) -> int:
    """Print a readable summary of one case."""
    from intake.commands.casetext import case_to_text
    from storage.cases import case_by_ref

    database = open_database(settings)
    try:
        with database.session() as s:
            case = case_by_ref(s, args.ref)
            text = case_to_text(s, case) if case is not None else None
    finally:
        database.dispose()
    if text is None:
        print(f"derogation-intake: no case {args.ref!r}", file=sys.stderr)
        return exits.FAILED
    print(text)
    return exits.OK


def cmd_cases_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write every case as JSON or CSV to a file or stdout."""
    from storage.cases import list_cases
    from storage.export import case_to_dict

    database = open_database(settings)
    try:
        with database.session() as s:
            cases = [case_to_dict(s, c) for c in list_cases(s)]
    finally:
        database.dispose()
    text = json.dumps(cases, indent=2, ensure_ascii=False) if args.format == "json" \
        else cases_to_csv(cases)
    output: Path | None = args.output
    if output:
        output.write_text(text, encoding="utf-8")
        print(f"{len(cases)} cases written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
    return exits.OK


def case_rows(s: Session, status: str | None = None) -> list[dict[str, Any]]:
    """Return a summary dict per case, oldest first."""
    from storage.cases import case_missing, list_cases

    return [{"ref": c.ref, "status": c.status, "request_type": c.request_type or "-",
             "regulation": c.regulation or "-", "language": c.language or "-",
             "urgent": "yes" if c.urgent else "",
             "missing": ", ".join(case_missing(s, c)) or "-", "subject": c.subject}
            for c in list_cases(s, status=status)]


def print_case_table(rows: list[dict[str, Any]]) -> None:
    """Print the cases as an aligned table (nothing when there are none)."""
    if not rows:
        return
    columns = ["ref", "status", "request_type", "regulation", "language", "urgent",
               "missing", "subject"]
    print_table(columns, [[str(r[c]) for c in columns] for r in rows])


def print_table(columns: list[str], rows: Iterable[list[str]],
                notes: Sequence[str] = ()) -> None:
    """Print rows under a header, each column as wide as its widest cell (capped).

    A note, when given for a row, is printed whole on an indented line below it.
    """
    rows = [[cell.replace("\n", " ")[:70] for cell in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    print("  ".join(cell.ljust(w) for cell, w in zip(columns, widths, strict=True)).rstrip())
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index < len(notes) and notes[index]:
            print(f"    {notes[index]}")


CSV_FIELDS = ("applicant_name", "applicant_role", "device_name", "device_model", "risk_class",
              "manufacturer_name", "hospital_name", "patient_reference", "intended_use_date",
              "quantity")


def cases_to_csv(cases: list[dict[str, Any]]) -> str:
    """Flatten the cases to one CSV row each (fields as columns, lists joined)."""
    from storage.export import csv_cell

    buffer = io.StringIO()
    header = ["ref", "status", "authority", "request_type", "regulation", "language", "urgent",
              "complete", "missing", "documents", "messages", "created_at", *CSV_FIELDS]
    writer = csv.writer(buffer)
    writer.writerow(header)
    for case in cases:
        fields = case.get("fields", {})
        # Every value comes from a sender: none may run as a formula in a spreadsheet.
        writer.writerow(csv_cell(v) for v in [
            case["ref"], case["status"], case.get("authority"), case.get("request_type"),
            case.get("regulation"), case.get("language"), case.get("urgent"),
            case.get("complete"), " ".join(case.get("missing", [])),
            " ".join(d["filename"] for d in case.get("documents", [])),
            len(case.get("messages", [])), case.get("created_at"),
            *[(fields.get(k) or {}).get("value", "") for k in CSV_FIELDS]])
    return buffer.getvalue()
