"""The list keeps itself current: new mail appears within 30 seconds without a reload, the
ticked boxes, the cursor and the scroll position stay; nothing is asked while the tab is
hidden; an opted-in desktop notification names the new message."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import make_message
from tests.ux.conftest import UX

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

SPY = """
window.__notes = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) { super(title, options); window.__notes.push([title, options.body]); }
};
"""


def _tick(page: Page, seconds: int = 31) -> None:
    page.clock.run_for(seconds * 1000)


def test_new_mail_appears_and_the_selection_and_scroll_stay(ux: UX) -> None:
    for i in range(40):
        ux.persona.append(make_message(subject=f"old message {i:02d}"))
    page = ux.page({"width": 1280, "height": 600})
    page.context.grant_permissions(["notifications"], origin=ux.origin)
    page.add_init_script(SPY)
    page.clock.install()
    ux.sign_in(page)
    state_requests: list[str] = []
    page.on("request", lambda r: state_requests.append(r.url) if "state=1" in r.url else None)

    # Opt in to notifications (the permission is granted, the choice is remembered).
    page.click("#notify-toggle")
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")

    page.check("input[name=uid] >> nth=3")
    page.check("input[name=uid] >> nth=5")
    main = page.locator(".mail-main")
    main.evaluate("m => { m.scrollTop = 400; }")
    top = main.evaluate("m => m.scrollTop")
    assert top > 0

    # Nothing changed: the poll asks, the list is not reloaded.
    _tick(page)
    page.wait_for_timeout(300)
    assert len(state_requests) >= 1
    expect(page.locator(".mail-main tr.message-row")).to_have_count(40)

    ux.persona.append(make_message(subject="Brand new arrival", sender="Ada <ada@example.org>"))
    _tick(page)
    expect(page.locator(".mail-main tr.message-row").first).to_contain_text("Brand new arrival")
    expect(page.locator(".mail-main tr.arrived")).to_have_count(1)
    expect(page.locator("#live-status")).to_have_text("New mail")
    expect(page.locator(".mail-main tr.message-row")).to_have_count(41)
    expect(page.locator("input[name=uid]:checked")).to_have_count(2)
    assert abs(main.evaluate("m => m.scrollTop") - top) < 2
    expect(page.locator(".folder.current .count")).to_contain_text("41")
    assert page.title().startswith("(41) ")
    page.wait_for_function("window.__notes.length === 1")
    title, body = page.evaluate("window.__notes[0]")
    assert title == "New mail" and "Brand new arrival" in body and "Ada" in body

    # A hidden tab asks nothing.
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    asked = len(state_requests)
    _tick(page, 95)
    page.wait_for_timeout(300)
    assert len(state_requests) == asked


def test_the_list_beside_an_open_message_refreshes_too(ux: UX) -> None:
    uid = ux.persona.append(make_message(subject="Open me"))
    page = ux.page()
    page.clock.install()
    ux.sign_in(page)
    page.goto(ux.url(f"/mail/INBOX/{uid}/"))
    expect(page.locator(".list-pane tr.message-row")).to_have_count(1)
    ux.persona.append(make_message(subject="Arrived while reading"))
    _tick(page)
    expect(page.locator(".list-pane tr.message-row")).to_have_count(2)
    expect(page.locator(".list-pane tr.current")).to_contain_text("Open me")
    expect(page.locator(".list-pane a[aria-current=page]")).to_have_text("Open me")
