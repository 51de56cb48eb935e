"""The benchmarks of the issue "Fast on a 100,000-message folder" (``make bench``).

    .venv/bin/python bench/run.py                 # the full run; writes docs/benchmarks.md
    .venv/bin/python bench/run.py --smoke         # a tiny folder and seconds of load (a check)
    .venv/bin/python bench/run.py --load-seconds 20 --skip send

Against the test mail stack (Dovecot on 127.0.0.1:10143, Redis). Every figure is set against
the raw cost of the same protocol work (bare imapclient or smtplib) measured in the same run,
so the ratios hold on a slower or faster machine. Mail pages are timed in process through the
whole Django stack (middleware, sessions, the IMAP pool, the caches, templates) with Django's
test client; the concurrent-users figure runs a real gunicorn and a real Celery worker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.fill import fill  # noqa: E402
from tests.infra import mailstack  # noqa: E402

DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench results: begin -->", "<!-- bench results: end -->"


@dataclass(frozen=True)
class Row:
    what: str
    value: str
    baseline: str
    ratio: str
    target: str
    met: bool | None  # None: no target


def configure_django(scratch: Path, run_id: str) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "webmail.settings",
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "SECURE_COOKIES": "0",
        "WEBMAIL_VAR_DIR": str(scratch / "var"),
        "STATIC_ROOT": str(scratch / "static"),
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL",
                                       f"sqlite:///{scratch / 'bench.sqlite3'}"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15"),
        "CACHE_KEY_PREFIX": f"bench-{run_id}",
        "WEBMAIL_IMAP_HOST": mailstack.HOST,
        "WEBMAIL_IMAP_PORT": str(mailstack.IMAP_PORT),
        "WEBMAIL_IMAP_TIMEOUT": "300",
        "WEBMAIL_LOGIN_IP_MAX_FAILURES": "100000",
        "LOG_LEVEL": "ERROR",
    })
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    # The in-process pages are served by a process set up as gunicorn's workers are: the
    # WSGI module loads Django and freezes what start-up made out of the collector's way.
    import webmail.wsgi  # noqa: F401


def drop_cache(run_id: str) -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    keys = list(client.scan_iter(f"bench-{run_id}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start:start + 1000])


def send_figures(messages: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "send_bench.py"), "--messages",
                           str(messages)], cwd=REPO, capture_output=True, text=True,
                          timeout=1800, check=False, env={
                              k: v for k, v in os.environ.items()
                              if not k.startswith(("DJANGO_", "CACHE_"))})
    if done.returncode != 0:
        raise RuntimeError(f"send_bench failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def mb(value: float) -> str:
    return f"{value / 1024 / 1024:.1f} MB"


def build_rows(m: dict[str, float], send: dict[str, Any] | None,
               load: dict[str, Any] | None) -> list[Row]:
    rows: list[Row] = []

    def ratio_row(what: str, key: str, base: str, limit: float | None,
                  op: str = "<=") -> None:
        if key not in m or base not in m:
            return
        ratio = m[key] / m[base]
        met = None if limit is None else (ratio <= limit if op == "<=" else ratio >= limit)
        target = "" if limit is None else f"{op} {limit:g}x"
        rows.append(Row(what, ms(m[key]), ms(m[base]), f"{ratio:.2f}x", target, met))

    ratio_row("mailbox page 1 by date, cold (new session, empty cache)", "cold_date_p1",
              "raw_cold_date_p1", 1.2)
    ratio_row("mailbox page 1 by date, warm", "warm_date_p1", "raw_cold_date_p1", 0.15)
    ratio_row("last page by date, cold", "cold_date_last", "raw_cold_date_last", 1.2)
    ratio_row("last page by date, warm", "warm_date_last", "raw_cold_date_p1", 0.15)
    if "warm_date_last" in m and "warm_date_p1" in m:
        ratio = m["warm_date_last"] / m["warm_date_p1"]
        rows.append(Row("last page vs page 1 (warm)", ms(m["warm_date_last"]),
                        ms(m["warm_date_p1"]), f"{ratio:.2f}x", "<= 1.2x", ratio <= 1.2))
    if "cold_date_last" in m and "cold_date_p1" in m:
        ratio = m["cold_date_last"] / m["cold_date_p1"]
        rows.append(Row("last page vs page 1 (cold)", ms(m["cold_date_last"]),
                        ms(m["cold_date_p1"]), f"{ratio:.2f}x", "<= 1.2x", ratio <= 1.2))
    ratio_row("page 1 by sender, cold", "cold_from_p1", "raw_cold_from_p1", 1.2)
    ratio_row("page 1 by sender, warm", "warm_from_p1", "raw_cold_from_p1", 0.15)
    ratio_row("last page by sender, cold", "cold_from_last", "raw_cold_from_last", 1.2)
    ratio_row("last page by sender, warm", "warm_from_last", "raw_cold_from_p1", 0.15)
    ratio_row("search (from/to/subject/body), first", "search_first", "raw_search", 1.1)
    ratio_row("search, same query again", "search_again", "raw_search", None)
    if "warm_throughput" in m:
        ratio = m["warm_throughput"] / m["raw_cold_throughput"]
        served = load.get("list_throughput") if load else None
        rows.append(Row("list pages/s, 8 clients, in process (one process, threads)",
                        f"{m['warm_throughput']:.1f}/s", f"{m['raw_cold_throughput']:.1f}/s",
                        f"{ratio:.1f}x", "" if served else ">= 10x",
                        None if served else ratio >= 10))
        if served:
            ratio = served / m["raw_cold_throughput"]
            rows.append(Row("list pages/s, 8 clients, gunicorn (2 processes x 8 threads)",
                            f"{served:.1f}/s", f"{m['raw_cold_throughput']:.1f}/s",
                            f"{ratio:.1f}x", ">= 10x", ratio >= 10))
    for kind, label in (("small", "small message"), ("newsletter", "1 MB HTML newsletter")):
        ratio_row(f"view {label}, first (page + body)", f"view1_{kind}", f"raw_view_{kind}",
                  None)
        key = f"view2_{kind}"
        if key in m:
            target_ok = m[key] < 0.020 if kind == "newsletter" else None
            rows.append(Row(f"view {label}, second (page + body)", ms(m[key]),
                            ms(m[f"raw_view_{kind}"]), f"{m[key] / m[f'raw_view_{kind}']:.2f}x",
                            "< 20 ms" if kind == "newsletter" else "", target_ok))
    ratio_row("download 20 MB attachment, first", "download_first", "raw_download", None)
    ratio_row("download 20 MB attachment, again", "download", "raw_download", None)
    for when in ("first", "again"):
        for kind, label in (("tracemalloc", "Python heap peak growth (tracemalloc)"),
                            ("rss", "process RSS high-water growth")):
            key = f"download_{when}_{kind}_bytes"
            if key in m:
                rows.append(Row(f"download {when}: {label}", mb(m[key]), "", "", "< 30 MB",
                                m[key] < 30 * 1024 * 1024))
    if send:
        ratio = send["pipeline_per_second"] / send["raw_per_second"]
        rows.append(Row(f"send {send['messages']} messages: enqueue to accepted",
                        f"{send['pipeline_per_second']:.0f}/s", f"{send['raw_per_second']:.0f}/s",
                        f"{ratio:.2f}x", ">= 0.7x", ratio >= 0.7))
    if load:
        rows.append(Row(f"{load['users']} users for {load['seconds']:.0f} s: errors",
                        str(load["errors"]), "", "", "0", load["errors"] == 0))
        rows.append(Row("  their latency p50 / p95 (all actions)",
                        f"{ms(load['all_p50'])} / {ms(load['all_p95'])}", "", "", "", None))
        for action in ("list", "open", "open_body", "compose", "send"):
            if f"{action}_p50" in load:
                rows.append(Row(f"  {action} p50 / p95",
                                f"{ms(load[f'{action}_p50'])} / {ms(load[f'{action}_p95'])}",
                                "", "", "", None))
        rows.append(Row("  sends accepted / made", f"{load['accepted']} / {load['sent']}", "",
                        "", "all", load["accepted"] >= load["sent"]))
    return rows


def table(rows: list[Row]) -> str:
    head = ["what", "webmail", "raw (same run)", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.what} | {row.value} | {row.baseline} | {row.ratio} | "
                     f"{row.target} | {met} |")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    try:
        dovecot = subprocess.run(["dovecot", "--version"], capture_output=True, text=True,
                                 check=False).stdout.strip()
    except OSError:
        dovecot = "unknown"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem / 1024 / 1024:.1f} GiB",
        "dovecot": dovecot,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def load_after() -> str:
    """The machine's 1-minute load average: other work on it skews every figure."""
    return f"{os.getloadavg()[0]:.1f}"


