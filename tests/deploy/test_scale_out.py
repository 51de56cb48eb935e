"""Scale-out on one machine: two web processes behind one address, two Celery workers.

Real processes, the way production runs them: gunicorn (2 threads each) behind a small
round-robin proxy, two ``celery -A webmail worker`` on the test Redis with a queue of their
own, a fresh database on the suite's server (PostgreSQL in CI), the test Dovecot and Postfix.
Several personas sign in through the proxy and send a few hundred messages with the compose
form; then every recipient row must be ``accepted`` and each message must sit exactly once in
each recipient's INBOX (counted by Message-ID). Sessions must work on either web process, both
web processes must have served sends, and both workers must have delivered.
"""

from __future__ import annotations

import collections
import contextlib
import html
import http.client
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from django.conf import settings

from tests.deploy.freshdb import fresh_database
from tests.infra import mailstack

pytestmark = [pytest.mark.xdist_group("scale-out"), pytest.mark.worker]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SENDERS = 4
RECIPIENTS = 4
MESSAGES_PER_SENDER = 50  # 200 messages, each to two recipients: 400 deliveries
DEADLINE = 100.0  # seconds for all deliveries to be accepted and to arrive


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listened on {port} within {timeout}s")


# ------------------------------------------------------------------------------------------
# The proxy: one address, requests handed to the backends in turn.
# ------------------------------------------------------------------------------------------

class RoundRobinProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self._lock = threading.Lock()
        self.served: collections.Counter[tuple[int, str, str]] = collections.Counter()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def pick(self) -> int:
        with self._lock:
            return self.backends[next(self._next)]

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RoundRobinProxy

    def _forward(self) -> None:
        backend = self.server.pick()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in {"connection", "keep-alive", "content-length"}}
        conn = http.client.HTTPConnection("127.0.0.1", backend, timeout=60)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        self.server.served[(backend, self.command, self.path.split("?")[0])] += 1
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in {"connection", "keep-alive", "transfer-encoding",
                                   "content-length"}:
                self.send_header(key, value)
        self.send_header("X-Backend", str(backend))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _forward
    do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


# ------------------------------------------------------------------------------------------
# A browser-ish client: cookies, CSRF token, no redirect following.
# ------------------------------------------------------------------------------------------

