"""docker/migrate.py: the web container's migrations, safe when several start at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.deploy.freshdb import fresh_database, suite_uses_postgresql

REPO = Path(__file__).resolve().parents[2]


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update({"DATABASE_URL": database_url, "SECRET_KEY": "migrate-test-" + "k" * 50,
                "DEBUG": "0", "WEBMAIL_VAR_DIR": str(tmp_path / "var"), "CACHE_URL": "locmem://",
                "LOG_FORMAT": "plain"})
    return env


def _unapplied(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "migrate", "--check"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_migrate_script_applies_every_migration(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        env = _env(url, tmp_path)
        assert _unapplied(env).returncode != 0  # a fresh database has everything to do
        result = subprocess.run([sys.executable, "docker/migrate.py"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        check = _unapplied(env)
        assert check.returncode == 0, check.stdout + check.stderr


def test_three_containers_migrating_at_once_all_succeed(tmp_path: Path) -> None:
    # The advisory lock is PostgreSQL's, and CI runs on PostgreSQL; SQLite deployments are
    # single-process (see docker/migrate.py).
    assert suite_uses_postgresql(), "this test needs the suite on PostgreSQL (DATABASE_URL)"
    with fresh_database(tmp_path) as url:
        env = _env(url, tmp_path)
        procs = [subprocess.Popen([sys.executable, "docker/migrate.py"], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        outputs = [proc.communicate(timeout=300) for proc in procs]
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, out[-2000:] + err[-3000:]
        assert _unapplied(env).returncode == 0
        # Each migration was applied by exactly one of them; the others found it done.
        applied = sum(out.count("... OK") for out, _err in outputs)
        plan = subprocess.run([sys.executable, "manage.py", "showmigrations", "--plan"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                              check=True).stdout
        assert applied == plan.count("[X]") > 0
