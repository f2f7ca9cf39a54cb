"""The start-up scripts stop on a failed migration instead of starting on a half-migrated database.

Each script is copied into a scratch tree where every program it runs is a stub that logs its
arguments; the stub python fails `manage.py migrate`. Nothing real is installed or started.
"""
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$STUB_LOG"
case "$*" in *"manage.py migrate"*) echo "django.db.utils.OperationalError: boom" >&2; exit 1 ;; esac
case "$(basename "$0") $*" in *"pg.sh url"*|*"redis.sh url"*) echo "stub://url" ;; esac
exit 0
"""


def _stub(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STUB)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _scratch_tree(tmp_path: Path, script: str, stubs: list[str]) -> Path:
    (tmp_path / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / script, tmp_path / "scripts" / script)
    for name in stubs + [".venv/bin/python", ".venv/bin/honcho", "scripts/install.sh"]:
        _stub(tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("script, args, stubs, never", [
    ("run.sh", [], [], ["ensure_admin", "honcho"]),
    ("lab.sh", ["up"], ["scripts/pg.sh", "scripts/redis.sh", "scripts/lab/hosts.sh", "scripts/lab/redfish.sh",
                        "scripts/lab/ipmi.sh", "scripts/lab/slurm.sh", "scripts/lab/salt.sh"],
     ["ensure_admin", "lab_register", "lab_register_clusters", "lab_settings"]),
    ("screenshots.sh", [], ["scripts/pg.sh", "scripts/redis.sh"], ["devtools.screenshots"]),
])
def test_a_failed_migration_stops_the_script(tmp_path, script, args, stubs, never):
    tree = _scratch_tree(tmp_path / "tree", script, stubs)
    log = tmp_path / "calls.log"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "STUB_LOG": str(log), "LAB_DIR": str(tmp_path / "lab")}
    result = subprocess.run(["bash", str(tree / "scripts" / script), *args], cwd=tree, env=env,
                            capture_output=True, text=True, timeout=60)
    calls = log.read_text()
    assert "manage.py migrate" in calls, calls
    assert result.returncode != 0, f"{script} went on after a failed migration:\n{calls}\n{result.stdout}"
    assert "boom" in result.stderr
    for step in never:
        assert step not in calls, f"{script} ran {step} after a failed migration:\n{calls}"