@dataclass
class Browser:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    backends_seen: set[str] = field(default_factory=set)

    def request(self, method: str, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.port}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                jar: SimpleCookie = SimpleCookie()
                jar.load(value)
                for name, morsel in jar.items():
                    if morsel["max-age"] == "0" or not morsel.value:
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            self.backends_seen.add(response.getheader("X-Backend") or "?")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, text
        finally:
            conn.close()

    def csrf(self, page: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, page[:2000]
        return match.group(1)


def sign_in(browser: Browser, address: str) -> None:
    status, _headers, page = browser.request("GET", "/login/")
    assert status == 200, page[:2000]
    status, headers, page = browser.request("POST", "/login/", {
        "username": address, "password": mailstack.PASSWORD,
        "csrfmiddlewaretoken": browser.csrf(page)})
    assert status == 302, page[:3000]
    assert headers["location"] == "/"


def compose_csrf(browser: Browser) -> str:
    """Open the compose page once; its CSRF token serves every later POST of the session."""
    status, _headers, page = browser.request("GET", "/compose/")
    assert status == 200, page[:2000]
    assert 'name="token"' in page and 'name="from_email"' in page
    return browser.csrf(page)


def send(browser: Browser, csrf: str, sender: str, to: str, cc: str, subject: str) -> str:
    """POST /compose/ like the form does; returns the outbox URL it redirects to."""
    status, headers, page = browser.request("POST", "/compose/", {
        "csrfmiddlewaretoken": csrf,
        "token": secrets.token_hex(16),  # one compose session per message
        "from_email": sender, "to": to, "cc": cc, "bcc": "",
        "subject": subject, "format": "plain",
        "body": f"{subject}\n\nSent through the scale-out test.\n", "body_html": "",
    })
    assert status == 302, html.unescape(page)[:3000]
    location = headers["location"]
    assert re.fullmatch(r"/outbox/\d+/", location), location
    return location


# ------------------------------------------------------------------------------------------
# The processes
# ------------------------------------------------------------------------------------------

@dataclass
class Stack:
    proxy: RoundRobinProxy
    web_ports: list[int]
    worker_pids: list[int]
    database_url: str
    env: dict[str, str]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def stack(tmp_path: Path, mail_stack: None) -> Iterator[Stack]:
    run_id = secrets.token_hex(4)
    queue = f"scale-out-{run_id}"
    redis_url = settings.CELERY_BROKER_URL
    assert redis_url.startswith("redis://"), redis_url
    logs = tmp_path / "logs"
    logs.mkdir()
    with fresh_database(tmp_path) as database_url:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DJANGO_", "PYTEST_", "CELERY_", "CACHE_", "SENTRY_"))}
        env.update({
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # the entrypoint's python
            "DJANGO_SETTINGS_MODULE": "webmail.settings",
            "DEBUG": "0",
            "SECRET_KEY": "scale-out-test-" + secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_COOKIES": "0",  # plain http on loopback
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": f"scale-{run_id}",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "WEBMAIL_VAR_DIR": str(tmp_path / "var"),  # shared by both web processes
            "STATIC_ROOT": str(tmp_path / "static"),
            "WEBMAIL_IMAP_HOST": mailstack.HOST,
            "WEBMAIL_IMAP_PORT": str(mailstack.IMAP_PORT),
            "WEBMAIL_SMTP_HOST": mailstack.HOST,
            "WEBMAIL_SMTP_PORT": str(mailstack.SMTP_PORT),
            "WEBMAIL_SMTP_AUTH": "none",
            "WEBMAIL_IMAP_TIMEOUT": "20",
            "WEBMAIL_SMTP_TIMEOUT": "20",
            "WEBMAIL_LOGIN_IP_MAX_FAILURES": "1000",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        })
        # What the web container does on start: migrate (through the entrypoint), and the
        # image's build step: collectstatic.
        for command in (["sh", "docker/entrypoint.sh", "--migrate", "true"],
                        [sys.executable, "manage.py", "collectstatic", "--noinput"]):
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                                  timeout=300, check=False)
            assert done.returncode == 0, done.stderr[-3000:]
        procs: list[subprocess.Popen[bytes]] = []
        proxy: RoundRobinProxy | None = None
        try:
            web_ports = [_free_port(), _free_port()]
            for i, port in enumerate(web_ports):
                procs.append(subprocess.Popen(
                    [str(BIN / "gunicorn"), "webmail.wsgi:application", "-b",
                     f"127.0.0.1:{port}", "--workers", "1", "--threads", "2", "--timeout", "90"],
                    cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                    stderr=(logs / f"web{i}.log").open("wb")))
            for i in range(2):
                procs.append(subprocess.Popen(
                    [str(BIN / "celery"), "-A", "webmail", "worker", "-l", "info",
                     "--concurrency", "4", "-n", f"scale{i}-{run_id}@%h",
                     "--without-mingle", "--without-gossip", "--without-heartbeat"],
                    cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                    stderr=(logs / f"worker{i}.log").open("wb")))
            for port, proc in zip(web_ports, procs, strict=False):
                _wait_for_port(port, proc)
            proxy = RoundRobinProxy(web_ports)
            threading.Thread(target=proxy.serve_forever, daemon=True).start()
            yield Stack(proxy, web_ports, [p.pid for p in procs[2:]], database_url, env)
        except BaseException:
            for log in sorted(logs.iterdir()):
                sys.stderr.write(f"--- {log.name} (last lines)\n")
                sys.stderr.write("\n".join(log.read_text("utf-8", "replace")
                                           .splitlines()[-30:]) + "\n")
            raise
        finally:
            if proxy is not None:
                proxy.shutdown()
                proxy.server_close()
            _stop(procs)
            client = redis.Redis.from_url(redis_url)
            client.delete(queue)
            for key in client.scan_iter(match=f"scale-{run_id}:*", count=500):
                client.delete(key)


# ------------------------------------------------------------------------------------------
# Reading the outbox the workers wrote (plain SQL: the test's own Django uses another DB;
# the table names come from the models' _meta, never from input)
# ------------------------------------------------------------------------------------------

def _query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"),
                                                timeout=20)) as conn:
            return list(conn.execute(sql).fetchall())
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        return list(conn.execute(sql.replace("?", "%s")).fetchall())


def _parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state


def _outbox_tables() -> tuple[str, str, str]:
    from webmail.outbox.models import DeliveryAttempt, OutgoingMessage, OutgoingRecipient

    return (OutgoingMessage._meta.db_table, OutgoingRecipient._meta.db_table,
            DeliveryAttempt._meta.db_table)


