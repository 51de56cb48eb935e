"""What the browser tests watch: script markers, dialogs, popups, requests, navigations, DOM.

One :class:`Recorder` is attached to a Playwright browser context. A test opens a page with
:meth:`Recorder.step` (a label saying what is being looked at); everything the browser reports
while the step runs is attributed to it, and :meth:`Recorder.finish` turns it into a list of
human-readable problems (empty when nothing happened):

- ``window.__xss(id)`` called in any frame (the corpus marker; defined in every frame by an
  init script, reported through an exposed binding and a console line);
- any dialog (alert/confirm/prompt/beforeunload);
- any new page (popup, new tab), unless it is the user's own click on a mail link (which the
  DOM check requires to carry ``target=_blank rel="noopener noreferrer"``) and its request
  carried no Referer;
- any request to a host other than the live server (when remote content is blocked), and any
  request to the port-9 canary at all (apart from such a followed link);
- the top frame leaving the page it was sent to, or a child frame leaving the body document;
- a body document requesting anything from the app but its own inline images (GET-CSRF).

Requests Chromium refused before sending them (CSP, same-origin-only fetches) are counted in
:class:`Tally`, not failed: that is the second layer working.

DOM checks (:data:`BODY_DOM_CHECK`, :data:`APP_DOM_CHECK`) run inside the rendered documents
after the browser parsed them, so they see mutations a server-side check cannot.
"""

from __future__ import annotations

import contextlib
import csv
import imaplib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

from playwright.sync_api import BrowserContext, ConsoleMessage, Dialog, Frame, Page, Request
from playwright.sync_api import Error as PlaywrightError

REPO = Path(__file__).resolve().parents[2]
EXTRA_CORPUS = REPO / "tests" / "corpus" / "xss-extra"
CANARY_PORT = 9  # the corpus's beacon: http://127.0.0.1:9/xss/ID (or another name, port 9)
# Playwright's failure text for requests Chromium refused before sending them: the page's CSP,
# or a same-origin-only fetch (external SVG resources such as CSS filter: url()).
BLOCKED_BEFORE_SENDING = frozenset({"csp", "origin", "mixed-content"})
# The only same-origin requests a mail body may make: its inline images.
PART_IMAGE = re.compile(r"/mail/.+/[0-9]+/part/[0-9.]+/\?inline=1$")
MARKER_PREFIX = "__XSS__:"  # js/init.js logs it before each marker id
JS = Path(__file__).resolve().parent / "js"


def _js(name: str) -> str:
    return (JS / name).read_text(encoding="utf-8")


INIT_SCRIPT = _js("init.js")
BODY_DOM_CHECK = _js("body_dom_check.js")
APP_DOM_CHECK = _js("app_dom_check.js")
RAW_DOM_CHECK = _js("raw_dom_check.js")
LINK_TARGET = _js("link_target.js")


@dataclass(frozen=True)
class CorpusMessage:
    """One row of an XSS corpus INDEX.tsv and its bytes."""

    file: str
    id: str
    vector_kind: str
    payload_location: str
    interaction: str
    fires_raw: str
    path: Path

    @property
    def raw(self) -> bytes:
        return self.path.read_bytes()


def corpora_root() -> Path:
    """``$WEBMAIL_CORPORA`` or ``<repo>/../shared/corpora`` (where CI clones it)."""
    override = os.environ.get("WEBMAIL_CORPORA")
    return Path(override) if override else REPO.parent / "shared" / "corpora"


def read_index(folder: Path) -> list[CorpusMessage]:
    """The rows of ``folder/INDEX.tsv``. Raises AssertionError when the index or a listed
    file is missing: a missing corpus fails, it never skips."""
    index = folder / "INDEX.tsv"
    assert index.is_file(), f"XSS corpus index missing: {index} (set WEBMAIL_CORPORA)"
    with index.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    messages = []
    for row in rows:
        path = folder / row["file"]
        assert path.is_file(), f"{index} lists {row['file']}, which is missing"
        messages.append(CorpusMessage(row["file"], row["id"], row["vector_kind"],
                                      row["payload_location"], row["interaction"],
                                      row["fires_raw_chromium"], path))
    return messages


def all_corpus_messages() -> list[CorpusMessage]:
    """The shared hostile corpus plus the project's own extra vectors, ids unique."""
    messages = read_index(corpora_root() / "xss") + read_index(EXTRA_CORPUS)
    ids = [m.id for m in messages]
    assert len(ids) == len(set(ids)), "duplicate corpus ids"
    return messages


