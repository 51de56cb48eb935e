"""Sending throughput: the outbox pipeline versus raw smtplib, against a loopback SMTP sink.

    .venv/bin/python bench/send_bench.py [--messages 1000] [--pool prefork] [--concurrency 4]

Pipeline: ``outgoing_enqueue`` per message (one transaction with the limits and the rows, on
commit a wake-up published only when none is pending for the user: ``webmail.outbox.wakeups``)
-> Redis -> a real ``celery worker`` of the kind production runs (docker-compose.yml: the
prefork pool, concurrency 4; ``--pool``/``--concurrency`` change it) -> the task drains the
user's due messages, a claim of up to 100 at a time, down one kept SMTP session per worker
process, per-message DATA fence, results in bulk -> every recipient ``accepted``. Measured
from the first enqueue until the last recipient is accepted (worker start-up excluded). The
Sent copy is not part of it (no stored credential).

Baseline: the same message bytes sent with ``smtplib.SMTP.sendmail`` over ONE connection, the
cheapest way to push them to the same sink. A second baseline sends each message in its own
SMTP session (what the worker did before sessions were kept).

Two more figures say where the time goes: ``enqueue_alone_seconds`` (the same number of
messages enqueued while no worker runs) and ``drain_seconds`` (the workers, started on that
backlog, until all are accepted: the delivery side's capacity). With SQLite the enqueue
(about 1.6 ms a message on its own: the limits, two INSERTs, the commit, the wake-up's
``SET NX``) waits for the database's one write lock while the drain writes (claims, DATA
fences, results), so it is slower while workers run.

The sink is aiosmtpd in a process of its own (``--sink PORT``), so it shares no GIL with the
enqueuing process or the raw client; both sides use it.

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


def _serve_sink(port: int) -> None:
    """The sink process (``--sink PORT``): answers "count" lines on stdin with the count."""
    from aiosmtpd.controller import Controller

    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(sink.count, flush=True)
    controller.stop()


class _SinkProcess:
    """The loopback SMTP sink in a process of its own, so it shares no GIL with the enqueuing
    process or the raw smtplib client (the same sink for both sides)."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(port)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP sink did not start")

    def count(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=20)


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


def _start_worker(env: dict[str, str], queue: str, index: int, log: Path, pool: str,
                  concurrency: int) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webmail", "worker", f"--pool={pool}",
         f"--concurrency={concurrency}", "-Q", queue,
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