def test_two_web_processes_and_two_workers_deliver_every_message_exactly_once(
        stack: Stack) -> None:
    started = time.monotonic()
    senders = [mailstack.new_address("t-send") for _ in range(SENDERS)]
    recipients = [mailstack.new_address("t-rcpt") for _ in range(RECIPIENTS)]
    for address in recipients:  # each mailbox exists (and is empty) before the test
        with contextlib.closing(mailstack.imap_login(address)) as conn:
            conn.select("INBOX")
    expected: dict[str, collections.Counter[str]] = {r: collections.Counter() for r in recipients}
    subjects: dict[str, tuple[str, str]] = {}
    plan = []
    for s in range(SENDERS):
        for n in range(MESSAGES_PER_SENDER):
            to, cc = recipients[(s + n) % RECIPIENTS], recipients[(s + n + 1) % RECIPIENTS]
            subject = f"scale {s}-{n} {secrets.token_hex(4)}"
            subjects[subject] = (to, cc)
            plan.append((s, to, cc, subject))

    browsers = [Browser(stack.proxy.port) for _ in senders]

    def run_sender(s: int) -> list[str]:
        browser = browsers[s]
        sign_in(browser, senders[s])
        csrf = compose_csrf(browser)
        return [send(browser, csrf, senders[s], to, cc, subject)
                for (owner, to, cc, subject) in plan if owner == s]

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        locations = [loc for result in pool.map(run_sender, range(SENDERS)) for loc in result]
    sent_in = time.monotonic() - started
    assert len(set(locations)) == SENDERS * MESSAGES_PER_SENDER

    # Sessions live in the database: every persona was served by both web processes.
    for browser in browsers:
        assert browser.backends_seen == {str(p) for p in stack.web_ports}, browser.backends_seen
    for port in stack.web_ports:
        assert stack.proxy.served[(port, "POST", "/compose/")] > 0

    # Every recipient row ends accepted (Postfix took it), and nothing is left in flight.
    message_table, recipient_table, attempt_table = _outbox_tables()
    total_rows = SENDERS * MESSAGES_PER_SENDER * 2
    deadline = time.monotonic() + DEADLINE

    def states() -> dict[str, int]:
        return dict(_query(stack.database_url,
                           f"SELECT state, COUNT(*) FROM {recipient_table} GROUP BY state"))  # noqa: S608

    while True:
        counts = states()
        if counts.get("accepted", 0) == total_rows or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert counts == {"accepted": total_rows}, counts

    # Both workers delivered: attempt rows name the process ("host:pid", a prefork child of
    # one of the two worker processes) that made them.
    by_process = dict(_query(stack.database_url,
                             f"SELECT worker, COUNT(*) FROM {attempt_table} GROUP BY worker"))  # noqa: S608
    workers: collections.Counter[int] = collections.Counter()
    for name, count in by_process.items():
        workers[_parent_pid(int(name.rsplit(":", 1)[1]))] += count
    assert set(workers) == set(stack.worker_pids), (by_process, stack.worker_pids)
    attempts = sum(workers.values())
    assert attempts == SENDERS * MESSAGES_PER_SENDER, f"{attempts} SMTP sessions (retries?)"

    # At the IMAP server: each message exactly once in each of its recipients' INBOX.
    rows = _query(stack.database_url,
                  f"SELECT message_id, subject FROM {message_table}")  # noqa: S608
    assert len(rows) == SENDERS * MESSAGES_PER_SENDER
    for message_id, subject in rows:
        to, cc = subjects[subject]
        expected[to][message_id] += 1
        expected[cc][message_id] += 1

    def arrived(address: str) -> collections.Counter[str]:
        return collections.Counter(str(m["Message-ID"]).strip()
                                   for m in mailstack.fetch_messages(address))

    found: dict[str, collections.Counter[str]] = {}
    while True:
        found = {address: arrived(address) for address in recipients}
        complete = all(sum(found[a].values()) >= sum(expected[a].values()) for a in recipients)
        if complete or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    for address in recipients:
        assert found[address] == expected[address], (
            address, sum(found[address].values()), sum(expected[address].values()))
    # Every one exactly once (the counters compare equal, and every expected count is 1).
    assert all(n == 1 for c in expected.values() for n in c.values())
    elapsed = time.monotonic() - started
    sys.stderr.write(json.dumps({"scale_out": {
        "messages": len(rows), "deliveries": total_rows, "sent_in_s": round(sent_in, 1),
        "total_s": round(elapsed, 1), "attempts_by_worker": workers}}) + "\n")
