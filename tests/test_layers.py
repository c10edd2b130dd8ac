"""The layer contracts of .importlinter hold: no module imports from a layer above its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess:
    """lint-imports run in a checkout (it reads .importlinter there and imports its package from there)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True, text=True, timeout=300)


def test_every_import_points_down():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_from_a_layer_above_breaks_the_contract(tmp_path):
    # The check itself can fail: permissions.py (people layer) importing a feature is refused.
    shutil.copytree(
        ROOT / "school_prevention",
        tmp_path / "school_prevention",
        ignore=shutil.ignore_patterns("__pycache__", "translations"),
    )
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    permissions = tmp_path / "school_prevention" / "permissions.py"
    permissions.write_text(permissions.read_text() + "\nfrom school_prevention.flags.models import RiskFlag  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "school_prevention.permissions -> school_prevention.flags.models" in " ".join(result.stdout.split())
