"""Browser fixtures: Debian's Chromium through Playwright, against pytest-django's live server.

One browser per pytest-xdist worker (session scope); each test gets a fresh context (its own
cookies, cache and storage) with a :class:`~tests.browser.harness.Recorder` attached, and
``signed_in`` signs a fresh Dovecot persona in through the real ``/login/`` form.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.browser.harness import Recorder, Visitor
from tests.conftest import Persona
from tests.infra import mailstack

# Playwright's sync API runs an event loop in the test thread; Django would refuse ORM calls
# from such a thread (the live server itself runs in its own threads).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("WEBMAIL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Sandboxed frames in the page's own process, so the init script reaches them.
    "--disable-features=IsolateSandboxedIframes",
    # Nothing leaves the machine: every name but the loopback ones fails to resolve, apart
    # from the extra corpus's canary name (port 9 on loopback, never connected).
    "--host-resolver-rules=MAP xss-canary.test 127.0.0.1, MAP * ~NOTFOUND, "
    "EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
# After "load": time for timers, animations, meta refreshes and lazy loads to show up.
SETTLE_MS = int(os.environ.get("WEBMAIL_BROWSER_SETTLE_MS", "150"))


@pytest.fixture(scope="session")
def playwright_runtime() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def chromium(playwright_runtime: Playwright) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile (Playwright gives every launch a new temporary
    user-data directory). Fails, never skips, when the binary is missing."""
    assert os.path.exists(CHROMIUM), f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    browser = playwright_runtime.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class BrowserSession:
    context: BrowserContext
    page: Page
    recorder: Recorder
    origin: str
    visitor: Visitor
    persona: Persona | None = None

    def url(self, path: str) -> str:
        return self.origin + path


@pytest.fixture
def browser_session(chromium: Browser, live_server: object) -> Iterator[BrowserSession]:
    """A fresh context and tab on the live server, watched by a Recorder."""
    origin = str(live_server.url)  # type: ignore[attr-defined]
    context = chromium.new_context(accept_downloads=True, service_workers="block",
                                   viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()  # before the recorder, so it is not taken for a popup
    recorder = Recorder(context, origin)
    session = BrowserSession(context, page, recorder, origin,
                             Visitor(page, recorder, origin, SETTLE_MS))
    yield session
    context.close()


def sign_in_page(session: BrowserSession, persona: Persona) -> None:
    """Sign in through the real form; the browser ends on the inbox."""
    page = session.page
    session.recorder.step("sign in")
    page.goto(session.url("/login/"), wait_until="load")
    page.fill("#id_username", persona.address)
    page.fill("#id_password", persona.password)
    with page.expect_navigation(wait_until="load"):
        page.click("form[action='/login/'] button[type=submit]")
    problems = session.recorder.finish()
    assert not problems, problems
    assert page.url.startswith(session.url("/mail/INBOX/")), page.url
    session.persona = persona


@pytest.fixture
def new_address(mail_stack: None) -> Callable[[], Persona]:
    return lambda: Persona(mailstack.new_address("t-xss"))


@pytest.fixture
def signed_in(browser_session: BrowserSession,
              new_address: Callable[[], Persona]) -> BrowserSession:
    """``browser_session`` signed in as a fresh persona (an empty Dovecot mailbox)."""
    sign_in_page(browser_session, new_address())
    return browser_session