def write_doc(text: str) -> None:
    block = f"{BEGIN}\n{text}\n{END}"
    if DOC.exists() and BEGIN in DOC.read_text():
        current = DOC.read_text()
        new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: block, current,
                     flags=re.S)
    else:
        new = "# Benchmarks\n\n" + block + "\n"
    DOC.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--address", default="")
    parser.add_argument("--reps", type=int, default=5, help="cold samples per figure")
    parser.add_argument("--warm-reps", type=int, default=5)
    parser.add_argument("--search", default="Lovelace", help="the search text")
    parser.add_argument("--throughput-seconds", type=float, default=15)
    parser.add_argument("--send-messages", type=int, default=1000)
    parser.add_argument("--load-users", type=int, default=50)
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between actions")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["lists", "throughput", "views", "download", "send", "load"])
    parser.add_argument("--smoke", action="store_true",
                        help="300 messages, one sample, 3 s of load: checks the harness works")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    attachment = 20 * 1024 * 1024
    name = "mailbox"
    if args.smoke:
        args.messages, args.reps, args.warm_reps = 300, 1, 1
        args.throughput_seconds, args.send_messages = 0.5, 10
        args.load_users, args.load_seconds, args.think = 2, 2.0, 0.2
        args.no_doc = True
        attachment, name = 2 * 1024 * 1024, "smoke"
    address = args.address or f"bench-{name}-{args.messages}@{mailstack.DOMAIN}"

    load_before = load_after()
    started = time.perf_counter()
    filled = fill(address, args.messages, attachment_bytes=attachment)
    print(f"folder: {address}, {filled.messages} messages "
          f"({'reused' if filled.reused else 'filled'} in {filled.seconds:.1f} s)", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="webmail-bench-"))
    run_id = secrets.token_hex(4)
    configure_django(scratch, run_id)
    from bench import pages

    fig = pages.Figures()
    try:
        if "lists" not in args.skip:
            pages.measure_lists(fig, address, args.reps, args.warm_reps, args.search)
            print("mailbox pages measured", flush=True)
        if "throughput" not in args.skip:
            pages.measure_throughput(fig, address, args.throughput_seconds)
            print("throughput measured", flush=True)
        if "views" not in args.skip:
            pages.measure_views(fig, address, filled.specimen_uids, args.reps)
            print("message views measured", flush=True)
        if "download" not in args.skip:
            pages.measure_download(fig, address, filled.specimen_uids["attachment"],
                                   max(1, args.reps // 2))
            print("download measured", flush=True)
    finally:
        drop_cache(run_id)
    m = {name: fig.median(name) for name in fig.samples}
    send = None
    if "send" not in args.skip:
        send = send_figures(args.send_messages)
        print("sending measured", flush=True)
    load = None
    if "load" not in args.skip:
        from bench.load import run_load, summary

        result = run_load(args.load_users, args.load_seconds, args.think, scratch / "load",
                          big=address, throughput_seconds=args.throughput_seconds)
        load = {"users": result.users, "seconds": result.seconds, "errors": len(result.errors),
                "sent": result.sent, "accepted": result.accepted,
                "list_throughput": result.list_throughput,
                "requests": len(result.all_latencies), **summary(result)}
        if result.errors:
            print("load errors (first 10):\n  " + "\n  ".join(result.errors[:10]))
        print("load measured", flush=True)
    rows = build_rows(m, send, load)
    facts = machine()
    facts["load"] = f"{load_before} before, {load_after()} after"
    text = table(rows)
    print()
    print(text)
    elapsed = time.perf_counter() - started
    print(f"\n{facts['date']}; {facts['cores']} cores ({facts['cpu']}), {facts['ram']} RAM, "
          f"Dovecot {facts['dovecot']}, Python {facts['python']}; load average "
          f"{facts['load']}; took {elapsed:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"machine": facts, "medians": m, "samples": fig.samples,
                                         "send": send, "load": load, "notes": fig.notes},
                                        indent=1, default=str))
    if not args.no_doc:
        samples = ", ".join(f"{k}: {len(v)}" for k, v in sorted(fig.samples.items()))
        write_doc("\n".join([
            f"Run of {facts['date']} on {facts['cores']} cores ({facts['cpu']}), "
            f"{facts['ram']} RAM, {facts['os']}; Dovecot {facts['dovecot']}; "
            f"Python {facts['python']}. Load average {facts['load']} the run. "
            f"Folder: {filled.messages:,} messages. "
            f"Command: `make bench` (`bench/run.py`), {elapsed / 60:.0f} minutes.",
            "",
            text,
            "",
            f"Medians of: {samples}. Load: {load['requests'] if load else 0} requests "
            f"by {args.load_users} users, think time {args.think} s.",
        ]))
        print(f"wrote {DOC.relative_to(REPO)}")
    # Misses are reported, not fatal (a slower machine is not a failure of the harness);
    # errors under load are.
    return 1 if load and load["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
