"""scripts/pg.sh as root changes no permission outside its own directory: with PG_DIR below a
directory the postgres user cannot enter (a checkout under /root, say) the cluster lives in a
directory of the postgres user's own, and every parent keeps its mode."""
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from devtools.processes import free_port

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not (PG_BIN / "pg_ctl").exists() or shutil.which("runuser") is None,
                                reason="needs root and PostgreSQL 15 (scripts/install.sh test)")


def _modes(path: Path) -> dict[str, tuple[int, int]]:
    """(mode, owner) of path and every parent."""
    return {str(p): (p.stat().st_mode, p.stat().st_uid) for p in [path, *path.parents]}


def test_pg_below_an_unreachable_directory_starts_without_changing_permissions(tmp_path):
    locked = tmp_path / "root-only"
    locked.mkdir(mode=0o700)
    pg_dir = locked / "var" / "pg"
    env = {**os.environ, "PG_DIR": str(pg_dir), "PG_PORT": str(free_port()), "PG_PASSWORD": "pg-script-test"}
    before = _modes(locked)

    def pg(*args):
        return subprocess.run([str(REPO / "scripts" / "pg.sh"), *args], env=env, capture_output=True, text=True,
                              timeout=60)

    where = Path(pg("where").stdout.strip())
    assert where.parent == Path("/var/lib/postgresql/aimatrix"), where
    try:
        started = pg("start")
        assert started.returncode == 0, started.stderr + started.stdout
        with psycopg.connect(pg("url").stdout.strip(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (pg_dir / "cluster").resolve() == where
        assert _modes(locked) == before, "pg.sh changed the permissions of a directory above PG_DIR"
        assert where.stat().st_mode & 0o077 == 0 and where.owner() == "postgres"
        assert pg("stop").returncode == 0
        assert pg("status").returncode == 1
    finally:
        pg("stop")
        shutil.rmtree(where, ignore_errors=True)
