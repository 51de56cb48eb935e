"""Concurrent signed-in users against a real server: gunicorn (threads) and a Celery worker.

Each virtual user signs in once, then until the time is up: lists a page of its inbox, opens a
message (the page and its body document), and every few rounds sends a message through the
compose form; between actions it thinks for a while (bounded load, not a flood). Mail goes out
to an SMTP sink on loopback run here, so the test Postfix and the inboxes are not flooded.
Reported: errors (any status other than the expected one, or an exception), p50/p95 latency
per action, and how many sends reached ``accepted``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.fill import message_count, write_maildir
from tests.infra import mailstack

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOAD_MESSAGES = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    """aiosmtpd handler that accepts every message."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 2.0.0 Ok: queued"


@dataclass
class Browser:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str,
                form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.port}"
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        for value in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text

    @staticmethod
    def csrf(page: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if not match:
            raise RuntimeError("no CSRF token on the page")
        return match.group(1)

    def sign_in(self, address: str) -> None:
        status, _h, page = self.request("GET", "/login/")
        status, _headers, page = self.request("POST", "/login/", {
            "username": address, "password": mailstack.PASSWORD,
            "csrfmiddlewaretoken": self.csrf(page)})
        if status != 302:
            raise RuntimeError(f"sign-in of {address}: {status}")


@dataclass
class LoadResult:
    users: int
    seconds: float
    latencies: dict[str, list[float]]
    errors: list[str]
    sent: int
    accepted: int
    list_throughput: float = 0.0  # warm list pages/s of the big folder, 8 clients
    throughput_clients: int = 0

    def percentile(self, action: str, q: float) -> float:
        values = sorted(self.latencies.get(action, []))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))]

    @property
    def all_latencies(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]


def prepare_users(count: int) -> list[str]:
    addresses = [f"bench-load-{i:02d}@{mailstack.DOMAIN}" for i in range(count)]
    for address in addresses:
        if message_count(address) != LOAD_MESSAGES:
            write_maildir(address, LOAD_MESSAGES, seed=hash(address) & 0xFFFF, specimens=False)
            message_count(address)  # Dovecot indexes the files
    return addresses


def _environment(scratch: Path, smtp_port: int, run_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "PYTEST_", "CELERY_", "CACHE_", "SENTRY_"))}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "webmail.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-load-" + secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_COOKIES": "0",
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL",
                                       f"sqlite:///{scratch / 'load.sqlite3'}"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CACHE_KEY_PREFIX": f"bench-load-{run_id}",
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-load-{run_id}",
        "WEBMAIL_VAR_DIR": str(scratch / "var"),
        "STATIC_ROOT": str(scratch / "static"),
        "WEBMAIL_IMAP_HOST": mailstack.HOST,
        "WEBMAIL_IMAP_PORT": str(mailstack.IMAP_PORT),
        "WEBMAIL_SMTP_HOST": "127.0.0.1",
        "WEBMAIL_SMTP_PORT": str(smtp_port),
        "WEBMAIL_SMTP_AUTH": "none",
        "WEBMAIL_IMAP_TIMEOUT": "60",
        "WEBMAIL_LOGIN_IP_MAX_FAILURES": "100000",
        "LOG_LEVEL": "WARNING",
    })
    return env


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port}")


def _accepted(env: dict[str, str]) -> int:
    code = ("from webmail.outbox.models import OutgoingRecipient as R;"
            "print(R.objects.filter(state='accepted').count())")
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def list_throughput(port: int, address: str, clients: int, seconds: float) -> float:
    """Warm list pages per second of ``address``'s folder on the running server: ``clients``
    threads, each its own signed-in session, pages 1-5 in turn, no pauses."""
    browsers = []
    for _ in range(clients):
        browser = Browser(port)
        browser.sign_in(address)
        browser.request("GET", "/mail/INBOX/")  # warm: the index is built, the rows seen
        browsers.append(browser)
    done = [0] * clients
    failed: list[str] = []
    deadline = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < deadline:
            status, _h, _page = browsers[i].request("GET",
                                                    f"/mail/INBOX/?page={1 + done[i] % 5}")
            if status != 200:
                failed.append(str(status))
            done[i] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise RuntimeError(f"list pages failed under throughput: {failed[:5]}")
    return sum(done) / (time.monotonic() - started)


