"""The deployment files: the systemd unit is valid for systemd and keeps its hardening."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "derogation-intake.service"
INSTALLED_BIN = "/opt/derogation-intake/.venv/bin/"


def _unit_at_this_prefix(tmp_path: Path) -> Path:
    """Return the unit with its ExecStart pointing at this checkout's installed command."""
    # systemd-analyze checks that the command exists; everything else is verified as shipped.
    here = str(Path(sys.executable).parent) + "/"
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(INSTALLED_BIN, here))
    return unit


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: scripts/install-test-deps.sh installs systemd"
    done = subprocess.run([analyze, "verify", str(_unit_at_this_prefix(tmp_path))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Unknown or misspelt keys are only warnings for systemd: none may appear.
    assert UNIT.name not in done.stderr, done.stderr


@pytest.mark.parametrize("setting", [
    "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes",
    "User=derogation-intake", "Restart=on-failure", "RestartPreventExitStatus=78",
])
def test_the_unit_keeps_its_hardening(setting: str) -> None:
    assert setting in UNIT.read_text().splitlines()
