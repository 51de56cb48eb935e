"""Run a few child processes together (the ``rundemo`` set) and stop them together.

Each child gets its own process group, so stopping it also stops what it forked (Django's
autoreloader, Celery's pool). Ctrl-C or SIGTERM to the supervisor is forwarded to every child
as SIGTERM, in reverse start order; a child that ignores it is killed after a grace period.
If one child dies on its own, the others are stopped and the supervisor reports which one.
No Django here: the management command builds the child list.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

__all__ = ["Child", "StartupError", "Supervisor", "port_in_use", "wait_for_port"]


@dataclass(frozen=True)
class Child:
    name: str
    argv: Sequence[str]
    ready_ports: Sequence[int] = field(default_factory=tuple)  # open once the child is up


class StartupError(RuntimeError):
    """A child did not come up (it exited, or its port never opened)."""


def port_in_use(host: str, port: int) -> bool:
    """True if something listens on (or holds) ``host:port``, so a server could not bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float,
                  alive: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until ``host:port`` accepts connections; False on timeout or if ``alive`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _accepts(host, port):
            return True
        if alive is not None and alive.poll() is not None:
            return False
        time.sleep(0.1)
    return False


class Supervisor:
    """Start children in order, wait for their ports, watch them, stop them on a signal."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        env: Mapping[str, str],
        cwd: Path,
        host: str = "127.0.0.1",
        out: TextIO = sys.stdout,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.children = list(children)
        self.env = dict(env)
        self.cwd = cwd
        self.host = host
        self.out = out
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stop_signal: int | None = None

    def _say(self, text: str) -> None:
        # A closed terminal or pipe must never keep the children from being stopped.
        try:
            print(text, file=self.out, flush=True)
        except (OSError, ValueError):
            pass

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signum

    def start(self) -> None:
        """Start every child in order, waiting for each one's ports.

        Raises:
            StartupError: a child exited or its ports did not open in time.
            InterruptedError: a stop signal arrived during the start.
        """
        for child in self.children:
            if self._stop_signal is not None:
                raise InterruptedError("stopped while starting")
            self._say(f"[rundemo] starting {child.name}: {' '.join(child.argv)}")
            proc = subprocess.Popen(list(child.argv), env=self.env, cwd=self.cwd,
                                    start_new_session=True)
            self.procs[child.name] = proc
            for port in child.ready_ports:
                if not wait_for_port(self.host, port, self.start_timeout, alive=proc):
                    if self._stop_signal is not None:
                        raise InterruptedError("stopped while starting")
                    code = proc.poll()
                    why = f"exited with status {code}" if code is not None else \
                        f"did not open port {port} within {self.start_timeout:.0f} s"
                    raise StartupError(f"{child.name} {why}")

    def stop(self) -> None:
        """Stop all children: SIGTERM to each process group, then SIGKILL after the grace."""
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                self._say(f"[rundemo] stopping {name}")
                self._signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                self._say(f"[rundemo] {name} did not stop in time; killing it")
                self._signal_group(proc, signal.SIGKILL)
                proc.wait()
            # whatever the child left in its group (a reloader's worker, a pool process)
            self._signal_group(proc, signal.SIGKILL)

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # the child leads its own session, so pgid == pid
        except ProcessLookupError:
            pass

    def run(self, banner: str = "") -> int:
        """Start, print ``banner``, watch until a signal or a child's death; then stop all.

        Returns 0 after a requested stop, 1 if a child failed or died on its own.
        """
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                self.start()
            except InterruptedError:
                return 0
            except StartupError as exc:
                self._say(f"[rundemo] error: {exc}")
                return 1
            if banner:
                self._say(banner)
            while self._stop_signal is None:
                for name, proc in self.procs.items():
                    code = proc.poll()
                    if code is not None:
                        self._say(f"[rundemo] error: {name} exited with status {code}; "
                                  "stopping the others")
                        return 1
                time.sleep(0.2)
            return 0
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