def run_load(users: int, seconds: float, think: float, scratch: Path,
             web_workers: int = 2, threads: int = 8, big: str = "",
             throughput_seconds: float = 0.0, throughput_clients: int = 8) -> LoadResult:
    """Start the servers, measure list throughput on ``big``'s folder (when given), run the
    virtual users, stop everything; raises RuntimeError when the servers cannot start."""
    from aiosmtpd.controller import Controller

    run_id = secrets.token_hex(4)
    addresses = prepare_users(users)
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port, ready_timeout=10)
    controller.start()
    env = _environment(scratch, smtp_port, run_id)
    logs = scratch / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO,
                   env=env, check=True, timeout=600)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                   cwd=REPO, env=env, check=True, timeout=600)
    port = free_port()
    procs = [
        subprocess.Popen([str(BIN / "gunicorn"), "webmail.wsgi:application", "-b",
                          f"127.0.0.1:{port}", "--workers", str(web_workers), "--threads",
                          str(threads), "--timeout", "120"],
                         cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                         stderr=(logs / "web.log").open("wb")),
        subprocess.Popen([str(BIN / "celery"), "-A", "webmail", "worker", "-l", "warning",
                          "--concurrency", "2", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"],
                          "-n", f"bench-{run_id}@%h", "--without-mingle", "--without-gossip",
                          "--without-heartbeat"],
                         cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                         stderr=(logs / "worker.log").open("wb")),
    ]
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    sent = 0
    lock = threading.Lock()
    throughput = 0.0
    try:
        _wait_port(port, procs[0])
        if big and throughput_seconds > 0:
            throughput = list_throughput(port, big, throughput_clients, throughput_seconds)
        browsers = []
        for address in addresses:
            browser = Browser(port)
            browser.sign_in(address)
            browsers.append(browser)
        deadline = time.monotonic() + seconds

        def record(action: str, elapsed: float, problem: str = "") -> None:
            with lock:
                latencies.setdefault(action, []).append(elapsed)
                if problem:
                    errors.append(f"{action}: {problem}")

        def act(browser: Browser, action: str, method: str, path: str,
                form: dict[str, str] | None = None, expect: int = 200) -> str:
            started = time.perf_counter()
            try:
                status, _headers, page = browser.request(method, path, form)
            except Exception as exc:  # counted as an error, the user goes on
                record(action, time.perf_counter() - started, f"{exc.__class__.__name__}: {exc}")
                return ""
            record(action, time.perf_counter() - started,
                   "" if status == expect else f"{method} {path}: {status}")
            return page

        def user(index: int) -> None:
            nonlocal sent
            rng = random.Random(index)
            browser, address = browsers[index], addresses[index]
            csrf = ""
            round_no = 0
            time.sleep(rng.uniform(0, think))
            while time.monotonic() < deadline:
                round_no += 1
                act(browser, "list", "GET", f"/mail/INBOX/?page={rng.randint(1, 4)}")
                time.sleep(rng.uniform(0.5, 1.5) * think)
                uid = rng.randint(1, LOAD_MESSAGES)
                act(browser, "open", "GET", f"/mail/INBOX/{uid}/")
                act(browser, "open_body", "GET", f"/mail/INBOX/{uid}/body/")
                time.sleep(rng.uniform(0.5, 1.5) * think)
                if round_no % 3 == 0 and time.monotonic() < deadline:
                    if not csrf:
                        csrf = Browser.csrf(act(browser, "compose", "GET", "/compose/") or
                                            'name="csrfmiddlewaretoken" value="x"')
                    act(browser, "send", "POST", "/compose/", {
                        "csrfmiddlewaretoken": csrf, "token": secrets.token_hex(16),
                        "from_email": address, "to": f"load-{index}@remote.test", "cc": "",
                        "bcc": "", "subject": f"load {index}-{round_no}", "format": "plain",
                        "body": "A message sent under load.\n", "body_html": ""}, expect=302)
                    with lock:
                        sent += 1
                    time.sleep(rng.uniform(0.5, 1.5) * think)

        started = time.monotonic()
        workers = [threading.Thread(target=user, args=(i,)) for i in range(users)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        elapsed = time.monotonic() - started
        accepted = 0
        wait_until = time.monotonic() + 120
        while time.monotonic() < wait_until:
            accepted = _accepted(env)
            if accepted >= sent:
                break
            time.sleep(1)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        controller.stop()
    if errors:
        (scratch / "load-errors.txt").write_text("\n".join(errors))
    return LoadResult(users, elapsed, latencies, errors, sent, accepted, throughput,
                      throughput_clients if throughput else 0)


def summary(result: LoadResult) -> dict[str, float]:
    out: dict[str, float] = {}
    for action in sorted(result.latencies):
        out[f"{action}_p50"] = result.percentile(action, 0.5)
        out[f"{action}_p95"] = result.percentile(action, 0.95)
    every = sorted(result.all_latencies)
    out["all_p50"] = statistics.median(every) if every else float("nan")
    out["all_p95"] = every[min(len(every) - 1, int(0.95 * len(every)))] if every else float("nan")
    return out
