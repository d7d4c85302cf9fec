"""End to end on real servers: a request whose forms were printed, signed by hand and scanned."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import Case, Document
from tests.intake.e2e import Intake, message
from tests.parsers.scans import FORMS, make_scan

pytestmark = pytest.mark.slow


# OCR costs seconds a page: one database backend is enough to show the filing.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_complete_scanned_request_files_as_complete(intake: Intake) -> None:
    part1 = make_scan(FORMS / "part1_en_flat.pdf", "scan", seed=2)
    part2 = make_scan(FORMS / "part2_en_flat.pdf", "scan", seed=2, signed=True)
    intake.user.append("INBOX", message(
        "Compassionate Use – UZ Leuven – L.M.",
        "Dear FAMHP,\n\nPlease find both parts of the form, scanned.\n",
        sender="katrien.vandenberghe@uzleuven.be", message_id="scanned@uzleuven.be",
        attachments=(("part1-scan.pdf", part1.path.read_bytes(), "application/pdf"),
                     ("part2-scan.pdf", part2.path.read_bytes(), "application/pdf"))))

    result = intake.poll()

    assert result.returncode == 0, result.stderr
    database = intake.database()
    with database.session() as s:
        case = s.scalars(select(Case)).one()
        documents = {d.filename: d for d in s.scalars(select(Document))}
        status, missing = case.status, [i for i in (case.triage or {}).get("missing", [])]
    database.dispose()
    assert status == "complete", missing
    assert documents["part2-scan.pdf"].kind == "form_part2"
    [signature] = documents["part2-scan.pdf"].signatures
    assert signature["signed"] and signature["channel"] == "ocr"
    assert signature["picture"].startswith("data:image/png;base64,")
    [acknowledgement] = intake.smtp.wait_for(1)
    assert b"missing" not in acknowledgement.data.lower()
