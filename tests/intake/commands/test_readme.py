"""The README and docs/tuning.md say what happens: their commands exist, their settings load."""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from intake.commands import cli

REPO = Path(__file__).resolve().parents[3]
README = (REPO / "README.md").read_text(encoding="utf-8")
TUNING = (REPO / "docs" / "tuning.md").read_text(encoding="utf-8")
VARIANT = "Brand of the device"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings from the caller's environment; run in a fresh folder."""
    for name in [n for n in os.environ if n.startswith(("DEROGATION_INTAKE_", "INTAKE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def section(text: str, title: str) -> str:
    """Return the text of a '## title' section, up to the next one."""
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def table_commands() -> list[str]:
    """Every command written in the first column of the README's command table."""
    spans = []
    for line in section(README, "Commands").splitlines():
        cells = line.split(" | ")
        if line.startswith("| `derogation-intake ") and len(cells) > 1:
            spans += re.findall(r"`([^`]+)`", cells[0])
    return spans


def command_path(span: str) -> list[str]:
    """'derogation-intake cases list [--status S]' -> ['cases', 'list']."""
    words = span.removeprefix("derogation-intake ").split()
    path = []
    for word in words:
        if not re.fullmatch(r"[a-z]+", word):
            break
        path.append(word)
    return path


def help_of(path: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Return what `derogation-intake PATH --help` prints; fail if it is not a command."""
    with pytest.raises(SystemExit) as stopped:
        cli.main([*path, "--help"])
    shown = capsys.readouterr()
    assert stopped.value.code == 0, f"{' '.join(path)}: {shown.err}"
    return shown.out


def test_every_command_of_the_readme_table_exists_with_its_options(
        capsys: pytest.CaptureFixture[str]) -> None:
    spans = table_commands()
    assert len(spans) >= 20
    for span in spans:
        path = command_path(span)
        assert path, span
        text = help_of(path, capsys)
        assert text.startswith(f"usage: derogation-intake {' '.join(path)}"), span
        for option in re.findall(r"--[a-z][a-z-]*", span.replace("\\|", "|")):
            assert option in text, f"{span}: {option} is not an option of {' '.join(path)}"


def test_the_readme_settings_example_passes_config_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    example = re.search(r"```toml\n(.*?)```", section(README, "Running it on a real mailbox"),
                        re.DOTALL)
    assert example is not None
    path = tmp_path / "intake.toml"
    path.write_text(example.group(1), encoding="utf-8")
    for variable in re.findall(r'password_env = "([A-Z_]+)"', example.group(1)):
        monkeypatch.setenv(variable, "secret-of-the-example")
    assert cli.main(["--config", str(path), "config", "check"]) == 0
    shown = capsys.readouterr()
    assert "secret-of-the-example" not in shown.out + shown.err
    printed = json.loads(shown.out)
    written = tomllib.loads(example.group(1))
    for name, table in written.items():
        tables = table.items() if name == "mailboxes" else [(None, table)]
        for mailbox, keys in tables:
            resolved = printed[name][mailbox] if mailbox else printed[name]
            for key in keys:
                assert key in resolved, f"{name}.{key} of the README is not a setting"
    assert "tls_ca_file" in written["mailboxes"]["famhp"]  # anyone with a private CA needs it


def test_the_worked_example_of_the_tuning_guide_replays_with_the_shipped_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = REPO / "docs" / "example" / "request.eml"
    assert "docs/example/request.eml" in TUNING and request.is_file()
    assert "cp -r docs/example/labelled labelled" in TUNING
    copy = Path(shutil.copytree(REPO / "config" / "profiles" / "famhp", tmp_path / "try" / "famhp"))
    rules = copy / "extraction.toml"
    assert VARIANT not in rules.read_text(encoding="utf-8")  # no label of the shipped rules

    assert cli.main(["rules", "test", str(request), "--profile", str(copy)]) == 0
    before = capsys.readouterr().out
    near = re.search(r"^    near miss: printed label \"Brand of the device\" .*$", before, re.M)
    assert near is not None and near.group(0) in TUNING

    rules.write_text(rules.read_text(encoding="utf-8").replace(
        '"Medical device"]', f'"Medical device",\n      "{VARIANT}"]', 1), encoding="utf-8")
    assert cli.main(["rules", "validate", str(copy)]) == 0
    capsys.readouterr()
    assert cli.main(["rules", "test", str(request), "--profile", str(copy)]) == 0
    found = re.search(r"device_name = 'PulmoValve Junior'  \[rule (\S+) ", capsys.readouterr().out)
    assert found is not None
    assert f"device_name = 'PulmoValve Junior'  [rule {found.group(1)} " in TUNING
