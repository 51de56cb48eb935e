"""The compose page in Chromium: suggestions listbox, XHR upload with progress, rich text,
draft save without leaving the page, and a page that still works without JavaScript.

Each test drives its own Chromium from a helper thread with Playwright's sync API, so it never
meets the session-wide Playwright runtime of ``tests/browser`` (one sync runtime per thread).
The database is only touched from the test's own thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FilePayload, Page, sync_playwright
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from tests.conftest import Persona
from webmail.compose.models import Contact

pytestmark = [pytest.mark.browser, pytest.mark.dovecot]
CHROMIUM = os.environ.get("WEBMAIL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
SHOTS = Path(os.environ.get("WEBMAIL_SCREENSHOTS", "/tmp/webmail-screenshots"))


def _in_browser(body: Callable[[Browser], None], timeout: float = 90.0) -> None:
    """Run ``body`` with a fresh headless Chromium in a thread of its own; re-raise its error."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                try:
                    body(browser)
                finally:
                    browser.close()
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="compose-browser")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the browser test did not finish"
    if failure:
        raise failure[0]


def _open(browser: Browser, origin: str, persona: Persona, *, javascript: bool = True
          ) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": 1200, "height": 900},
                                  java_script_enabled=javascript)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.location.get("url", "").endswith("/favicon.ico") else None)
    page.goto(origin + "/login/")
    page.fill("#id_username", persona.address)
    page.fill("#id_password", persona.password)
    with page.expect_navigation():
        page.click("form[action='/login/'] button[type=submit]")
    assert "/login/" not in page.url
    return page, errors


def _draft_bytes(persona: Persona) -> bytes:
    (uid,) = persona.uids("Drafts")
    conn = persona.imap()
    try:
        conn.select("Drafts")
        _typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
        item = data[0]
        assert isinstance(item, tuple)
        return bytes(item[1])
    finally:
        conn.logout()


def test_suggestions_upload_rich_text_and_draft(live_server: Any, transactional_db: None,
                                                alice: Persona) -> None:
    origin = live_server.url
    owner = User.objects.get_or_create(username=alice.address)[0]
    Contact.objects.create(owner=owner, name="Doe, Jane", email="jane@example.org")

    def body(browser: Browser) -> None:
        page, errors = _open(browser, origin, alice)
        page.goto(origin + "/compose/")
        # suggestions: a listbox driven from the keyboard
        to = page.locator("#id_to")
        to.press_sequentially("jan", delay=30)
        option = page.locator("#id_to-suggestions [role=option]").first
        option.wait_for()
        assert to.get_attribute("aria-expanded") == "true"
        to.press("ArrowDown")
        assert to.get_attribute("aria-activedescendant") == option.get_attribute("id")
        assert option.get_attribute("aria-selected") == "true"
        to.press("Enter")
        assert to.input_value() == '"Doe, Jane" <jane@example.org>, '
        assert to.get_attribute("aria-expanded") == "false"
        page.fill("#id_subject", "Browser <test>")

        # upload through XHR: the row gets the server's id, the file input is emptied
        page.set_input_files("#id_files", files=[FilePayload(
            name="notes.txt", mimeType="text/plain", buffer=b"hello " * 1000)])
        row = page.locator("#attachment-list li[data-upload-id]")
        row.wait_for()
        assert "notes.txt" in row.inner_text()
        assert page.locator("#id_files").input_value() == ""

        # rich text: the toolbar appears and formats
        page.click(".editor-toolbar .mode")
        editor = page.locator(".rich-editor")
        assert editor.is_visible() and not page.locator("#id_body").is_visible()
        editor.click()
        page.keyboard.type("Hello ")
        page.click("button[data-cmd=bold]")
        page.keyboard.type("bold")
        assert "<b>bold</b>" in editor.inner_html()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "compose.png"), full_page=True)

        # save draft stays on the page and says so
        page.click("#save-button")
        page.locator("#draft-status", has_text="Draft saved at").wait_for()
        assert page.url == origin + "/compose/"
        assert not errors, errors  # no script error, no CSP violation

    _in_browser(body)
    raw = _draft_bytes(alice)
    assert b"<b>bold</b>" in raw and b"notes.txt" in raw and b"jane@example.org" in raw


def test_autosave_after_a_change(live_server: Any, transactional_db: None, alice: Persona,
                                 settings: SettingsWrapper) -> None:
    settings.WEBMAIL_COMPOSE_AUTOSAVE_SECONDS = 1
    origin = live_server.url

    def body(browser: Browser) -> None:
        page, errors = _open(browser, origin, alice)
        page.goto(origin + "/compose/")
        page.wait_for_timeout(1500)
        assert alice.uids("Drafts") == []  # nothing changed, nothing saved
        page.fill("#id_subject", "Saved by itself")
        page.locator("#draft-status", has_text="Draft saved at").wait_for(timeout=10_000)
        assert not errors, errors

    _in_browser(body)
    assert b"Saved by itself" in _draft_bytes(alice)


def test_page_works_without_javascript(live_server: Any, transactional_db: None,
                                       alice: Persona) -> None:
    origin = live_server.url

    def body(browser: Browser) -> None:
        page, _errors = _open(browser, origin, alice, javascript=False)
        page.goto(origin + "/compose/")
        assert page.locator("#id_files").is_visible() and page.locator("#id_body").is_visible()
        page.fill("#id_subject", "No script")
        page.set_input_files("#id_files", files=[FilePayload(
            name="a.txt", mimeType="text/plain", buffer=b"a")])
        with page.expect_navigation():
            page.click("#save-button")
        assert "/compose/?draft=Drafts" in page.url
        assert page.locator("#id_subject").input_value() == "No script"
        assert "a.txt" in page.locator("#attachment-list").inner_text()

    _in_browser(body)
    assert b"a.txt" in _draft_bytes(alice)


def test_rich_reply_editor_shows_the_quoted_html_and_its_inline_image(
        live_server: Any, transactional_db: None, alice: Persona) -> None:
    from tests.compose.test_rich_reply import _original, _rich

    origin = live_server.url
    uid = alice.append(_original(alice.address))
    owner = User.objects.get_or_create(username=alice.address)[0]
    _rich(Persona(owner.username))
    seen: list[str] = []

    def body(browser: Browser) -> None:
        page, errors = _open(browser, origin, alice)
        page.on("request", lambda r: seen.append(r.url))
        page.goto(origin + f"/compose/?reply=INBOX%2F{uid}")
        editor = page.locator(".rich-editor")
        assert editor.is_visible() and not page.locator("#id_body").is_visible()
        quote = editor.locator("blockquote.mail-quote[type=cite]")
        assert "the photo" in quote.inner_text()
        assert "wrote:" in editor.locator(".mail-attribution").inner_text()
        image = quote.locator("img[alt=photo]")
        image.wait_for()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        assert image.get_attribute("src").startswith("/compose/inline/")
        # the caret waits above the quote; typing there lands in the reply, not the quote
        page.keyboard.type("Lovely!")
        assert "Lovely!" not in quote.inner_text()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "compose-rich-reply.png"), full_page=True)
        page.click("#save-button")
        page.locator("#draft-status", has_text="Draft saved at").wait_for()
        # nothing loaded from anywhere but the app: no tracker, no cid: attempt
        assert all(u.startswith((origin, "data:")) for u in seen), seen
        assert not [e for e in errors if "inline style" not in e], errors

    _in_browser(body)
    raw = _draft_bytes(alice)
    assert b"Lovely!" in raw and b"multipart/related" in raw
    assert b"/compose/inline/" not in raw and b"tracker.example" not in raw
