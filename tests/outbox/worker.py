"""A real Celery worker subprocess for end-to-end outbox tests.

The worker runs ``celery -A webmail worker --pool=solo`` with the environment pointing at the
same test database as the test process (pytest-django's test DB, committed data: tests use
``django_db(transaction=True)``) and at a queue of its own, so parallel pytest-xdist workers
never take each other's tasks. The test process publishes to that queue too (``route_here``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 40.0


def database_url() -> str:
    """DATABASE_URL of the test database this process uses.

    Raises:
        RuntimeError: for an in-memory SQLite test database, which no other process can open
            (set ``DATABASES["default"]["TEST"]["NAME"]`` to a file, or use PostgreSQL).
    """
    settings = connection.settings_dict
    engine = settings["ENGINE"]
    name = str(settings["NAME"])
    if engine.endswith("postgresql"):
        user = quote(str(settings.get("USER") or ""), safe="")
        password = quote(str(settings.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings.get("HOST") or "127.0.0.1"
        port = settings.get("PORT") or "5432"
        return f"postgres://{auth}{host}:{port}/{name}"
    if engine.endswith("sqlite3"):
        if name == ":memory:" or name.startswith("file:memorydb") or "mode=memory" in name:
            raise RuntimeError(
                "the worker tests need a test database another process can open; with SQLite "
                "set DATABASES['default']['TEST']['NAME'] to a file in tests/settings.py, or "
                "run with DATABASE_URL=postgres://...")
        return f"sqlite:///{name}"
    raise RuntimeError(f"no worker support for database engine {engine}")


def route_here(queue: str) -> dict[str, Any]:
    """Point this process's Celery publishes at ``queue``; returns the old settings."""
    from webmail.celery import app

    conf = app.conf
    old = {k: conf[k] for k in ("task_default_queue", "task_default_exchange",
                                "task_default_routing_key")}
    conf.update(task_default_queue=queue, task_default_exchange=queue,
                task_default_routing_key=queue)
    # Celery caches the queue objects on first use; drop them so the new names apply.
    for name in ("queues", "default_queue", "router", "default_exchange"):
        app.amqp.__dict__.pop(name, None)
    return old


def restore_route(old: dict[str, Any]) -> None:
    from webmail.celery import app

    for key, value in old.items():
        app.conf[key] = value
    for name in ("queues", "default_queue", "router", "default_exchange"):
        app.amqp.__dict__.pop(name, None)


class CeleryWorker:
    """Start, stop and kill one ``celery worker`` process on a private queue."""

    def __init__(self, queue: str | None = None, **env: str) -> None:
        self.queue = queue or f"webmail-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.extra_env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])
        self.starts = 0

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "DATABASE_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self) -> CeleryWorker:
        if self.running:
            return self
        self.starts += 1
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webmail", "worker", "--pool=solo",
             "-Q", self.queue, "-n", f"{self.queue}-{self.starts}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            cwd=REPO, env=self.environment(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited at start:\n{self.log_tail()}")
            with self.log_path.open("rb") as f:
                f.seek(offset)
                if b" ready." in f.read():
                    return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"celery worker not ready in {READY_TIMEOUT}s:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-whatever, like a lost machine."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        """A warm shutdown (SIGTERM); SIGKILL if it does not end in time."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.contextmanager
def running_worker(**env: str) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(**env)
    old = route_here(worker.queue)
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()
        restore_route(old)
        with contextlib.suppress(OSError):
            worker.log_path.unlink()


class PrivateRedis:
    """A redis-server of the test's own on a free port, so restarting it (a fault test)
    never disturbs the machine's Redis that the other tests and xdist workers use."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError(f"private redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        """Stop without saving and start again: everything queued in it is gone."""
        self.stop()
        self.start()


def _reset_publisher(url: str) -> str:
    from webmail.celery import app

    old = str(app.conf.broker_url)
    app.conf.broker_url = url
    app._pool = None  # the connection pool and producer pool are cached per broker URL
    app.amqp._producer_pool = None
    return old


@contextlib.contextmanager
def private_broker() -> Iterator[PrivateRedis]:
    """A private Redis, with this process's publishes pointed at it for the block."""
    server = PrivateRedis()
    server.start()
    old = _reset_publisher(server.url)
    try:
        yield server
    finally:
        _reset_publisher(old)
        server.stop()
