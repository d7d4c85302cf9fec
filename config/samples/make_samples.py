"""Write the six sample requests that `make run` (the demo) feeds through the pipeline.

Run from the repository root: ``.venv/bin/python config/samples/make_samples.py``. The messages
are built by ``tests/fixtures/messages/make_messages.py`` (same forms, same attachments) and
written here in mailbox order, the file name prefixed with its position:

1. a complete compassionate-use request (NL, Word Part 1 + signed PDF Part 2);
2. a compassionate-use request missing Part 2 (FR, PDF Part 1);
3. a national derogation by a mandated third party, with its mandate (NL, Word form + PDF);
4. an enquiry about the documents needed (EN);
5. an out-of-office auto-reply (EN);
6. the follow-up that brings the signed Part 2 for sample 2 (FR), threaded by References
   (sent on by the applicant).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(ROOT))

from tests.fixtures.messages import make_messages as messages  # noqa: E402

SAMPLES: tuple[tuple[str, str], ...] = (
    ("01_compassionate_use_complete_nl", "cu_nl_complete_docx"),
    ("02_compassionate_use_missing_part2_fr", "cu_fr_missing_part2"),
    ("03_national_derogation_nl", "nd_nl_mandated_complete"),
    ("04_enquiry_documents_en", "enq_en_documents"),
    ("05_out_of_office_en", "auto_ooo_en"),
    ("06_follow_up_part2_fr", "fu_fr_part2_by_headers"),
)


def demo_spec(spec: messages.Spec) -> messages.Spec:
    """Adapt a fixture for the demo: the out-of-office answers the enquiry's acknowledgement;
    the applicant herself sends on the physician's Part 2 in the thread of her request (a
    stranger to the case could not join it by naming her message: docs/security.md)."""
    if spec.name == "fu_fr_part2_by_headers":
        return replace(
            spec, sender=("Amélie Fontaine", "a.fontaine@qualitas-eurep.be"),
            msgid="<PR3P281MB0912F0E1D2C3B4A5@qualitas-eurep.be>", cc=[],
            body="Madame, Monsieur,\n\nVeuillez trouver ci-joint la partie 2 du formulaire, "
                 "complétée et signée par le Dr Nathalie Renard (CHU UCL Namur).\n\n"
                 "Bien à vous,\nAmélie Fontaine\nQualitas EU Representation\n")
    if spec.name != "auto_ooo_en":
        return spec
    return replace(
        spec, sender=("Sarah O'Connell", "sarah.oconnell@medtech-example.com"),
        subject="Automatic reply: Question: documents needed for a compassionate use request",
        date="2026-02-25 10:07", msgid="<DM6PR11MB4567AUTO0001@medtech-example.com>",
        body="Thank you for your e-mail. I am travelling until 6 March with limited access to "
             "my mailbox. For urgent matters, please contact info@medtech-example.com.\n\n"
             "Sarah O'Connell\nMedtech Example Ltd\n",
        case_ref=None, headers=list(messages.OOO))


def main() -> None:
    """Write the six sample .eml files into config/samples/."""
    for old in HERE.glob("*.eml"):
        old.unlink()
    by_name = {spec.name: spec for spec in messages.catalogue()}
    for stem, name in SAMPLES:
        eml = messages.render_message(demo_spec(by_name[name]))
        path = HERE / f"{stem}.eml"
        path.write_bytes(eml)
        print(f"{path.relative_to(ROOT)}  {len(eml)} bytes")


if __name__ == "__main__":
    main()
