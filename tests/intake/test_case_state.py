"""One case state on real servers: export, report and `rules eval` agree; decisions stick.

A request and two follow-ups (the labelled chain whose Part 2 first comes unsigned, then
signed) are filed through IMAP, one poll each. After each poll the case as `cases export`
writes it becomes the label of the message just filed; `rules eval` over the three messages
must then find every field and `missing` exactly as filing stored them, at every step.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.cases import case_by_ref
from storage.reports import case_report_data
from tests.intake.e2e import Intake, labelled

CHAIN = ("cu_en_missing_part2_bare", "fu_en_unsigned_part2", "fu_en_signed_part2_completes")
CITED = b"DRG-2026-000134"  # the reference the follow-ups cite; replaced by the one filed
COMPLETE = "cu_en_urgent_complete"
ATTRIBUTES = ("request_type", "regulation", "language", "missing", "complete", "urgent")


def exported(intake: Intake) -> list[dict[str, Any]]:
    """The cases as `cases export --format json` writes them."""
    result = intake.run("cases", "export", "--format", "json")
    assert result.returncode == 0, result.stderr
    cases: list[dict[str, Any]] = json.loads(result.stdout)
    return cases


def label_of(case: dict[str, Any], name: str, ref: str, position: int) -> dict[str, Any]:
    """A label saying: the case after this message is what the export shows."""
    fields = {k: f["value"] for k, f in case["fields"].items() if f["value"].strip()}
    label: dict[str, Any] = {"fields": fields, **{a: case[a] for a in ATTRIBUTES}}
    if position:
        label |= {"follows": CHAIN[position - 1], "case_ref": ref}
    return label


def test_export_report_and_rules_eval_agree_on_a_three_message_case(
        intake: Intake, tmp_path: Path) -> None:
    labelled_dir = tmp_path / "labelled"
    labelled_dir.mkdir()
    ref = ""
    for position, name in enumerate(CHAIN):
        data = labelled(name).replace(CITED, ref.encode()) if ref else labelled(name)
        intake.user.append("INBOX", data)
        result = intake.poll()
        assert result.returncode == 0, result.stderr
        (case,) = exported(intake)
        ref = case["ref"]
        (labelled_dir / f"{name}.eml").write_bytes(data)
        (labelled_dir / f"{name}.expected.json").write_text(
            json.dumps(label_of(case, name, ref, position)), encoding="utf-8")

    # The case as filed: three messages, what the signed Part 2 brought, nothing missing.
    assert [m["role"] for m in case["messages"]] == ["request", "follow_up", "follow_up"]
    assert (case["status"], case["missing"], case["complete"]) == ("complete", [], True)
    assert case["fields"]["device_name"]["value"]

    # The report shows what the export shows.
    database = intake.database()
    with database.session() as s:
        stored = case_by_ref(s, ref)
        assert stored is not None
        report = case_report_data(s, stored, datetime.now(UTC))
    database.dispose()
    assert {k: f["value"] for k, f in report["fields"].items()} == \
        {k: f["value"] for k, f in case["fields"].items()}
    assert (report["missing"], report["status"]) == (case["missing"], case["status"])

    # `rules eval` reads the three messages as filing did: every value and `missing` agree.
    result = intake.run("rules", "eval", str(labelled_dir), "--profile", "famhp")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Misses: none" in lines, result.stdout
    everything = next(line.split() for line in lines if line.startswith("all fields"))
    expected = sum(len(json.loads(p.read_text())["fields"])
                   for p in labelled_dir.glob("*.expected.json"))
    assert everything[2:] == [str(expected), str(expected), str(expected), "0", "0", "0",
                              "1.000", "1.000"]
    assert next(line for line in lines if line.startswith("missing")).split() == [
        "missing", "3", "3", "1.000"]


def test_a_reviewers_incomplete_survives_a_correction_a_reprocess_and_a_follow_up(
        intake: Intake) -> None:
    intake.user.append("INBOX", labelled(COMPLETE))
    assert intake.poll().returncode == 0
    (case,) = exported(intake)
    ref = case["ref"]
    assert case["status"] == "complete"
    reason = "Part 2 is signed by a nurse, not the treating physician"

    decided = intake.run("cases", "status", ref, "incomplete", "--note", reason,
                         "--actor", "alice")
    assert decided.returncode == 0, decided.stderr
    corrected = intake.run("cases", "set", ref, "quantity", "2", "--actor", "bob")
    assert corrected.returncode == 0, corrected.stderr
    assert corrected.stdout.strip().endswith("status incomplete")
    reprocessed = intake.run("reprocess", "--case", ref)
    assert reprocessed.returncode == 0, reprocessed.stderr
    reply = labelled("fu_en_signed_part2_completes").replace(CITED, ref.encode())
    intake.user.append("INBOX", reply)
    assert intake.poll().returncode == 0

    (case,) = exported(intake)
    assert case["status"] == "incomplete"
    assert case["missing"] == [] and case["complete"] is True  # the checklist is satisfied
    assert case["fields"]["quantity"]["value"] == "2"
    assert case["triage"]["status_reason"] == f"decided by alice: {reason}"
    changes = [(e["actor"], e["detail"]["to"], e["detail"]["decision"])
               for e in case["events"] if e["action"] == "status_changed"]
    assert changes == [("alice", "incomplete", True)]

