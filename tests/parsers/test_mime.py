"""E-mail bytes to ParsedMessage: what a reviewer sees of each message and its files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import quote

import pytest
from reportlab.pdfgen import canvas

from config.errors import ParseError
from parsers.blobs import cut_large_payloads
from parsers.charsets import bytes_to_text
from parsers.headers import header_to_text
from parsers.html import html_to_text
from parsers.mime import file_to_message, message_to_parts
from parsers.records import Limits

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
REPO = Path(__file__).resolve().parents[2]


def _pdf(text: str = "Compassionate use request") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _message(subject: str = "Compassionate Use – UZ Leuven – J.D.",
             body: str = "Please find our request attached.") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Dr. Jane Peeters <Jane.Peeters@UZLeuven.be>"
    message["To"] = "derogation.meddev@fagg-afmps.be"
    message["Subject"] = subject
    message["Date"] = "Tue, 04 Mar 2025 10:15:00 +0100"
    message["Message-ID"] = "<req-1@uzleuven.be>"
    message.set_content(body)
    return message


# --- headers ---------------------------------------------------------------------------


def test_headers_are_decoded_in_order_with_lower_case_names() -> None:
    raw = (
        b"Return-Path: <>\r\n"
        b"From: =?utf-8?q?Fran=C3=A7oise_Dupont?= <F.Dupont@CHU-Liege.be>\r\n"
        b"To: derogation.meddev@fagg-afmps.be, \"Vos, An\" <an.vos@fagg-afmps.be>\r\n"
        b"Cc: =?iso-8859-1?q?M=FCller?= <mueller@example.de>\r\n"
        b"Subject: =?utf-8?b?RGVtYW5kZSBk4oCZdXRpbGlzYXRpb24gwqsgY29tcGFzc2lvbm5lbCDCuw==?=\r\n"
        b"Date: Tue, 04 Mar 2025 10:15:00 +0100\r\n"
        b"Message-ID: <abc.123@chu-liege.be>\r\n"
        b"In-Reply-To: <prev@fagg-afmps.be>\r\n"
        b"References: <first@chu-liege.be>\r\n <prev@fagg-afmps.be>\r\n"
        b"Reply-To: Secretariat <Secr@CHU-Liege.be>\r\n"
        b"\r\n"
        b"Bonjour,\r\n"
    )
    parsed = message_to_parts(raw)
    assert parsed.subject == "Demande d’utilisation « compassionnel »"
    assert parsed.sender == "f.dupont@chu-liege.be"
    assert parsed.sender_name == "Françoise Dupont"
    assert parsed.to == ("derogation.meddev@fagg-afmps.be", "an.vos@fagg-afmps.be")
    assert parsed.cc == ("mueller@example.de",)
    assert parsed.reply_to == "secr@chu-liege.be"
    assert parsed.return_path == ""
    assert parsed.message_id == "abc.123@chu-liege.be"
    assert parsed.in_reply_to == ("prev@fagg-afmps.be",)
    assert parsed.references == ("first@chu-liege.be", "prev@fagg-afmps.be")
    assert parsed.date == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)
    assert [name for name, _ in parsed.headers] == [
        "return-path", "from", "to", "cc", "subject", "date", "message-id", "in-reply-to",
        "references", "reply-to"]
    assert parsed.header("FROM") == "Françoise Dupont <F.Dupont@CHU-Liege.be>"
    assert parsed.body_text == "Bonjour,"


def test_absent_return_path_is_none_and_subject_loses_line_breaks() -> None:
    raw = b"From: a@b.be\r\nSubject: Compassionate Use\r\n\t- UZ Leuven\r\n\r\nbody\r\n"
    parsed = message_to_parts(raw)
    assert parsed.return_path is None
    assert parsed.subject == "Compassionate Use - UZ Leuven"
    assert parsed.message_id is None


def test_encoded_words_split_inside_a_character_are_joined() -> None:
    # "Привет" split after the first byte of "р": each word alone is invalid UTF-8.
    value = "=?utf-8?b?0J/R?= =?utf-8?b?gNC40LLQtdGC?="
    assert header_to_text(value) == "Привет"


def test_unknown_header_charset_still_decodes_and_is_reported() -> None:
    defects: list[str] = []
    assert header_to_text("=?x-unknown?q?caf=C3=A9?=", defects) == "café"
    assert defects == ["encoded word: unknown charset 'x-unknown'; decoded as utf-8"]


def test_raw_8bit_headers_are_recovered() -> None:
    raw = "Subject: Dérogation urgente\r\nFrom: Zoë <zoe@example.be>\r\n\r\nx\r\n"
    parsed = message_to_parts(raw.encode("utf-8"))
    assert parsed.subject == "Dérogation urgente"
    assert parsed.sender_name == "Zoë"
    latin = message_to_parts(raw.encode("cp1252"))
    assert latin.subject == "Dérogation urgente"


def test_display_name_that_looks_like_an_address_does_not_win() -> None:
    raw = b'From: "director@fagg-afmps.be" <attacker@example.com>\r\n\r\nhi\r\n'
    assert message_to_parts(raw).sender == "attacker@example.com"


# --- bodies and charsets ---------------------------------------------------------------


def test_plain_text_body_wins_over_html_alternative() -> None:
    message = _message(body="Plain version")
    message.add_alternative("<p>HTML <b>version</b></p>", subtype="html")
    parsed = message_to_parts(message.as_bytes())
    assert parsed.body_text == "Plain version"
    assert parsed.body_html is not None and "<b>version</b>" in parsed.body_html
    assert parsed.content_type == "multipart/alternative"
    assert parsed.attachments == ()


def test_html_only_body_is_rendered_as_readable_text() -> None:
    message = EmailMessage()
    message["From"] = "x@hospital.be"
    message["Subject"] = "Request"
    message.set_content(
        "<html><head><style>p {color: red}</style><script>alert(1)</script></head><body>"
        "<p>Dear FAMHP,</p><table><tr><td>Device</td><td>CardioFlow &amp; Co</td></tr>"
        "<tr><td>Class</td><td>III</td></tr></table><p>Kind&nbsp;regards<br>Dr. Peeters</p>"
        "</body></html>", subtype="html")
    parsed = message_to_parts(message.as_bytes())
    assert parsed.body_text == ("Dear FAMHP,\n\nDevice | CardioFlow & Co\nClass | III\n\n"
                                "Kind regards\nDr. Peeters")
    assert parsed.body_html is not None


def test_undeclared_charset_body_decodes() -> None:
    raw = ("From: a@b.be\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n"
           "Médecin traitant – café\r\n").encode("cp1252")
    parsed = message_to_parts(raw)
    assert parsed.body_text == "Médecin traitant – café"
    assert any("undeclared charset" in d for d in parsed.defects)


def test_wrongly_declared_charset_falls_back_and_says_so() -> None:
    raw = (b"From: a@b.be\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Größe: 3 Stück".encode("latin-1"))
    parsed = message_to_parts(raw)
    assert parsed.body_text == "Größe: 3 Stück"
    assert any("do not match charset 'utf-8'" in d for d in parsed.defects)


def test_unknown_declared_charset_decodes() -> None:
    raw = (b"From: a@b.be\r\nContent-Type: text/plain; charset=x-mystery\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Zoë".encode())
    assert message_to_parts(raw).body_text == "Zoë"


def test_charset_fallback_chain() -> None:
    assert bytes_to_text("스티해".encode("cp949"), "ks_c_5601-1987").text == "스티해"
    assert bytes_to_text(b"caf\xe9", None).charset == "cp1252"
    assert bytes_to_text(b"\x81\x8d", None).charset == "latin-1"
    truncated = "Картинка с именем".encode()[:-1]
    assert bytes_to_text(truncated, None).text.startswith("Картинка с имене")


def test_html_to_text_drops_hidden_content_and_decodes_entities() -> None:
    html = ("<title>Ignore</title><div>Line&nbsp;one</div><div>Line &lt;two&gt;</div>"
            "<ul><li>first</li><li>second</li></ul><noscript>hidden</noscript>")
    assert html_to_text(html) == "Line one\nLine <two>\n- first\n- second"


# --- attachments -----------------------------------------------------------------------


def test_rfc2231_file_name_is_decoded() -> None:
    message = _message()
    message.add_attachment(_pdf(), maintype="application", subtype="pdf",
                           filename="Formulaire partie 1 – signé.pdf")
    assert b"filename*=" in message.as_bytes()
    (attachment,) = message_to_parts(message.as_bytes()).attachments
    assert attachment.filename == "Formulaire partie 1 – signé.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.sha256 == hashlib.sha256(attachment.data).hexdigest()


def test_rfc2047_file_name_as_outlook_writes_it() -> None:
    raw = (b"From: a@b.be\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
           b"--XX\r\nContent-Type: application/pdf;\r\n name=\"=?utf-8?B?w6l0w6kucGRm?=\"\r\n"
           b"Content-Disposition: attachment;\r\n filename=\"=?utf-8?B?w6l0w6kucGRm?=\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n")
    (attachment,) = message_to_parts(raw).attachments
    assert attachment.filename == "été.pdf"
    assert attachment.data == b"%PDF-1.4\n"


@pytest.mark.parametrize(
    ("declared", "shown"),
    [("../../etc/passwd", "passwd"), ("a\r\nb.pdf", "ab.pdf"), ("CON", "_CON"),
     ("", "attachment-1.pdf")],
)
def test_hostile_attachment_names_are_sanitised(declared: str, shown: str) -> None:
    raw = (b"From: a@b.be\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
           b"--XX\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Disposition: attachment; filename*=utf-8''" + quote(declared).encode()
           + b"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n")
    (attachment,) = message_to_parts(raw).attachments
    assert attachment.filename == shown
    assert attachment.declared_type == "application/octet-stream"
    assert attachment.content_type == "application/pdf"


def test_forwarded_message_and_its_attachment_are_both_listed() -> None:
    inner = _message(subject="Part 2 signed")
    inner.add_attachment(_pdf("Part 2"), maintype="application", subtype="pdf",
                         filename="part2.pdf")
    outer = _message(subject="Fwd: Part 2 signed", body="See the forwarded message.")
    outer.add_attachment(inner)
    parsed = message_to_parts(outer.as_bytes())
    forwarded, pdf = parsed.attachments
    assert (forwarded.filename, forwarded.content_type, forwarded.path) == (
        "forwarded-1.eml", "message/rfc822", ())
    assert (pdf.filename, pdf.content_type, pdf.path) == (
        "part2.pdf", "application/pdf", ("forwarded-1.eml",))
    reopened = BytesParser(policy=default_policy).parsebytes(forwarded.data)
    assert reopened["Subject"] == "Part 2 signed"
    assert parsed.body_text == "See the forwarded message."


def test_zip_attachment_is_opened_and_a_bomb_is_kept_but_refused() -> None:
    message = _message()
    message.add_attachment(_zip({"part1.pdf": _pdf("Part 1"), "inner.zip": _zip(
        {"ifu.pdf": _pdf("IFU")})}), maintype="application", subtype="zip",
        filename="documents.zip")
    bomb = _zip({"zeros.bin": b"\0" * (5 * 1024 * 1024)})
    message.add_attachment(bomb, maintype="application", subtype="zip", filename="bomb.zip")
    found = [(a.path, a.filename, a.error) for a in message_to_parts(message.as_bytes())
             .attachments]
    assert found == [
        ((), "documents.zip", None),
        (("documents.zip",), "part1.pdf", None),
        (("documents.zip",), "inner.zip", None),
        (("documents.zip", "inner.zip"), "ifu.pdf", None),
        ((), "bomb.zip", "zip_bomb"),
    ]


def test_attachment_over_the_limit_is_kept_as_too_large() -> None:
    message = _message()
    message.add_attachment(os.urandom(5000), maintype="application", subtype="pdf",
                           filename="scan.pdf")
    (big,) = message_to_parts(message.as_bytes(), Limits(max_attachment_bytes=4096)).attachments
    assert big.error == "too_large"
    assert big.size == 5000
    assert "4096" in big.error_detail


def test_winmail_dat_attachments_come_out() -> None:
    message = _message()
    tnef = (CORPUS / "emails" / "tnefparse_two-files.tnef").read_bytes()
    message.add_attachment(tnef, maintype="application", subtype="ms-tnef",
                           filename="winmail.dat")
    found = [(a.path, a.filename, a.content_type)
             for a in message_to_parts(message.as_bytes()).attachments]
    assert found == [((), "winmail.dat", "application/vnd.ms-tnef"),
                     (("winmail.dat",), "AUTHORS", "text/plain"),
                     (("winmail.dat",), "README", "text/plain")]


def test_outlook_item_attached_to_an_email_is_opened() -> None:
    message = _message()
    item = (CORPUS / "emails" / "poi_attachment_test_msg.msg").read_bytes()
    message.add_attachment(item, maintype="application", subtype="vnd.ms-outlook",
                           filename="request.msg")
    found = [(a.path, a.filename) for a in message_to_parts(message.as_bytes()).attachments]
    assert found == [((), "request.msg"), (("request.msg",), "test-unicode.doc"),
                     (("request.msg",), "pj1.txt")]


# --- other inputs ----------------------------------------------------------------------


def test_body_without_headers_is_a_message_with_only_a_body() -> None:
    text = "Thanks, I will send Part 2 tomorrow.\n\nOn Monday, FAMHP wrote:\n> Dear sender\n"
    parsed = file_to_message(text.encode(), "reply.txt")
    assert parsed.headers == ()
    assert parsed.body_text.startswith("Thanks, I will send Part 2 tomorrow.")
    assert parsed.sender is None


@pytest.mark.parametrize("data", [b"", b"   \r\n", bytes(range(256)) * 8])
def test_nothing_readable_is_a_malformed_message(data: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        message_to_parts(data)
    assert caught.value.reason == "malformed_message"


def test_outlook_msg_file_gives_the_same_record() -> None:
    data = (CORPUS / "emails" / "poi_attachment_msg_pdf.msg").read_bytes()
    parsed = file_to_message(data, "request.msg")
    assert parsed.subject == "test email"
    assert parsed.content_type == "application/vnd.ms-outlook"
    assert parsed.message_id == "3975CB0784A2C249A2EDDD4D43C53D08045B971A87@Stitch.pof.com.au"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("Test Attachment.eml", "message/rfc822"),
        ("smbprn.00009008.KdcPjl.pdf", "application/pdf")]


def test_tnef_file_gives_subject_and_files() -> None:
    parsed = file_to_message((CORPUS / "emails" / "tnefparse_two-files.tnef").read_bytes(),
                             "winmail.dat")
    assert parsed.subject == "two files"
    assert [a.filename for a in parsed.attachments] == ["AUTHORS", "README"]


def test_damaged_outlook_file_is_a_parse_error() -> None:
    damaged = (CORPUS / "emails" / "poi_quick.msg").read_bytes()[:700]
    with pytest.raises(ParseError) as caught:
        file_to_message(damaged, "quick.msg")
    assert caught.value.reason == "malformed_message"


# --- large payloads --------------------------------------------------------------------


def test_large_payloads_come_back_byte_for_byte() -> None:
    payload = os.urandom(2 * 1024 * 1024)
    inner = _message(subject="Inner")
    inner.add_attachment(payload, maintype="application", subtype="pdf", filename="scan.pdf")
    outer = _message()
    outer.add_attachment(payload, maintype="application", subtype="pdf", filename="top.pdf")
    outer.add_attachment(inner)
    parsed = message_to_parts(outer.as_bytes())
    top, forwarded, nested = parsed.attachments
    assert top.data == payload
    assert nested.data == payload and nested.path == ("forwarded-1.eml",)
    reopened = BytesParser(policy=default_policy).parsebytes(forwarded.data)
    attached = next(reopened.iter_attachments())
    assert attached.get_payload(decode=True) == payload


def test_a_short_last_line_of_base64_is_part_of_its_run() -> None:
    # 1 MB + 1 byte: the base64 text ends in a line of 8 characters, the last one "=".
    payload = os.urandom(1024 * 1024 + 1)
    message = _message()
    message.add_attachment(payload, maintype="application", subtype="pdf", filename="a.pdf")
    data = message.as_bytes()
    cut = cut_large_payloads(data)
    [(start, end)] = cut.spans
    assert len(data[start:end].splitlines()[-1]) == 8 and data[start:end].rstrip().endswith(b"=")
    assert data[end:].lstrip(b"\r\n").startswith(b"--"), "the run ends at the boundary"
    assert message_to_parts(data).attachments[0].data == payload


_MEASURE = textwrap.dedent("""
    import hashlib, json, resource, subprocess, sys
    child = '''
    import hashlib, json, sys
    from parsers.mime import message_to_parts
    with open(sys.argv[1], "rb") as handle:
        parsed = message_to_parts(handle.read())
    big = max(parsed.attachments, key=lambda a: a.size)
    print(json.dumps({"size": big.size, "sha256": big.sha256, "error": big.error,
                      "type": big.content_type, "body": parsed.body_text}))
    '''
    run = subprocess.run([sys.executable, "-c", child, sys.argv[1]], capture_output=True,
                         text=True, check=True)
    result = json.loads(run.stdout)
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps(result))
""")


@pytest.mark.slow
def test_fifty_megabyte_attachment_is_decoded_without_a_second_copy(tmp_path: Path) -> None:
    payload = b"%PDF-1.4\n" + os.urandom(50 * 1024 * 1024)
    message = _message()
    message.add_attachment(payload, maintype="application", subtype="pdf", filename="big.pdf")
    path = tmp_path / "big.eml"
    path.write_bytes(message.as_bytes())
    del message
    # The parse runs in a child of a child, so RUSAGE_CHILDREN measures that parse alone.
    run = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True,
                         text=True, check=True, cwd=REPO)
    result = json.loads(run.stdout)
    assert result["size"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()
    assert (result["type"], result["error"]) == ("application/pdf", None)
    assert result["body"] == "Please find our request attached."
    peak_mb = result["maxrss_kb"] / 1024
    print(f"peak RSS parsing a {path.stat().st_size / 1e6:.0f} MB message: {peak_mb:.0f} MB")
    # The message (71 MB) and the decoded file (50 MB) once each, and the interpreter: a
    # copy of the encoded text restored before decoding would add 68 MB more.
    assert peak_mb < 200
