"""Sending throughput: the outbox pipeline versus raw smtplib, against a loopback SMTP server.

    .venv/bin/python bench/send_bench.py [--messages 1000] [--workers 1]

Pipeline: ``outgoing_enqueue`` (one transaction per message, publish on commit) -> Redis ->
a real ``celery worker --pool=solo`` per ``--workers`` -> claim, one SMTP session per message,
per-recipient results recorded -> every recipient ``accepted``. Measured from the first enqueue
until the last recipient is accepted (worker start-up excluded).

Baseline: the same message bytes sent with ``smtplib.SMTP.sendmail`` over ONE connection, the
cheapest way to push them to the same server. The ratio says what durability costs (a row,
a claim, a per-message session, attempt records, the Sent-copy task). A second baseline sends
each message in its own SMTP session, which is the SMTP work the worker does.

Most of the pipeline's cost is database round trips and commits (about three commits and
fifteen queries per message, plus the enqueue's own). Celery's Django fix-up also closes the
database connection before and after every task unless ``CELERY_DB_REUSE_MAX`` is set; with
it set to 100 one worker more than doubled its rate here (PostgreSQL).

Needs Redis (``REDIS_URL``, default redis://127.0.0.1:6379/0). The database is a scratch
SQLite file unless ``BENCH_DATABASE_URL`` names a scratch database (it is migrated and filled).
Prints one JSON line at the end (for bench/run.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Sink:
    """aiosmtpd handler: accept everything, count messages."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        await asyncio.sleep(0)
        return "250 2.0.0 Ok: queued"


def _configure(scratch: Path, queue: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "webmail.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2),
        "DEBUG": "0",
        "WEBMAIL_VAR_DIR": str(scratch),
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL",
                                       f"sqlite:///{scratch / 'bench.sqlite3'}"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CACHE_URL": "locmem://",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return env


def _start_worker(env: dict[str, str], queue: str, index: int, log: Path) -> subprocess.Popen[
        bytes]:
    handle = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webmail", "worker", "--pool=solo", "-Q", queue,
         "-n", f"bench{index}-{queue}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel=INFO"],
        cwd=REPO, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT)
    handle.close()
    return process


def _wait_ready(log: Path, processes: list[subprocess.Popen[bytes]], count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"a worker exited:\n{log.read_text(errors='replace')[-3000:]}")
        if log.read_bytes().count(b" ready.") >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"workers not ready:\n{log.read_text(errors='replace')[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="send-bench-"))
    print(f"scratch: {scratch}", file=sys.stderr)
    queue = f"send-bench-{uuid.uuid4().hex[:8]}"
    env = _configure(scratch, queue)

    import django

    django.setup()
    from aiosmtpd.controller import Controller
    from django.core.management import call_command

    from accounts.models import Domain, ServerProfile, User
    from webmail.mime.addresses import Address
    from webmail.mime.compose import ComposeSpec, build_message
    from webmail.outbox.models import OutgoingRecipient, RecipientState
    from webmail.outbox.services import outgoing_enqueue

    call_command("migrate", verbosity=0)
    port = _free_port()
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    profile = ServerProfile.objects.create(
        name=f"bench-{port}", imap_host="127.0.0.1", imap_port=1, imap_security="none",
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", smtp_auth="none",
        timeout=10)
    Domain.objects.update_or_create(name="bench.test", defaults={"profile": profile})
    user = User.objects.create(username=f"sender-{uuid.uuid4().hex[:6]}@bench.test")
    built = [build_message(ComposeSpec(
        from_=Address("Bench", user.username), to=[Address("", f"r{i}@remote.test")],
        subject=f"bench {i}", text="A short message of a few words.\n" * 20))
        for i in range(args.messages)]

    log = scratch / "workers.log"
    workers = [_start_worker(env, queue, i, log) for i in range(args.workers)]
    try:
        _wait_ready(log, workers, args.workers)
        started = time.perf_counter()
        for message in built:
            outgoing_enqueue(user=user, from_email=user.username, built=message,
                             smtp_password=None)
        enqueued = time.perf_counter() - started
        accepted = OutgoingRecipient.objects.filter(message__user=user,
                                                    state=RecipientState.ACCEPTED)
        while accepted.count() < args.messages:
            if time.perf_counter() - started > 600:
                raise SystemExit(f"timeout: {accepted.count()} of {args.messages} accepted")
            time.sleep(0.05)
        pipeline = time.perf_counter() - started
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    before = sink.count
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for message in built:
            client.sendmail(user.username, list(message.recipients), message.raw)
    raw = time.perf_counter() - started
    # The SMTP work the worker does: one session per message (connect, EHLO, MAIL, RCPT,
    # DATA, QUIT), without the database and the broker.
    started = time.perf_counter()
    for message in built:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(user.username, list(message.recipients), message.raw)
    per_session = time.perf_counter() - started
    controller.stop()
    assert sink.count - before == 2 * args.messages

    result = {
        "benchmark": "send",
        "messages": args.messages,
        "workers": args.workers,
        "pipeline_seconds": round(pipeline, 3),
        "enqueue_seconds": round(enqueued, 3),
        "raw_smtplib_seconds": round(raw, 3),
        "raw_session_per_message_seconds": round(per_session, 3),
        "pipeline_per_second": round(args.messages / pipeline, 1),
        "raw_per_second": round(args.messages / raw, 1),
        "ratio": round(pipeline / raw, 1),
        "ratio_to_session_per_message": round(pipeline / per_session, 1),
        "database": env["DATABASE_URL"].split(":", 1)[0],
    }
    print(f"{args.messages} messages: pipeline {pipeline:.2f} s "
          f"({result['pipeline_per_second']}/s, enqueue {enqueued:.2f} s), raw smtplib "
          f"{raw:.2f} s ({result['raw_per_second']}/s): {result['ratio']}x the raw cost; "
          f"one session per message {per_session:.2f} s "
          f"({result['ratio_to_session_per_message']}x)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