def html_corpus_messages() -> list[CorpusMessage]:
    """The corpus messages whose payload is in an HTML body (or an inline cid: part)."""
    return [m for m in all_corpus_messages()
            if "html body" in m.payload_location or "cid" in m.payload_location]


def editor_problems(session: Any) -> list[str]:
    """The body-document DOM check over the compose editor's markup, parsed again on its own.
    ``session``: a ``tests.browser.conftest.BrowserSession``."""
    script = f"""() => {{
      const editor = document.querySelector(".rich-editor");
      if (!editor) return [];
      const doc = new DOMParser().parseFromString(editor.innerHTML, "text/html");
      return ({BODY_DOM_CHECK})(doc);
    }}"""
    return [f"editor: {p}" for p in session.page.evaluate(script)]


def open_each_in_editor(session: Any, *, param: str, folder: str, uids: list[int],
                        messages: list[CorpusMessage], what: str) -> tuple[list[str], int]:
    """Open ``/compose/?<param>=<folder>/<uid>`` for each message (a draft, a reply, a
    forward) and check the page and its editor. Returns the problems and how many editors
    received HTML (the format field says ``html``)."""
    problems: list[str] = []
    rich = 0
    for uid, message in zip(uids, messages, strict=True):
        label = f"{message.id} ({folder}/{uid}) {what}"
        problems += session.visitor.open(f"/compose/?{param}={folder}%2F{uid}", label=label,
                                         kind="app")
        session.recorder.step(f"{label} editor check")
        editor = editor_problems(session)
        rich += session.page.evaluate(
            "document.querySelector('form.compose input[name=format]').value === 'html'")
        problems += [f"{label}: {p}" for p in editor] + session.recorder.finish()
    return problems, rich


def imap_quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def append_all(address: str, password: str, raws: Iterable[bytes], folder: str = "INBOX",
               port: int = 10143) -> list[int]:
    """APPEND every message over one IMAP connection to an existing folder; their UIDs in
    order (from UIDPLUS). Raises AssertionError when the server refuses one."""
    conn = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    try:
        conn.login(address, password)
        uids = []
        when = imaplib.Time2Internaldate(datetime.now(UTC).timestamp())
        for raw in raws:
            typ, data = conn.append(imap_quote(folder), None, when, raw)
            assert typ == "OK", data
            text = data[0].decode() if data and data[0] else ""
            match = re.search(r"APPENDUID \d+ (\d+)", text)
            assert match, f"no APPENDUID in {text!r}"
            uids.append(int(match[1]))
        return uids
    finally:
        conn.logout()


@dataclass
class Step:
    label: str
    xss: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    same_origin: list[str] = field(default_factory=list)  # requests a body made to the app
    followed: set[str] = field(default_factory=set)  # absolute hrefs of links the test clicked


@dataclass
class Tally:
    """What the defences stopped, for the report: requests Chromium refused because of the
    CSP or as a cross-origin fetch (a sanitizer miss caught by the second layer), and links
    the test followed."""

    blocked: list[str] = field(default_factory=list)
    followed_links: list[str] = field(default_factory=list)
    steps: int = 0


