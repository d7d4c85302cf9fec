"""CSV export: a value a sender wrote never runs as a formula in the reviewer's spreadsheet."""

from __future__ import annotations

import csv
import io

from storage.export import csv_cell
from tests.intake.e2e import Intake, message


def test_cells_that_would_run_as_formulas_are_prefixed() -> None:
    for evil in ("=1+1", "+CF-200", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(evil) == "'" + evil
    assert csv_cell("CardioFlow = best") == "CardioFlow = best"
    assert csv_cell(3) == 3 and csv_cell(None) is None


def test_an_exported_case_carries_no_formula(intake: Intake) -> None:
    body = ("Dear colleagues,\n\nWe hereby request a national derogation.\n\n"
            'Device name: =HYPERLINK("http://evil.example/x","open")\n'
            "Device model: +CF-200\nManufacturer: @SUM(1+1)\nQuantity: 3\n"
            "Justification: -no alternative device exists.\n")
    intake.user.append("INBOX", message("Derogation request", body,
                                        message_id="csv-1@azgroeninge.be"))
    assert intake.poll().returncode == 0

    exported = intake.run("cases", "export", "--format", "csv")

    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 1
    cells = [v for v in rows[0].values() if v]
    assert not [v for v in cells if v[0] in "=+-@\t\r"], cells
    assert rows[0]["device_name"].startswith("'=HYPERLINK(")
    assert rows[0]["device_model"] == "'+CF-200"
