"""The keyboard alone: skip link, visible focus, the shortcuts dialog (focus kept inside, Esc
closes it and gives focus back), and shortcuts that never fire while typing or with Ctrl/Alt."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import make_message
from tests.ux.conftest import UX

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]


def test_skip_link_dialog_and_typing_never_triggers_shortcuts(ux: UX) -> None:
    ux.persona.append(make_message(subject="Only one"))
    page = ux.sign_in(ux.page())

    # The first Tab reaches the skip link, which is visible when focused and jumps to main.
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()

    # ? opens the dialog with the focus on its close button; Tab stays inside; Esc closes
    # it and the focus goes back where it was.
    page.locator(".list-header h1").click()
    page.keyboard.press("?")
    dialog = page.locator("dialog#shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("aria-labelledby", "shortcuts-title")
    expect(page.locator("#shortcuts-close")).to_be_focused()
    inside = "document.getElementById('shortcuts').contains(document.activeElement)"
    for _ in range(3):
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(inside)
    page.keyboard.press("c")  # no shortcut while the dialog is open
    expect(page).to_have_url(re.compile(r"/mail/INBOX/(#main)?$"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # The top bar's keyboard button opens the same dialog; its close button closes it.
    page.click("#shortcuts-open")
    expect(dialog).to_be_visible()
    page.click("#shortcuts-close")
    expect(dialog).to_be_hidden()
    expect(page.locator("#shortcuts-open")).to_be_focused()

    # Letters typed into the search box are text, not commands.
    page.locator("#q").focus()
    page.keyboard.type("c#e")
    expect(page.locator("#q")).to_have_value("c#e")
    expect(page).to_have_url(re.compile(r"/mail/INBOX/(#main)?$"))
    page.locator("#q").fill("")
    # With a modifier nothing fires either.
    page.locator(".list-header h1").click()
    page.keyboard.press("Alt+c")
    page.keyboard.press("Control+j")
    expect(page).to_have_url(re.compile(r"/mail/INBOX/(#main)?$"))
    expect(page.locator("tr.cursor")).to_have_count(0)
    # And the compose page's fields are safe from them too.
    page.keyboard.press("c")
    expect(page).to_have_url(re.compile(r"/compose/$"))
    page.wait_for_selector(".editor-toolbar")  # compose.js has run (it moves the focus)
    page.locator("#id_subject").press_sequentially("u?#")
    expect(page.locator("#id_subject")).to_have_value("u?#")
    expect(dialog).to_be_hidden()


def test_every_control_of_the_mailbox_is_reachable_with_tab(ux: UX) -> None:
    ux.persona.append(make_message(subject="Tab to me"))
    page = ux.sign_in(ux.page())
    seen: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("""() => {
            const el = document.activeElement;
            return el.id || el.getAttribute('href') || el.getAttribute('value') ||
                   el.getAttribute('name') || el.tagName; }"""))
        if page.evaluate("document.activeElement.closest('tr.message-row') !== null"):
            break
    for wanted in ("/compose/", "/outbox/", "theme-toggle", "shortcuts-open", "q", "read",
                   "target", "delete"):
        assert any(wanted == s or wanted in s for s in seen), (wanted, seen)
    assert page.evaluate("document.activeElement.closest('tr.message-row') !== null"), seen