def _wait_accepted(user: Any, total: int, started: float) -> float:
    from webmail.outbox.models import OutgoingRecipient, RecipientState

    accepted = OutgoingRecipient.objects.filter(message__user=user,
                                                state=RecipientState.ACCEPTED)
    while (done := accepted.count()) < total:
        if time.perf_counter() - started > 600:
            raise SystemExit(f"timeout: {done} of {total} accepted")
        time.sleep(0.02)
    return time.perf_counter() - started


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        process.send_signal(signal.SIGTERM)
    for process in workers:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (celery "
                        "worker commands), each with --concurrency pool processes")
    parser.add_argument("--pool", default="prefork", help="Celery pool, as in production "
                        "(docker-compose.yml: the default prefork pool)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="pool processes per worker (docker-compose.yml: 4)")
    parser.add_argument("--no-drain", action="store_true",
                        help="skip the delivery-only figure (a backlog drained by the workers)")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        _serve_sink(args.sink)
        return

    scratch = Path(tempfile.mkdtemp(prefix="send-bench-"))
    print(f"scratch: {scratch}", file=sys.stderr)
    queue = f"send-bench-{uuid.uuid4().hex[:8]}"
    env = _configure(scratch, queue)

    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Domain, ServerProfile, User
    from webmail.mime.addresses import Address
    from webmail.mime.compose import ComposeSpec, build_message
    from webmail.outbox.services import outgoing_enqueue

    call_command("migrate", verbosity=0)
    port = _free_port()
    sink = _SinkProcess(port)
    profile = ServerProfile.objects.create(
        name=f"bench-{port}", imap_host="127.0.0.1", imap_port=1, imap_security="none",
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", smtp_auth="none",
        timeout=10)
    Domain.objects.update_or_create(name="bench.test", defaults={"profile": profile})

    def messages(user: Any) -> list[Any]:
        return [build_message(ComposeSpec(
            from_=Address("Bench", user.username), to=[Address("", f"r{i}@remote.test")],
            subject=f"bench {i}", text="A short message of a few words.\n" * 20))
            for i in range(args.messages)]

    user = User.objects.create(username=f"sender-{uuid.uuid4().hex[:6]}@bench.test")
    built = messages(user)

    log = scratch / "workers.log"

    def start_workers() -> list[subprocess.Popen[bytes]]:
        ready = log.read_bytes().count(b" ready.") if log.exists() else 0
        started = [_start_worker(env, queue, i, log, args.pool, args.concurrency)
                   for i in range(args.workers)]
        _wait_ready(log, started, ready + args.workers)
        return started

    workers = start_workers()
    try:
        started = time.perf_counter()
        for message in built:
            outgoing_enqueue(user=user, from_email=user.username, built=message,
                             smtp_password=None)
        enqueued = time.perf_counter() - started
        pipeline = _wait_accepted(user, args.messages, started)
    finally:
        _stop(workers)

    drain: float | None = None
    enqueue_alone = 0.0
    if not args.no_drain:
        # Delivery capacity alone: the same number of messages queued while no worker runs,
        # then drained (from the workers' "ready" to the last accepted).
        second = User.objects.create(username=f"drain-{uuid.uuid4().hex[:6]}@bench.test")
        backlog = messages(second)
        started = time.perf_counter()
        for message in backlog:
            outgoing_enqueue(user=second, from_email=second.username, built=message,
                             smtp_password=None)
        enqueue_alone = time.perf_counter() - started
        workers = start_workers()
        try:
            drain = _wait_accepted(second, args.messages, time.perf_counter())
        finally:
            _stop(workers)

    before = sink.count()
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for message in built:
            client.sendmail(user.username, list(message.recipients), message.raw)
    raw = time.perf_counter() - started
    # The SMTP work of one session per message (connect, EHLO, MAIL, RCPT, DATA, QUIT), what
    # the worker did before sessions were kept.
    started = time.perf_counter()
    for message in built:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(user.username, list(message.recipients), message.raw)
    per_session = time.perf_counter() - started
    assert sink.count() - before == 2 * args.messages
    sink.stop()

    result: dict[str, object] = {
        "benchmark": "send",
        "messages": args.messages,
        "workers": args.workers,
        "pool": args.pool,
        "concurrency": args.concurrency,
        "pipeline_seconds": round(pipeline, 3),
        "enqueue_seconds": round(enqueued, 3),
        "raw_smtplib_seconds": round(raw, 3),
        "raw_session_per_message_seconds": round(per_session, 3),
        "pipeline_per_second": round(args.messages / pipeline, 1),
        "enqueue_per_second": round(args.messages / enqueued, 1),
        "raw_per_second": round(args.messages / raw, 1),
        "raw_session_per_message_per_second": round(args.messages / per_session, 1),
        "ratio": round(pipeline / raw, 2),
        "throughput_ratio": round(raw / pipeline, 3),
        "ratio_to_session_per_message": round(pipeline / per_session, 2),
        "database": env["DATABASE_URL"].split(":", 1)[0],
    }
    if drain is not None:
        result.update(enqueue_alone_seconds=round(enqueue_alone, 3),
                      drain_seconds=round(drain, 3),
                      drain_per_second=round(args.messages / drain, 1),
                      drain_throughput_ratio=round(raw / drain, 3))
    print(f"{args.messages} messages: pipeline {pipeline:.2f} s "
          f"({result['pipeline_per_second']}/s, enqueue {enqueued:.2f} s), raw smtplib "
          f"{raw:.2f} s ({result['raw_per_second']}/s): {result['throughput_ratio']}x raw "
          f"throughput; one session per message {per_session:.2f} s"
          + (f"; workers draining a backlog {drain:.2f} s ({result['drain_per_second']}/s, "
             f"{result['drain_throughput_ratio']}x raw)" if drain is not None else ""))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
