"""Server time of mail pages through the whole Django stack, in process (the test client), next
to the raw imapclient cost of the same protocol work measured in the same run.

Django must be set up before this module is imported (``bench.run`` does it).
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import redis
from django.conf import settings
from django.test import Client

from bench import raw
from tests.infra import mailstack
from webmail import localcache, mailconn


@dataclass
class Figures:
    """Named samples in seconds (or bytes, for names ending in ``_bytes``)."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])


def sign_in(address: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": address, "password": mailstack.PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in of {address} failed: {response.status_code}")
    return client


def forget(address: str, *kinds: str) -> None:
    """Make the next request cold: close the user's pooled IMAP connections and drop the cached
    entries of these kinds (``index``, ``body``, ``digest``) of the bench's cache, and the web
    process's own copies of such entries (``webmail.localcache``)."""
    mailconn.pool().close_user(address)
    localcache.clear_all()  # this process's own copies of orders and bodies, too
    location = settings.CACHES["default"]["LOCATION"]
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    client = redis.Redis.from_url(location)
    for kind in kinds:
        keys = list(client.scan_iter(f"{prefix}:*:mail:{kind}:*", count=1000))
        if keys:
            client.delete(*keys)


def timed(client: Client, url: str, expect: int = 200) -> float:
    started = time.perf_counter()
    response = client.get(url)
    if response.streaming:
        for _chunk in response:  # the body is produced while it is read
            pass
    elapsed = time.perf_counter() - started
    if response.status_code != expect:
        raise RuntimeError(f"GET {url}: {response.status_code}")
    return elapsed


def mailbox_url(**params: str | int) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return "/mail/INBOX/" + (f"?{query}" if query else "")


def measure_lists(fig: Figures, address: str, reps: int, warm_reps: int,
                  search_term: str) -> None:
    """Page 1 and the last page, by date and by sender, cold and warm; a search."""
    pages = raw.pages_available(address)
    # A web process that has served anything has its templates compiled and modules loaded:
    # one untimed page first, so the first sample is not the process's own start-up.
    timed(sign_in(address), mailbox_url())
    cases: list[tuple[str, str, str, int, list[str]]] = [
        ("date_p1", mailbox_url(), "ARRIVAL", 1, ["ALL"]),
        ("date_last", mailbox_url(page=pages), "ARRIVAL", pages, ["ALL"]),
        ("from_p1", mailbox_url(sort="from", dir="asc"), "DISPLAYFROM", 1, ["ALL"]),
        ("from_last", mailbox_url(sort="from", dir="asc", page=pages), "DISPLAYFROM", pages,
         ["ALL"]),
    ]
    for name, url, criterion, page, search in cases:
        reverse = criterion == "ARRIVAL"
        raw.cold_page(address, criterion, reverse, page, search)  # server caches settle
        for _ in range(reps):
            fig.add(f"raw_cold_{name}", raw.cold_page(address, criterion, reverse, page, search))
            forget(address, "index")
            client = sign_in(address)
            fig.add(f"cold_{name}", timed(client, url))
            for _ in range(warm_reps):
                fig.add(f"warm_{name}", timed(client, url))
    # A search over from, to, subject and body (the search box's default), newest first.
    text = search_term
    criteria = ["OR", "OR", "FROM", text, "TO", text, "OR", "SUBJECT", text, "BODY", text]
    url = mailbox_url(q=text)
    raw.cold_page(address, "ARRIVAL", True, 1, criteria)
    for _ in range(max(2, reps // 2)):
        fig.add("raw_search", raw.cold_page(address, "ARRIVAL", True, 1, criteria))
        forget(address, "index")
        client = sign_in(address)
        fig.add("search_first", timed(client, url))
        fig.add("search_again", timed(client, url))


def measure_throughput(fig: Figures, address: str, seconds: float, clients: int = 8) -> None:
    """Pages per second with ``clients`` concurrent clients: raw cold page work each time versus
    warm list pages through Django (in this process, one thread per client)."""

    def run(work: Callable[[int, int], object]) -> float:
        deadline = time.perf_counter() + seconds
        done = [0] * clients

        def loop(i: int) -> None:
            while time.perf_counter() < deadline:
                work(i, done[i])
                done[i] += 1

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(loop, range(clients)))
        return sum(done) / (time.perf_counter() - started)

    fig.add("raw_cold_throughput", run(lambda i, n: raw.cold_page(address)))
    browsers = [sign_in(address) for _ in range(clients)]  # one session per client
    for browser in browsers:
        timed(browser, mailbox_url())
    fig.add("warm_throughput", run(
        lambda i, n: timed(browsers[i], mailbox_url(page=1 + (i + n) % 5))))


def measure_views(fig: Figures, address: str, uids: dict[str, int], reps: int) -> None:
    """Message view (page + body document), first and second time; the raw fetch."""
    for kind in ("small", "newsletter"):
        uid = uids[kind]
        page, body = f"/mail/INBOX/{uid}/", f"/mail/INBOX/{uid}/body/"
        client = sign_in(address)
        timed(client, "/mail/INBOX/")  # the list it was opened from is warm, as in real use
        for _ in range(reps):
            fig.add(f"raw_view_{kind}", raw.view(address, uid))
            forget(address, "body", "digest")
            client = sign_in(address)
            timed(client, "/mail/INBOX/")
            first_page = timed(client, page)
            first_body = timed(client, body)
            fig.add(f"view1_{kind}", first_page + first_body)
            second_page = timed(client, page)
            second_body = timed(client, body)
            fig.add(f"view2_{kind}", second_page + second_body)
            fig.add(f"view2_page_{kind}", second_page)
            fig.add(f"view2_body_{kind}", second_body)


def _rss_peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _rss(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return 0


def measure_download(fig: Figures, address: str, uid: int, reps: int) -> None:
    """A 20 MB attachment: time (raw: one FETCH and a decode), and the web process's memory
    growth while streaming it (tracemalloc peak; RSS high-water mark)."""
    section = "2"
    url = f"/mail/INBOX/{uid}/part/{section}/"
    for _ in range(reps):
        fig.add("raw_download", raw.download(address, uid, section))
        forget(address, "digest", "body")  # the first download after the message was listed
        client = sign_in(address)
        timed(client, "/mail/INBOX/")
        fig.add("download_first", timed(client, url))
        fig.add("download", timed(client, url))
    for when in ("first", "again"):
        if when == "first":
            forget(address, "digest", "body")
            client = sign_in(address)
            timed(client, "/mail/INBOX/")
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            timed(client, url)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        fig.add(f"download_{when}_tracemalloc_bytes", peak)
        try:
            if when == "first":
                forget(address, "digest", "body")
                client = sign_in(address)
                timed(client, "/mail/INBOX/")
            _rss_peak_reset()
            before = _rss("VmRSS")
            timed(client, url)
            fig.add(f"download_{when}_rss_bytes", max(0, _rss("VmHWM") - before))
        except OSError:
            fig.notes["download_rss_bytes"] = "not measurable here (/proc/self/clear_refs)"
