"""A running workspace for the tests: messages filed by the real pipeline, accounts added with
the real command, and `derogation-intake serve` started as a real process on a free port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from config.settings import load_settings
from intake.runtime import open_runtime
from storage.db import Database
from storage.models import Case, CaseMessage, Document
from tests.servers import HOST, free_port, port_open
from tests.triage.test_reports import (
    MESSAGES,
    file_all,
    hostile_message,
    module_db_url,
    ref_of_message,
    settings_for,
)

REPO = Path(__file__).resolve().parents[3]
# A request whose Part 2 is missing, and a Part 2 that came alone without the reference.
FIRST, SECOND = "cu_en_missing_part2_bare", "cu_en_part2_only"
FIRST_PART1 = "FlowGuard_ND_Part1.pdf"
SECOND_PART2 = "Part2_UZGent_signed.pdf"
PASSWORDS = {"ann": "ann's long passphrase", "vic": "vic's long passphrase",
             "ada": "ada's long passphrase"}
ACCOUNT_ROLES = {"ann": "reviewer", "vic": "viewer", "ada": "administrator"}
DECISION_DAYS = 60


@dataclass
class Running:
    """A workspace being served, with what the tests need to find their way in it."""

    base: str
    url: str  # the database
    config: Path
    tmp: Path
    first: str  # case references
    second: str
    hostile: str
    token: str  # ann's API token
    log: Path

    def database(self) -> Database:
        """Open the workspace's database."""
        return Database.open(self.url)

    def ids(self, ref: str) -> tuple[list[int], list[int]]:
        """Return the ids of a case's documents and messages."""
        db = self.database()
        try:
            with db.session() as s:
                case_id = s.scalars(select(Case.id).where(Case.ref == ref)).one()
                docs = list(s.scalars(select(Document.id).where(Document.case_id == case_id)))
                msgs = list(s.scalars(select(CaseMessage.id)
                                      .where(CaseMessage.case_id == case_id)))
                return docs, msgs
        finally:
            db.dispose()


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `derogation-intake --config … ARGS` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "intake.commands.cli", "--config", str(config),
                           *args], capture_output=True, text=True, cwd=REPO, timeout=300,
                          check=False)


def write_web_settings(tmp: Path, url: str, port: int) -> Path:
    """Write settings for the pipeline and the workspace (port, key file, decision target)."""
    settings_for(tmp, url)
    key = tmp / "web-secret"
    key.write_text("a test key that signs the forms\n", encoding="utf-8")
    path = tmp / "settings.toml"
    path.write_text(path.read_text(encoding="utf-8") + f"""
[web]
port = {port}
secret_key_file = "{key}"
decision_days = ["famhp={DECISION_DAYS}"]
login_attempts = 3
""", encoding="utf-8")
    return path


def file_messages(config: Path) -> tuple[str, str, str]:
    """File the two requests and a hostile one with the real pipeline; return their refs."""
    rt = open_runtime(load_settings(config, env={}))
    try:
        file_all(rt, [((MESSAGES / f"{FIRST}.eml").read_bytes(), 134),
                      ((MESSAGES / f"{SECOND}.eml").read_bytes(), None),
                      (hostile_message(), None)])
        refs = (ref_of_message(rt, "b7e1d3f0a9c84e21@neurovasc-dynamics.de"),
                ref_of_message(rt, "AM6PR04MB5123C9D8E7F6A5B4@uzgent.be"),
                ref_of_message(rt, "hostile-1@evil.example"))
    finally:
        rt.close()
    assert None not in refs, refs
    return str(refs[0]), str(refs[1]), str(refs[2])


def add_accounts(config: Path, tmp: Path) -> str:
    """Add the three accounts with `users add` and issue ann's token; return the token."""
    for name, password in PASSWORDS.items():
        secret = tmp / f"{name}.password"
        secret.write_text(password + "\n", encoding="utf-8")
        done = cli(config, "users", "add", name, "--role", ACCOUNT_ROLES[name],
                   "--password-file", str(secret))
        assert done.returncode == 0, done.stderr
    done = cli(config, "users", "token", "ann")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token), token
    return token


def serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start `derogation-intake serve` and wait until it accepts connections."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "intake.commands.cli", "--config", str(config), "serve"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 120  # a safety net for a wedged start, not a timing
    while not port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    return process


def running_workspace(request: pytest.FixtureRequest, tmp: Path) -> Iterator[Running]:
    """Fill a database on the requested backend and serve the workspace over it."""
    for url in module_db_url(request, tmp):
        port = free_port()
        config = write_web_settings(tmp, url, port)
        first, second, hostile = file_messages(config)
        token = add_accounts(config, tmp)
        log = tmp / "serve.log"
        process = serve(config, port, log)
        try:
            yield Running(f"http://{HOST}:{port}", url, config, tmp, first, second, hostile,
                          token, log)
        finally:
            process.terminate()
            process.wait(timeout=30)


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form of a page."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def logged_in(running: Running, name: str) -> httpx.Client:
    """Return an HTTP client logged in as one of the accounts."""
    client = httpx.Client(base_url=running.base, follow_redirects=False, timeout=60)
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"name": name, "password": PASSWORDS[name],
                                         "csrf": token, "next": "/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return client
