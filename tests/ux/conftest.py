"""Browser fixtures of the UX journeys: Debian's Chromium through Playwright, against
pytest-django's live server and the real Dovecot.

Playwright's sync API allows one runtime per thread, and ``tests/browser`` keeps one open in the
main thread for its whole session. So these tests run their body in a browser thread of their
own (one per test process, one Chromium, a fresh context per page): ``pytest_pyfunc_call`` below
hands the test function to that thread when it asks for the ``ux`` fixture. Fixtures still run
in the main thread (database rows, personas, monkeypatches).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from tests.conftest import Persona
from tests.infra import mailstack

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("WEBMAIL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
TABLET: ViewportSize = {"width": 768, "height": 1024}
PHONE: ViewportSize = {"width": 390, "height": 844}
TEST_TIMEOUT_S = 120.0
# Console errors that are the browser doing its job, not a fault of the page: the sandboxed
# message body refusing scripts (Playwright's clock injects one into every frame), a missing
# favicon, an HTTP error status a test asked for.
EXPECTED_CONSOLE = ("because the document's frame is sandboxed and the 'allow-scripts'",
                    "favicon.ico", "the server responded with a status of")


class BrowserThread:
    """A thread that owns a Playwright runtime and one headless Chromium and runs callables."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[Browser], Any], dict[str, Any]] | None] = (
            queue.Queue())
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ux-browser", daemon=True)
        self._thread.start()
        self._ready.wait(60)
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            with sync_playwright() as pw:
                assert os.path.exists(CHROMIUM), f"Chromium not found at {CHROMIUM}"
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
                self._ready.set()
                while (job := self._jobs.get()) is not None:
                    func, box = job
                    try:
                        box["result"] = func(browser)
                    except BaseException as exc:  # handed to the test thread
                        box["error"] = exc
                    finally:
                        box["done"].set()
                browser.close()
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    def call(self, func: Callable[[Browser], Any], timeout: float = TEST_TIMEOUT_S) -> Any:
        box: dict[str, Any] = {"done": threading.Event()}
        self._jobs.put((func, box))
        assert box["done"].wait(timeout), f"the browser test did not finish in {timeout}s"
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(30)


@pytest.fixture(scope="session")
def ux_browser() -> Iterator[BrowserThread]:
    thread = BrowserThread()
    yield thread
    thread.stop()


@dataclass
class UX:
    """What a journey needs: the server's origin, a fresh persona, pages that record errors."""

    origin: str
    persona: Persona
    new_persona: Callable[[str], Persona]
    browser: Browser | None = None
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.origin + path

    def page(self, viewport: ViewportSize | None = None, *, scheme: str = "light",
             locale: str = "en-GB", **options: Any) -> Page:
        """A fresh context (own cookies) and tab. Uncaught errors and console errors fail the
        test at its end."""
        assert self.browser is not None, "pages exist only inside the test body"
        context = self.browser.new_context(viewport=viewport or DESKTOP,
                                           color_scheme=scheme,  # type: ignore[arg-type]
                                           locale=locale, timezone_id="Europe/Berlin",
                                           service_workers="block", **options)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda m: self.errors.append(f"{page.url}: {m.text}")
                if m.type == "error" and not any(ok in m.text or ok in (m.location.get("url")
                                                                         or "")
                                                 for ok in EXPECTED_CONSOLE) else None)
        return page

    def sign_in(self, page: Page, persona: Persona | None = None) -> Page:
        """Sign in through the real form; the page ends on the inbox."""
        persona = persona or self.persona
        page.goto(self.url("/login/"))
        page.fill("#id_username", persona.address)
        page.fill("#id_password", persona.password)
        with page.expect_navigation():
            page.click("form[action='/login/'] button[type=submit]")
        assert page.url.startswith(self.url("/mail/INBOX/")), page.url
        page.wait_for_load_state()  # the deferred scripts have run
        return page

    def _run(self, browser: Browser, body: Callable[[], None]) -> None:
        from django.db import connections

        self.browser = browser
        try:
            body()
            assert not self.errors, self.errors
        finally:
            for context in self.contexts:
                context.close()
            self.contexts.clear()
            connections.close_all()  # this thread's own database connections


@pytest.fixture
def ux(ux_browser: BrowserThread, live_server: Any, mail_stack: None,
       new_persona: Callable[[str], Persona]) -> UX:
    return UX(str(live_server.url), new_persona("t-ux"), new_persona)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a test that uses ``ux`` in the browser thread."""
    if "ux" not in pyfuncitem.funcargs:
        return None
    ux_obj = pyfuncitem.funcargs["ux"]
    thread = pyfuncitem.funcargs["ux_browser"]
    assert isinstance(ux_obj, UX) and isinstance(thread, BrowserThread)
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    thread.call(lambda browser: ux_obj._run(browser, lambda: pyfuncitem.obj(**kwargs)))
    return True


@pytest.fixture
def no_delivery(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sending queues the message but publishes no task (no worker in these journeys)."""
    published: list[int] = []

    def publish(pk: int, countdown: float | None = None) -> bool:
        published.append(pk)
        return True

    monkeypatch.setattr("webmail.outbox.services.publish_deliver", publish)
    return published


def new_address(prefix: str = "t-ux") -> str:
    return mailstack.new_address(prefix)