class Recorder:
    """Collects what a browser context reports, attributed to the current step.

    Create it after the context's first page, so that page is not taken for a popup.
    """

    def __init__(self, context: BrowserContext, origin: str) -> None:
        self.context = context
        self.origin = origin.rstrip("/")
        self.step_: Step | None = None
        self.unattributed: list[str] = []
        self.tally = Tally()
        context.expose_binding("__xssReport", self._on_binding)
        context.add_init_script(INIT_SCRIPT)
        context.on("console", self._on_console)
        context.on("dialog", self._on_dialog)
        context.on("request", self._on_request)
        context.on("page", self._on_page)

    # -- events ----------------------------------------------------------------------------
    def _record(self, what: str, value: str) -> None:
        if self.step_ is None:
            self.unattributed.append(f"{what}: {value}")
            return
        getattr(self.step_, what).append(value)

    def _on_binding(self, source: dict[str, Any], ident: object) -> None:
        frame = source.get("frame")
        where = frame.url if frame is not None else "?"
        self._record("xss", f"{ident} (in {where[:100]})")

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        if text.startswith(MARKER_PREFIX):
            self._record("xss", f"{text[len(MARKER_PREFIX):]} (console)")

    def _on_dialog(self, dialog: Dialog) -> None:
        self._record("dialogs", f"{dialog.type}: {dialog.message[:100]}")
        with contextlib.suppress(PlaywrightError):  # the page may be gone already
            dialog.dismiss()

    def _on_request(self, request: Request) -> None:
        url = request.url
        if url.startswith(self.origin + "/"):
            if not request.is_navigation_request() and not PART_IMAGE.search(url):
                try:
                    frame_path = urlsplit(request.frame.url).path
                except PlaywrightError:
                    frame_path = ""
                if frame_path.endswith("/body/") and not url.endswith("/favicon.ico"):
                    self._record("same_origin", f"{request.resource_type} {url[:120]}")
            return
        if url in ("about:blank", "about:srcdoc"):
            return
        if self.step_ is None:
            self.unattributed.append(f"request {url[:120]}")
        else:
            self.step_.requests.append(request)

    def _on_page(self, page: Page) -> None:
        if self.step_ is None:
            self.unattributed.append(f"new page {page.url[:100]} opened outside a step")
        else:
            self.step_.pages.append(page)

    # -- steps -----------------------------------------------------------------------------
    def step(self, label: str) -> Step:
        """Start attributing events to ``label`` (a page being looked at)."""
        self.step_ = Step(label)
        return self.step_

    def finish(self, *, remote_allowed: bool = False) -> list[str]:
        """The problems of the current step (then forgets it). ``remote_allowed``: the owner
        chose to show remote images, so image requests to real remote hosts are fine."""
        step = self.step_
        assert step is not None
        self.step_ = None
        self.tally.steps += 1
        problems = [f"{step.label}: window.__xss({x})" for x in step.xss]
        problems += [f"{step.label}: dialog {d}" for d in step.dialogs]
        problems += [f"{step.label}: the body requested the app: {r}" for r in step.same_origin]
        followed_seen = set()
        for request in step.requests:
            url, kind = request.url, request.resource_type
            failure = request.failure
            if url.startswith(("data:", "blob:")) and kind == "image":
                continue
            if failure in BLOCKED_BEFORE_SENDING:
                self.tally.blocked.append(f"{step.label}: {kind} {url[:100]} ({failure})")
                continue
            if request.is_navigation_request() and url in step.followed:
                referer = request.headers.get("referer", "")
                if referer:
                    problems.append(f"{step.label}: followed link sent Referer {referer}")
                followed_seen.add(url)
                self.tally.followed_links.append(f"{step.label}: {url[:100]}")
                continue
            if _port(url) == CANARY_PORT or not remote_allowed:
                problems.append(f"{step.label}: {kind} request to {url[:120]} ({failure})")
            elif kind != "image":
                problems.append(f"{step.label}: remote {kind} request {url[:120]}")
        for page in step.pages:
            url = page.url
            external = any(f.startswith(("mailto:", "tel:")) for f in step.followed)
            popup_of_followed = url in step.followed or (
                bool(followed_seen) and url.startswith(("chrome-error:", "about:blank"))) or (
                external and url in ("", "about:blank"))
            if not popup_of_followed:
                problems.append(f"{step.label}: new page/popup {url[:100]}")
            with contextlib.suppress(PlaywrightError):
                page.close()
        if self.unattributed:
            problems += [f"{step.label} (or before): {u}" for u in self.unattributed]
            self.unattributed = []
        return problems


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def without_fragment(url: str) -> str:
    return urldefrag(url)[0]





