"""``manage.py rundemo`` and ``devmailserver`` as a newcomer runs them (subprocesses)."""

from __future__ import annotations

import http.client
import imaplib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.devserver.conftest import REPO, free_port
from webmail.devserver.supervisor import port_in_use, wait_for_port

# What the test settings or CI put in the environment must not leak into the demo.
_NOT_INHERITED = ("REDIS_URL", "CELERY_BROKER_URL", "CACHE_URL", "DATABASE_URL", "DEBUG",
                  "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS", "SECURE_COOKIES")


def _demo_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in _NOT_INHERITED and not k.startswith("WEBMAIL_")}
    env.update(DEBUG="1", WEBMAIL_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    return env


def _manage(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "manage.py"), *args]


def test_rundemo_refuses_a_taken_port_before_doing_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            _manage("rundemo", "--web-port", str(port), "--imap-port", str(free_port()),
                    "--smtp-port", str(free_port())),
            env=_demo_env(tmp_path / "var"), cwd=REPO, capture_output=True, text=True,
            timeout=60, check=False,
        )
    assert done.returncode != 0
    assert f"The web port 127.0.0.1:{port} is already in use" in done.stderr
    # nothing was migrated or seeded (Django itself may create the file cache directory)
    assert not (tmp_path / "var" / "webmail.sqlite3").exists()
    assert not (tmp_path / "var" / "devmail").exists()


def test_devmailserver_command_seeds_and_serves(tmp_path: Path) -> None:
    imap, smtp = free_port(), free_port()
    proc = subprocess.Popen(
        _manage("devmailserver", "--imap-port", str(imap), "--smtp-port", str(smtp)),
        env=_demo_env(tmp_path), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for_port("127.0.0.1", smtp, 60, alive=proc), proc.stdout and proc.stdout.read()
        client = imaplib.IMAP4("127.0.0.1", imap, timeout=10)
        client.login("carol@example.test", "carol-demo")
        assert client.select("INBOX")[0] == "OK"
        client.logout()
        assert (tmp_path / "devmail" / ".demo-seeded").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    assert proc.returncode == 0


@pytest.mark.worker
def test_rundemo_runs_the_whole_demo_and_stops_cleanly(tmp_path: Path) -> None:
    web, imap, smtp = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        _manage("rundemo", "--web-port", str(web), "--imap-port", str(imap),
                "--smtp-port", str(smtp), "--noreload"),
        env=_demo_env(tmp_path / "var"), cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    output = ""
    try:
        deadline = time.monotonic() + 90
        while f"Open http://127.0.0.1:{web} and sign in as alice@example.test" not in output:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"rundemo ended early:\n{output}"
            assert time.monotonic() < deadline, f"no banner:\n{output}"
            output += line
        client = imaplib.IMAP4("127.0.0.1", imap, timeout=10)
        client.login("alice@example.test", "alice-demo")
        client.logout()
        conn = http.client.HTTPConnection("127.0.0.1", web, timeout=30)
        conn.request("GET", "/login/")
        assert conn.getresponse().status == 200
        conn.close()
        assert (tmp_path / "var" / "webmail.sqlite3").exists()  # migrated
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    output += rest
    assert proc.returncode == 0, output
    for name in ("web server", "celery beat", "celery worker", "mail server"):
        assert f"[rundemo] stopping {name}" in output
    assert not any(port_in_use("127.0.0.1", port) for port in (web, imap, smtp))
