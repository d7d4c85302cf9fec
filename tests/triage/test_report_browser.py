"""The case page in a real browser: headless Chromium renders it, runs nothing, logs nothing.

Chromium is Debian's ``chromium`` (installed by scripts/install-test-deps.sh). These tests
fail, never skip, when it is missing. Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.settings import Settings
from intake.commands.review import case_page, cmd_cases_merge, cmd_cases_set
from intake.runtime import open_runtime
from storage.db import Database
from tests.dbs import BACKENDS
from tests.triage.test_reports import (
    MESSAGES,
    TIMEZONE,
    Node,
    assert_inert,
    file_all,
    hostile_message,
    module_db_url,
    parse_html,
    ref_of_message,
    rows,
    section_table,
    settings_for,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
WINDOW = (1280, 2000)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0")
THREAD = ("cu_en_missing_part2_bare", "fu_en_unsigned_part2", "fu_en_signed_part2_completes")
FOLLOW_UP_IDS = ("AM0PR06MB4410B2C1D0E9F8A7@zna.be", "AM0PR06MB4410C3D2E1F0A9B8@zna.be")


def chromium() -> str:
    """Return the Chromium executable, failing the test (never skipping) when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: run scripts/install-test-deps.sh "
                    "(apt-get install -y chromium)", pytrace=False)
    return found


def run_chromium(tmp: Path, page: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a local page with a fresh profile; return its output."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", *action, page.resolve().as_uri()]
    # The time-out only stops a wedged browser from hanging the suite; nothing is timed.
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def console_lines(stderr: str) -> list[str]:
    """Return what the page wrote to the console (errors, CSP refusals, uncaught throws)."""
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line or "Uncaught" in line]


def png_facts(path: Path) -> tuple[int, int, int]:
    """Return a PNG's width, height and the number of distinct byte values of its pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    position, pixels = 8, b""
    width = height = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            pixels += chunk
        position += 12 + length
    return width, height, len(Counter(zlib.decompress(pixels)))


@dataclass(frozen=True)
class Pages:
    """Case pages written from a database filed by the pipeline."""

    backend: str
    thread: Path  # a request, two follow-ups and a reviewer's correction
    hostile: Path  # a request written to attack the page


def write_page(settings: Settings, ref: str, path: Path) -> Path:
    """Render a case page to a file."""
    db = Database.open(settings.database.url)
    try:
        with db.session() as s:
            path.write_text(case_page(s, ref, TIMEZONE, datetime.now(UTC)), encoding="utf-8")
    finally:
        db.dispose()
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def pages(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    """File a request, two follow-ups and a hostile request; a reviewer corrects a value."""
    tmp = tmp_path_factory.mktemp(f"browser-{request.param}")
    for url in module_db_url(request, tmp):
        settings = settings_for(tmp, url)
        rt = open_runtime(settings)
        try:
            messages = [((MESSAGES / f"{n}.eml").read_bytes(), 134 if i == 0 else None)
                        for i, n in enumerate(THREAD)]
            file_all(rt, [*messages, (hostile_message(), None)])
            hostile = ref_of_message(rt, "hostile-1@evil.example")
            # The physician who sends Part 2 is not on the case yet: each follow-up files
            # apart, flagged, until a reviewer merges it (docs/security.md).
            apart = [ref_of_message(rt, m) for m in FOLLOW_UP_IDS]
        finally:
            rt.close()
        assert hostile is not None
        for ref in apart:
            assert ref is not None and ref != "DRG-2026-000134"
            merge = argparse.Namespace(ref="DRG-2026-000134", other=ref, actor="a.peeters")
            assert cmd_cases_merge(merge, settings) == 0
        correction = argparse.Namespace(ref="DRG-2026-000134", field="quantity", value="2",
                                        actor="a.peeters")
        assert cmd_cases_set(correction, settings) == 0
        yield Pages(str(request.param),
                    write_page(settings, "DRG-2026-000134", tmp / "case.html"),
                    write_page(settings, hostile, tmp / "hostile.html"))


def keep(path: Path, name: str) -> None:
    """Keep a file among the test artifacts (test-artifacts/, not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(path, ARTIFACTS / name)


def test_the_console_detector_sees_an_error(tmp_path: Path) -> None:
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><p>control</p><script>throw new Error("boom")</script>',
                    encoding="utf-8")
    found = console_lines(run_chromium(tmp_path, page, "--dump-dom").stderr)
    assert any("Uncaught Error: boom" in line for line in found), found


def test_the_case_page_renders_in_chromium_without_a_console_message(
        tmp_path: Path, pages: Pages) -> None:
    shot = tmp_path / "case.png"
    done = run_chromium(tmp_path, pages.thread, f"--screenshot={shot}")
    assert console_lines(done.stderr) == []
    width, height, distinct = png_facts(shot)
    assert (width, height) == WINDOW
    assert shot.stat().st_size > 50_000 and distinct > 50  # text and colour, not a blank page
    keep(shot, f"case-page-{pages.backend}.png")
    keep(pages.thread, f"case-page-{pages.backend}.html")


def test_the_rendered_page_holds_the_checklist_fields_and_thread(
        tmp_path: Path, pages: Pages) -> None:
    done = run_chromium(tmp_path, pages.thread, "--dump-dom")
    assert console_lines(done.stderr) == []
    rendered, written = parse_html(done.stdout), parse_html(pages.thread.read_text("utf-8"))
    assert_inert(rendered)
    for anchor in ("checklist", "fields", "corrections", "documents", "thread"):
        assert rows(section_table(rendered, anchor)) == rows(section_table(written, anchor))
    checklist = {r[1]: r[0] for r in rows(section_table(rendered, "checklist"))}
    assert checklist["form_part2"] == checklist["physician_signature"] == "✓"
    assert [r[0] for r in rows(section_table(rendered, "corrections"))] == ["quantity"]
    assert len(rows(section_table(rendered, "thread"))) == len(THREAD)


def test_a_hostile_request_stays_inert_in_the_browser(tmp_path: Path, pages: Pages) -> None:
    done = run_chromium(tmp_path, pages.hostile, "--dump-dom")
    assert console_lines(done.stderr) == []
    dom: Node = parse_html(done.stdout)
    assert_inert(dom)
    subtitle = dom.find_all("p", class_="subtitle")[0].text()
    assert subtitle.startswith("<script>alert(1)</script>")
    shot = tmp_path / "hostile.png"
    assert console_lines(run_chromium(tmp_path, pages.hostile, f"--screenshot={shot}").stderr) \
        == []
    keep(shot, f"hostile-page-{pages.backend}.png")
