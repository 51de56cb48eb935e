"""The process supervisor behind ``rundemo``, with stub children instead of the real servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devserver.conftest import REPO, free_port
from webmail.devserver.supervisor import port_in_use

# A child that listens on a port, writes its pid, and sleeps; "stubborn" ignores SIGTERM.
CHILD = """
import os, signal, socket, sys, time
port, pidfile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
open(pidfile, "w").write(str(os.getpid()))
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if port:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen()
if mode == "dies":
    time.sleep(0.5); sys.exit(3)
while True:
    time.sleep(0.1)
"""

DRIVER = """
import json, sys
from pathlib import Path
from webmail.devserver.supervisor import Child, Supervisor
spec = json.loads(sys.argv[1])
children = [Child(c["name"], [sys.executable, "-c", spec["child"], *c["args"]],
                  ready_ports=c["ports"]) for c in spec["children"]]
sys.exit(Supervisor(children, env={"PATH": "/usr/bin:/bin"}, cwd=Path("."),
                    start_timeout=spec["start_timeout"], stop_timeout=1.0).run("BANNER-UP"))
"""


Drivers = list[subprocess.Popen[str]]


@pytest.fixture
def drivers() -> Iterator[Drivers]:
    """Driver processes of a test; stopped (with their children) even if the test fails."""
    started: Drivers = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def _driver(drivers: Drivers, tmp_path: Path,
            children: list[dict[str, object]], start_timeout: float = 10.0,
            ) -> subprocess.Popen[str]:
    spec = json.dumps({"child": CHILD, "children": children, "start_timeout": start_timeout})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, spec], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    drivers.append(proc)
    return proc


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout: float = 15.0) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if needle in line:
            return seen
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{needle!r} not printed; output so far:\n{seen}")


def _pid(path: Path, timeout: float = 10.0) -> int:
    """The pid a stub child wrote (children without a ready port may still be starting)."""
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path.name} was never written"
        time.sleep(0.05)
    return int(path.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigint_stops_every_child_even_a_stubborn_one(tmp_path: Path, drivers: Drivers) -> None:
    port = free_port()
    proc = _driver(drivers, tmp_path, [
        {"name": "server", "args": [str(port), "a.pid", "plain"], "ports": [port]},
        {"name": "stubborn", "args": ["0", "b.pid", "stubborn"], "ports": []},
    ])
    _wait_line(proc, "BANNER-UP")
    pids = [_pid(tmp_path / name) for name in ("a.pid", "b.pid")]
    assert all(_alive(pid) for pid in pids)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "stubborn did not stop in time; killing it" in out
    assert not any(_alive(pid) for pid in pids)
    assert not port_in_use("127.0.0.1", port)


def test_a_child_that_dies_stops_the_others_and_fails(tmp_path: Path, drivers: Drivers) -> None:
    proc = _driver(drivers, tmp_path, [
        {"name": "steady", "args": ["0", "a.pid", "plain"], "ports": []},
        {"name": "fragile", "args": ["0", "b.pid", "dies"], "ports": []},
    ])
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert "fragile exited with status 3" in out
    assert not _alive(_pid(tmp_path / "a.pid"))


def test_a_port_that_never_opens_is_a_startup_error(tmp_path: Path, drivers: Drivers) -> None:
    port = free_port()
    proc = _driver(drivers, tmp_path, [{"name": "mute", "args": ["0", "a.pid", "plain"],
                               "ports": [port]}], start_timeout=1.0)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert f"mute did not open port {port}" in out
    assert "BANNER-UP" not in out
    assert not _alive(_pid(tmp_path / "a.pid"))


def test_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", port)


def test_sigterm_is_forwarded_too(tmp_path: Path, drivers: Drivers) -> None:
    port = free_port()
    proc = _driver(drivers, tmp_path, [{"name": "server", "args": [str(port), "a.pid", "plain"],
                               "ports": [port]}])
    _wait_line(proc, "BANNER-UP")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "stopping server" in out
    assert not _alive(_pid(tmp_path / "a.pid"))


def test_children_are_stopped_even_when_the_terminal_is_gone(
        tmp_path: Path, drivers: Drivers) -> None:
    port = free_port()
    proc = _driver(drivers, tmp_path, [{"name": "server", "args": [str(port), "a.pid", "plain"],
                                        "ports": [port]}])
    _wait_line(proc, "BANNER-UP")
    assert proc.stdout is not None
    proc.stdout.close()  # every later message of the supervisor hits a broken pipe
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=15)
    assert not _alive(_pid(tmp_path / "a.pid"))
    assert not port_in_use("127.0.0.1", port)