class Visitor:
    """Opens pages of the live server in one tab and checks each as described above."""

    def __init__(self, page: Page, recorder: Recorder, origin: str, settle_ms: int) -> None:
        self.page = page
        self.recorder = recorder
        self.origin = origin.rstrip("/")
        self.settle_ms = settle_ms
        self.interactions: list[str] = []  # what each interaction found to act on
        self.timings: dict[str, float] = {}  # seconds spent per phase, for the report

    def _timed(self, phase: str, started: float) -> float:
        now = time.monotonic()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - started
        return now

    def open(self, path: str, *, label: str, kind: str, interaction: str = "none",
             remote: bool = False, body_path: str | None = None,
             body_dom: bool = True) -> list[str]:
        """Load ``path`` (``kind``: app, message, body or raw), act, wait, check.
        ``body_dom=False`` skips the DOM check of the mail body (for unsanitized bodies)."""
        url = self.origin + path
        step = self.recorder.step(label)
        problems: list[str] = []
        t = time.monotonic()
        try:
            response = self.page.goto(url, wait_until="load", timeout=20_000)
            t = self._timed(f"goto {kind}", t)
        except PlaywrightError as exc:
            problems.append(f"{label}: page did not load: {str(exc).splitlines()[0]}")
            return problems + self.recorder.finish(remote_allowed=remote)
        if response is None or response.status != 200:
            status = response.status if response else "no response"
            problems.append(f"{label}: HTTP {status}")
        frame = self.page.main_frame
        body_url = self.origin + body_path if body_path else None
        if kind == "message":
            frames = [f for f in self.page.frames if f is not self.page.main_frame]
            body_frames = [f for f in frames if without_fragment(f.url) == body_url]
            if body_url is not None and len(body_frames) != 1:
                problems.append(f"{label}: body frame missing ({[f.url for f in frames]})")
            frame = body_frames[0] if body_frames else frame
        if interaction != "none" and kind in ("message", "body"):
            self.interact(frame, interaction, step, label)
        t = self._timed("frames+interaction", t)
        if kind in ("message", "body"):  # mail content: let timers, refreshes, lazy loads run
            self.page.wait_for_timeout(self.settle_ms)
            t = self._timed("settle", t)
        if without_fragment(self.page.url) != url:
            problems.append(f"{label}: the page navigated away to {self.page.url[:120]}")
        for child in self.page.frames:
            if child is self.page.main_frame:
                continue
            if body_url is None or without_fragment(child.url) != body_url:
                problems.append(f"{label}: unexpected frame at {child.url[:120]}")
        problems += self._dom_problems(label, kind, frame, body_dom)
        t = self._timed(f"dom {kind}", t)
        problems += self.recorder.finish(remote_allowed=remote)
        self._timed("finish", t)
        return problems

    def interact(self, frame: Frame, interaction: str, step: Step, label: str) -> None:
        """Perform the corpus's `click:`, `hover:` or `type:` on the first match in ``frame``."""
        action, _, selector = interaction.partition(":")
        try:
            element = frame.query_selector(selector)
            if element is None:
                self.interactions.append(f"{label}: {interaction}: nothing matches (removed)")
                return
            box = element.bounding_box()
            if not box or box["width"] * box["height"] == 0:
                self.interactions.append(f"{label}: {interaction}: not rendered")
                return
            if href := element.evaluate(LINK_TARGET):
                step.followed.add(href)
            if action == "click":
                element.click(force=True, no_wait_after=True, timeout=3000)
                if href:  # a followed link opens its tab a moment later: wait for it here
                    deadline = time.monotonic() + 1.5
                    while not step.pages and time.monotonic() < deadline:
                        self.page.wait_for_timeout(50)
            elif action == "hover":
                element.hover(force=True, timeout=3000)
            elif action == "type":
                element.click(force=True, no_wait_after=True, timeout=3000)
                self.page.keyboard.type("typed", delay=0)
            else:
                raise AssertionError(f"unknown interaction {interaction!r}")
            self.interactions.append(f"{label}: {interaction}: performed")
        except PlaywrightError as exc:
            # The click itself may tear the frame down (a navigation); the checks after
            # the settle time say whether that was allowed.
            self.interactions.append(f"{label}: {interaction}: {str(exc).splitlines()[0]}")

    def _dom_problems(self, label: str, kind: str, frame: Frame, body_dom: bool) -> list[str]:
        checks: list[tuple[Frame, str, str]] = []
        if kind in ("app", "message"):
            checks.append((self.page.main_frame, APP_DOM_CHECK, "page"))
        if kind == "message" and frame is not self.page.main_frame and body_dom:
            checks.append((frame, BODY_DOM_CHECK, "body frame"))
        if kind == "body" and body_dom:
            checks.append((self.page.main_frame, BODY_DOM_CHECK, "body document"))
        if kind == "raw":
            checks.append((self.page.main_frame, RAW_DOM_CHECK, "raw view"))
        problems = []
        for target, script, where in checks:
            try:
                found = target.evaluate(script)
            except PlaywrightError as exc:
                found = [f"could not inspect: {str(exc).splitlines()[0]}"]
            problems += [f"{label} ({where}): {p}" for p in found]
        return problems

    def download(self, path: str, *, label: str) -> list[str]:
        """Navigate to ``path``: it must start a download and leave the page where it was."""
        before = self.page.url
        self.recorder.step(label)
        problems = []
        try:
            with self.page.expect_download(timeout=10_000) as info:
                try:
                    self.page.goto(self.origin + path, wait_until="commit", timeout=10_000)
                    problems.append(f"{label}: rendered in the browser instead of downloading")
                except PlaywrightError as exc:
                    if "Download is starting" not in str(exc):
                        raise
            info.value.cancel()
        except PlaywrightError as exc:
            problems.append(f"{label}: no download: {str(exc).splitlines()[0]}")
        self.page.wait_for_timeout(min(self.settle_ms, 50))
        if self.page.url != before:
            problems.append(f"{label}: the page moved to {self.page.url[:120]}")
        return problems + self.recorder.finish()
