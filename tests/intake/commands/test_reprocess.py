"""`reprocess` as an administrator uses it after changing a rule: real pipeline, real databases.

Requests are filed by `poll --once` from a Maildir into SQLite or PostgreSQL; the rules are
then changed in a copy of the FAMHP profile (given with --profile) and the cases read again.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from config.profiles import load_profile, load_profile_from
from config.settings import load_settings
from intake.commands import cli
from intake.commands.reprocess import Options, decide_case, reprocess_cases
from intake.commands.reprocess_plan import Change, CurrentRules, ReprocessError, read_case
from intake.mailbox.maildir import store_message
from intake.runtime import open_runtime
from storage.cases import case_by_message_ids, case_checklist, create_case, list_cases, set_status
from storage.db import Database
from storage.events import case_events
from storage.fields import current_fields, field_history, set_reviewer_field
from storage.messages import add_message, case_documents, case_messages
from storage.outbox import outbox_list
from tests.intake.e2e import MESSAGES, labelled
from tests.storage.factories import parsed, triage

REPO = Path(__file__).resolve().parents[3]
PROFILES = REPO / "config" / "profiles"
# The English labels of the device's name. Labels are matched by their words, in any of the
# four languages through the synonyms, so taking out the one a form prints ("Trade name of
# the device") is not enough for the form to lose the field: the change takes out every
# English label with "name" in it and the synonym groups of "name", "device" and "trade";
# "Device" and "Medical device" are left, which reach "Trade name of the device" half-way.
NAME_LABELS = ("Name of the device", "Trade name of the device", "Device name", "Trade name",
               "Name of the medical device")
SYNONYM_GROUPS = (r'\["device", [^\]]*\],\s*', r'\["name", [^\]]*\],\s*',
                  r'\["commercial", "trade", [^\]]*\],\s*')
# Filed as requests, in this order; the first two name their device by that label only.
BARE = "cu_en_missing_part2_bare"  # incomplete; Part 2 follows
URGENT = "cu_en_urgent_complete"  # complete
UNTOUCHED = ("cu_nl_complete_docx", "cu_en_complete_manufacturer", "enq_en_documents")
FOLLOW_UP = "fu_en_unsigned_part2"  # brings BARE's Part 2, citing the case
FOLLOW_UP_CITES = b"DRG-2026-000134"
PHYSICIAN = b"Bart Janssens <bart.janssens@zna.be>"
APPLICANT = b"Dr. Lena Hartmann <l.hartmann@neurovasc-dynamics.de>"


def message_id(name: str) -> str:
    """The Message-ID of a labelled message."""
    expected = json.loads((MESSAGES / f"{name}.expected.json").read_text(encoding="utf-8"))
    return str(expected["message_id"])


@dataclass
class Installation:
    """One installation: a Maildir mailbox, a database, acknowledgements to a Maildir."""

    root: Path
    config: Path
    db_url: str

    def main(self, *args: str) -> int:
        """Run `derogation-intake --config … ARGS` in this process."""
        return cli.main(["--config", str(self.config), *args])

    def deliver(self, *messages: bytes) -> None:
        """Put messages in the mailbox, as the mail server would."""
        for data in messages:
            store_message(self.root / "maildir", data)

    def poll(self) -> None:
        """Run one intake cycle; every message must be filed."""
        assert self.main("poll", "--once") == 0

    def database(self) -> Database:
        """Open the installation's database."""
        return Database.open(self.db_url)

    def ref_of(self, name: str) -> str:
        """The reference of the case a labelled message was filed under."""
        db = self.database()
        try:
            with db.session() as s:
                case = case_by_message_ids(s, [message_id(name)])
                assert case is not None, name
                return case.ref
        finally:
            db.dispose()

    def changed_rules(self) -> Path:
        """A copy of the FAMHP profile without the device's name labels; the profiles folder."""
        folder = self.root / "profiles"
        rules = Path(shutil.copytree(PROFILES / "famhp", folder / "famhp")) / "extraction.toml"
        text = rules.read_text(encoding="utf-8")
        start = text.index("[fields.device_name.labels]")
        end = text.index("[fields.", start + 1)
        section = text[start:end]
        for label in NAME_LABELS:
            assert f'"{label}"' in section, label
            section = re.sub(rf'"{re.escape(label)}",\s*', "", section)
        text = text[:start] + section + text[end:]
        for group in SYNONYM_GROUPS:
            text, found = re.subn(group, "", text, count=1)
            assert found == 1, group
        rules.write_text(text, encoding="utf-8")
        return folder


