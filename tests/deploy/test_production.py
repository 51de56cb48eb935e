"""Production settings: `check --deploy` is clean, static files are hashed and cached forever.

Everything runs in subprocesses with a production environment (DEBUG off, real secret,
HTTPS behind a TLS proxy), the way the container runs, never with the test settings.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "mail.example.org"


def production_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a production container, with SQLite and no Redis under ``tmp``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "PYTEST_", "SENTRY_", "LOG_", "SECURE_", "DEBUG",
                                "CACHE_", "REDIS_", "CELERY_", "DATABASE_", "STATIC_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "webmail.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": HOST,
        "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
        "SECURE_COOKIES": "1",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
        "BEHIND_TLS_PROXY": "1",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "WEBMAIL_VAR_DIR": str(tmp / "var"),
        "STATIC_ROOT": str(tmp / "static"),
    })
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_check_deploy_is_clean_with_the_production_environment(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_the_hsts_opt_ins_only_the_hsts_opt_ins_are_reported(tmp_path: Path) -> None:
    # includeSubDomains and preload are commitments for the whole domain, so they are opt-in
    # (docs/operations.md); nothing else may be left for an operator to find.
    env = production_env(tmp_path)
    del env["SECURE_HSTS_INCLUDE_SUBDOMAINS"], env["SECURE_HSTS_PRELOAD"]
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 1
    assert sorted(set(re.findall(r"\((\w+\.\w+)\)", result.stderr))) == [
        "security.W005", "security.W021"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_a_required_setting(tmp_path: Path,
                                                                missing: str) -> None:
    env = production_env(tmp_path)
    if missing == "SECRET_KEY":
        del env["SECRET_KEY"]
        expected = "SECRET_KEY must be set"
    else:
        env["ALLOWED_HOSTS"] = ""
        expected = "ALLOWED_HOSTS must not be empty"
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert expected in result.stderr


def test_healthcheck_script_fails_when_nothing_answers(tmp_path: Path) -> None:
    check = subprocess.run(
        [sys.executable, "docker/healthcheck.py"], cwd=REPO,
        env={**production_env(tmp_path), "HEALTHCHECK_PORT": str(_free_port())},
        capture_output=True, text=True, timeout=30, check=False)
    assert check.returncode == 1
    assert "healthz:" in check.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listened on {port} within {timeout}s")


@pytest.fixture
def collected(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    env = production_env(tmp_path)
    result = manage(env, "collectstatic", "--noinput")
    assert result.returncode == 0, result.stderr
    yield env, Path(env["STATIC_ROOT"])


def test_collectstatic_writes_hashed_and_compressed_files(
        collected: tuple[dict[str, str], Path]) -> None:
    _env, root = collected
    manifest = json.loads((root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["css/app.css"]
    assert re.fullmatch(r"css/app\.[0-9a-f]{12}\.css", hashed)
    assert (root / hashed).is_file()
    assert (root / (hashed + ".gz")).is_file()


def test_gunicorn_serves_hashed_static_files_with_a_far_future_cache_header(
        collected: tuple[dict[str, str], Path]) -> None:
    env, root = collected
    hashed = json.loads((root / "staticfiles.json").read_text())["paths"]["css/app.css"]
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "webmail.wsgi:application", "-b", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "2"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, proc)

        def get(path: str, **headers: str) -> http.client.HTTPResponse:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers={"Host": HOST, "X-Forwarded-Proto": "https",
                                               "Accept-Encoding": "gzip", **headers})
            response = conn.getresponse()
            response.read()
            conn.close()
            return response

        response = get(f"/static/{hashed}")
        assert response.status == 200
        cache_control = response.getheader("Cache-Control") or ""
        assert "immutable" in cache_control
        max_age = int(re.search(r"max-age=(\d+)", cache_control).group(1))  # type: ignore[union-attr]
        assert max_age >= 365 * 24 * 3600
        assert response.getheader("Content-Encoding") == "gzip"
        assert response.getheader("Strict-Transport-Security") == (
            "max-age=31536000; includeSubDomains; preload")
        assert response.getheader("X-Request-ID")
        # The unhashed name is served too, but must not be cached for long.
        plain = get("/static/css/app.css")
        assert plain.status == 200
        assert "immutable" not in (plain.getheader("Cache-Control") or "")
        # Plain HTTP (no TLS proxy header) is sent to HTTPS.
        insecure = get("/login/", **{"X-Forwarded-Proto": "http"})
        assert insecure.status == 301
        assert insecure.getheader("Location") == f"https://{HOST}/login/"
        # The image's HEALTHCHECK asks /healthz the way the proxy would, and passes.
        check = subprocess.run(
            [sys.executable, "docker/healthcheck.py"], cwd=REPO,
            env={**env, "HEALTHCHECK_PORT": str(port)}, capture_output=True, text=True,
            timeout=30, check=False)
        assert check.returncode == 0, check.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)