@pytest.fixture
def command_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`derogation-intake` with `reprocess`, free of the caller's environment."""
    for name in [n for n in os.environ if n.startswith("DEROGATION_INTAKE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def intake(tmp_path: Path, db_url: str, command_line: None) -> Installation:
    """A fresh installation on the test's database, with `reprocess` on the command line."""
    config = tmp_path / "intake.toml"
    config.write_text(f"""
[general]
data_dir = "{tmp_path / 'data'}"
our_address = "derogation.meddev@fagg-afmps.be"

[database]
url = "{db_url}"

[mailboxes.famhp]
type = "maildir"
profile = "famhp"
path = "{tmp_path / 'maildir'}"

[smtp]
mode = "maildir"
outbox_maildir = "{tmp_path / 'outbox'}"

[extraction]
workers = 1
""", encoding="utf-8")
    return Installation(tmp_path, config, db_url)


@pytest.fixture
def filed(intake: Installation) -> Installation:
    """Four requests and an enquiry filed, then a follow-up citing the first case."""
    intake.deliver(*(labelled(n) for n in (BARE, URGENT, *UNTOUCHED)))
    intake.poll()
    follow_up = labelled(FOLLOW_UP).replace(FOLLOW_UP_CITES, intake.ref_of(BARE).encode())
    # The applicant sends the physician's Part 2 on: a sender known to the case joins it.
    intake.deliver(follow_up.replace(PHYSICIAN, APPLICANT))
    intake.poll()
    assert intake.ref_of(FOLLOW_UP) == intake.ref_of(BARE)
    return intake


def snapshot(intake: Installation) -> dict[str, object]:
    """Everything reprocess may write, per case, and the outbox."""
    db = intake.database()
    try:
        with db.session() as s:
            cases = {c.ref: c for c in list_cases(s)}
            return {"outbox": len(outbox_list(s)), **{ref: (
                c.status, c.rules_version, c.updated_at, c.triage, c.urgent,
                [(e.item_id, e.status, e.evidence) for e in case_checklist(s, c)],
                [(f.id, f.value, f.superseded_by) for f in field_history(s, c)],
                [(d.kind, d.kind_rule) for d in case_documents(s, c)],
                [(m.kind, m.rules_version, m.triage) for m in case_messages(s, c)],
                len(case_events(s, c))) for ref, c in cases.items()}}
    finally:
        db.dispose()


def report(out: str) -> list[str]:
    """The lines of a reprocess report."""
    return out.strip().splitlines()


def lost(ref: str, value: str, *, status: str = "") -> str:
    """The line of a case whose device name the changed rule no longer finds."""
    line = (f"{ref}: device_name: {value!r} -> (none); "
            "checklist device_identified: present -> missing")
    return line + (f"; status: {status}" if status else "")


# --- tests -----------------------------------------------------------------------------------


def test_a_change_reads_like_the_office_expects() -> None:
    assert Change("field", "device_name", None, "CardioFlow",
                  "famhp.label.device_name#3").describe() == \
        "device_name: (none) -> 'CardioFlow' [rule famhp.label.device_name#3]"
    assert Change("checklist", "device_identified", "missing", "present").describe() == \
        "checklist device_identified: missing -> present"
    assert Change("status", "status", "incomplete", "complete").describe() == \
        "status: incomplete -> complete"
    assert Change("document", "part1.pdf", "other", "form_part1",
                  "famhp.kind.form_part1#0").to_json() == {
        "what": "document", "name": "part1.pdf", "from": "other", "to": "form_part1",
        "rule": "famhp.kind.form_part1#0",
        "text": "document part1.pdf: other -> form_part1 [rule famhp.kind.form_part1#0]"}


def test_a_dry_run_lists_exactly_the_cases_the_rule_change_touches(
        filed: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    folder = filed.changed_rules()
    version = load_profile_from(folder / "famhp").version
    bare, urgent = filed.ref_of(BARE), filed.ref_of(URGENT)
    before = snapshot(filed)
    capsys.readouterr()

    assert filed.main("reprocess", "--all", "--dry-run", "--profile", str(folder / "famhp")) == 0

    # The follow-up's Part 2 is merged as filing merged it: only the device name is lost.
    assert report(capsys.readouterr().out) == [
        lost(bare, "FlowGuard ND"),
        lost(urgent, "PediHeart VAD 15", status="complete -> incomplete"),
        f"dry run: 2 of 5 case(s) would change, 3 unchanged, 0 failed (rules famhp {version}); "
        "nothing was written",
    ]
    assert snapshot(filed) == before

    assert filed.main("reprocess", "--all", "--dry-run", "--verbose", "--acknowledge",
                      "--profile", str(folder / "famhp")) == 0
    lines = report(capsys.readouterr().out)
    assert [line for line in lines if line.endswith(": unchanged")] == [
        f"{filed.ref_of(name)}: unchanged" for name in UNTOUCHED]
    assert snapshot(filed) == before


def test_reprocess_records_the_new_state_and_sends_nothing(
        filed: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = load_profile("famhp").version
    folder = filed.changed_rules()
    version = load_profile_from(folder / "famhp").version
    bare, urgent = filed.ref_of(BARE), filed.ref_of(URGENT)
    outbox_files = sorted(p.name for p in (filed.root / "outbox").rglob("*") if p.is_file())
    before = snapshot(filed)
    capsys.readouterr()

    assert filed.main("reprocess", "--all", "--profile", str(folder / "famhp")) == 0

    assert report(capsys.readouterr().out) == [
        lost(bare, "FlowGuard ND"),
        lost(urgent, "PediHeart VAD 15", status="complete -> incomplete"),
        f"reprocessed 5 case(s): 2 changed, 3 unchanged, 0 failed (rules famhp {version})",
    ]
    after = snapshot(filed)
    assert after["outbox"] == before["outbox"] == 6
    assert sorted(p.name for p in (filed.root / "outbox").rglob("*") if p.is_file()) \
        == outbox_files
    for name in UNTOUCHED:
        assert after[filed.ref_of(name)] == before[filed.ref_of(name)]
    db = filed.database()
    try:
        with db.session() as s:
            case = case_by_message_ids(s, [message_id(URGENT)])
            assert case is not None
            assert (case.status, case.rules_version) == ("incomplete", version)
            assert case.triage["missing"] == ["device_identified"]
            assert {m.rules_version for m in case_messages(s, case)} == {version}
            checklist = {e.item_id: e.status for e in case_checklist(s, case)}
            assert checklist["device_identified"] == "missing"
            # Nothing is deleted: the old value is superseded by an empty one.
            assert current_fields(s, case)["device_name"].value == ""
            history = [(f.value, f.superseded_by is None)
                       for f in field_history(s, case, "device_name")]
            assert history == [("PediHeart VAD 15", False), ("", True)]
            event = case_events(s, case)[-1]
            assert (event.actor, event.action) == ("reprocess", "reprocessed")
            assert (event.detail["from_rules"], event.detail["to_rules"]) == (shipped, version)
            assert [c["text"] for c in event.detail["changes"]] == [
                "device_name: 'PediHeart VAD 15' -> (none)",
                "checklist device_identified: present -> missing",
                "status: complete -> incomplete"]
    finally:
        db.dispose()

    # Again with the same rules: nothing left to change.
    assert filed.main("reprocess", "--all", "--profile", str(folder / "famhp")) == 0
    assert report(capsys.readouterr().out) == [
        f"reprocessed 5 case(s): 0 changed, 5 unchanged, 0 failed (rules famhp {version})"]

    # Back to the shipped rules: the value returns with the rule that finds it.
    assert filed.main("reprocess", "--since", str(date.today() - timedelta(days=1))) == 0
    rule = "[rule famhp.label.device_name.en.trade-name-of-the-device]"
    assert report(capsys.readouterr().out) == [
        f"{bare}: device_name: (none) -> 'FlowGuard ND' {rule}; "
        "checklist device_identified: missing -> present",
        f"{urgent}: device_name: (none) -> 'PediHeart VAD 15' {rule}; "
        "checklist device_identified: missing -> present; status: incomplete -> complete",
        f"reprocessed 5 case(s): 2 changed, 3 unchanged, 0 failed (rules famhp {shipped})",
    ]
    assert snapshot(filed)["outbox"] == 6


def test_reviewers_values_and_decisions_are_kept(
        filed: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    folder = filed.changed_rules()
    urgent = filed.ref_of(URGENT)
    db = filed.database()
    try:
        with db.session() as s:
            first = case_by_message_ids(s, [message_id(BARE)])
            second = case_by_message_ids(s, [message_id(URGENT)])
            assert first is not None and second is not None
            set_reviewer_field(s, first, "device_name", "FlowGuard ND 4.5", "reviewer@famhp")
            set_status(s, second, "granted", "reviewer@famhp", "authorised for one patient")
        capsys.readouterr()

        assert filed.main("reprocess", "--all", "--profile", str(folder / "famhp")) == 0

        # The reviewer's device name keeps the first case identified: it is unchanged. The
        # second loses its device but keeps the decision: no status change is listed.
        assert report(capsys.readouterr().out)[:-1] == [lost(urgent, "PediHeart VAD 15")]
        with db.session() as s:
            first = case_by_message_ids(s, [message_id(BARE)])
            second = case_by_message_ids(s, [message_id(URGENT)])
            assert first is not None and second is not None
            assert current_fields(s, first)["device_name"].value == "FlowGuard ND 4.5"
            assert [f.value for f in field_history(s, first, "device_name")] == [
                "FlowGuard ND", "FlowGuard ND 4.5"]
            assert "reprocessed" not in [e.action for e in case_events(s, first)]
            assert second.status == "granted"
            assert {e.item_id: e.status for e in case_checklist(s, second)}[
                "device_identified"] == "missing"
    finally:
        db.dispose()


def test_acknowledge_queues_a_follow_up_acknowledgement(
        intake: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    intake.deliver(labelled(URGENT))
    intake.poll()
    folder = intake.changed_rules()
    ref = intake.ref_of(URGENT)
    capsys.readouterr()

    assert intake.main("reprocess", "--case", ref, "--acknowledge",
                       "--profile", str(folder / "famhp")) == 0

    assert report(capsys.readouterr().out)[0] == lost(
        ref, "PediHeart VAD 15", status="complete -> incomplete") + "; acknowledgement queued"
    db = intake.database()
    try:
        with db.session() as s:
            first, again = outbox_list(s)
            assert (first.state, again.state, again.kind) == ("sent", "pending", "follow_up")
            assert again.recipient == first.recipient == "jan.verlinden@uzleuven.be"
            assert again.subject.startswith(f"[{ref}] ")
            mail = email.message_from_bytes(again.raw, policy=email.policy.default)
            assert isinstance(mail, EmailMessage)
            body = mail.get_body(("plain",))
            assert body is not None
            text = " ".join(body.get_content().split())
            assert "We still need the following: - the identification of the device" in text
            assert mail["In-Reply-To"] == f"<{message_id(URGENT)}>"
            case = case_by_message_ids(s, [message_id(URGENT)])
            assert case is not None
            assert [e.action for e in case_events(s, case)][-2:] == [
                "reprocessed", "acknowledgement_queued"]
    finally:
        db.dispose()

    # Unchanged the second time: nothing more to say to the applicant.
    assert intake.main("reprocess", "--case", ref, "--acknowledge",
                       "--profile", str(folder / "famhp")) == 0
    assert snapshot(intake)["outbox"] == 2


def test_cases_are_chosen_by_reference_or_date_and_a_failure_does_not_stop_the_batch(
        intake: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    intake.deliver(labelled(URGENT))
    intake.poll()
    folder = intake.changed_rules()
    ref = intake.ref_of(URGENT)
    capsys.readouterr()
    dry = ("--dry-run", "--profile", str(folder / "famhp"))

    assert intake.main("reprocess", "--since", str(date.today() + timedelta(days=2)), *dry) == 0
    assert report(capsys.readouterr().out)[0].startswith("dry run: 0 of 0 case(s)")
    assert intake.main("reprocess", "--since", str(date.today() - timedelta(days=1)), *dry) == 0
    assert report(capsys.readouterr().out)[0].startswith(f"{ref}: device_name: ")

    assert intake.main("reprocess", "--case", "DRG-1999-000999", "--case", ref.lower(),
                       *dry) == 1
    shown = capsys.readouterr()
    assert shown.out == ""  # a mistyped reference stops the run before any case is read
    assert "no such case: DRG-1999-000999 (nothing was reprocessed)" in shown.err
    assert intake.main("reprocess", "--case", ref.lower(), *dry) == 0
    lines = report(capsys.readouterr().out)
    assert lines[0].startswith(f"{ref}: device_name: ")  # the reference as filed
    assert lines[1].startswith("dry run: 1 of 1 case(s) would change, 0 unchanged, 0 failed")

    db = intake.database()
    try:
        with db.session() as s:  # a case whose message was never kept: nothing to read again
            case = create_case(s, "DRG-2025-000007", triage(), "subject", None)
            add_message(s, case, None, parsed("imported@example.org"), triage(), "request")
    finally:
        db.dispose()

    assert intake.main("reprocess", "--all", *dry) == 1
    assert report(capsys.readouterr().out) == [
        lost(ref, "PediHeart VAD 15", status="complete -> incomplete"),
        "DRG-2025-000007: cannot reprocess: message imported@example.org has no kept raw "
        "message to read again",
        f"dry run: 1 of 2 case(s) would change, 0 unchanged, 1 failed (rules famhp "
        f"{load_profile_from(folder / 'famhp').version}); nothing was written"]


def test_a_case_filed_into_while_it_is_read_is_left_for_the_next_run(intake: Installation) -> None:
    intake.deliver(labelled(BARE))
    intake.poll()
    ref = intake.ref_of(BARE)
    runtime = open_runtime(load_settings(intake.config))
    try:
        rules = CurrentRules(runtime.limits, PROFILES,
                             load_profile_from(intake.changed_rules() / "famhp"))
        read = read_case(runtime, rules, ref)
        intake.deliver(labelled(FOLLOW_UP).replace(FOLLOW_UP_CITES, ref.encode())
                       .replace(PHYSICIAN, APPLICANT))
        intake.poll()
        before = snapshot(intake)
        with pytest.raises(ReprocessError, match="a message was filed into the case meanwhile"):
            decide_case(runtime, rules, read, Options())
        assert snapshot(intake) == before
        outcome = decide_case(runtime, rules, read_case(runtime, rules, ref), Options())
        assert outcome.line() == lost(ref, "FlowGuard ND")
    finally:
        runtime.close()


@pytest.mark.usefixtures("command_line")
def test_a_selection_is_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["reprocess", "--dry-run"])
    assert stopped.value.code == 2
    assert "one of the arguments --case --since --all is required" in capsys.readouterr().err
    for wrong in (["--all", "--since", "2026-03-01"], ["--since", "1 March"]):
        with pytest.raises(SystemExit) as stopped:
            cli.main(["reprocess", *wrong])
        assert stopped.value.code == 2
    assert cli.main(["reprocess", "--all", "--profile", str(tmp_path / "none")]) == 78
    assert "unknown authority profile" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()  # refused before any database is opened


def test_progress_is_drawn_only_on_a_terminal(intake: Installation) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    intake.deliver(labelled(URGENT))
    intake.poll()
    ref = intake.ref_of(URGENT)
    runtime = open_runtime(load_settings(intake.config))
    try:
        rules = CurrentRules(runtime.limits, PROFILES,
                             load_profile_from(intake.changed_rules() / "famhp"))
        screen, out = Terminal(), io.StringIO()
        reprocess_cases(runtime, rules, [ref], Options(dry_run=True), out=out, err=screen)
        assert screen.getvalue().startswith(f"\r\x1b[K[1/1] {ref}\r\x1b[K")
        quiet = io.StringIO()
        reprocess_cases(runtime, rules, [ref], Options(dry_run=True), out=out, err=quiet)
        assert quiet.getvalue() == ""
        assert out.getvalue().count(f"{ref}: device_name: ") == 2
    finally:
        runtime.close()
