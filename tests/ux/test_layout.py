"""Three panes on a desktop, two on a tablet, one on a phone with a way back; no page scrolls
sideways at 390, 768 or 1280 pixels; dark mode follows the system and the toggle, and message
bodies keep their own colours on white paper inside the dark UI."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.conftest import make_message
from tests.ux.conftest import DESKTOP, PHONE, TABLET, UX

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

LONG = ("Wir_brauchen_einen_sehr_langen_Betreff_ohne_Leerzeichen_der_nirgends_umbricht_"
        "und_trotzdem_nicht_seitlich_scrollen_darf_" * 2)


def _no_sideways_scroll(page: Page, label: str) -> None:
    width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], (label, width)


@pytest.mark.parametrize("viewport", [PHONE, TABLET, DESKTOP], ids=["390", "768", "1280"])
def test_no_page_scrolls_sideways(ux: UX, viewport: ViewportSize) -> None:
    uid = ux.persona.append(make_message(
        subject=LONG, sender=f"{LONG[:60]} <very.long.address.{LONG[:40]}@example.org>",
        text=LONG * 3, attachments=[(LONG[:90] + ".pdf", "application/pdf", b"%PDF")]))
    page = ux.page(viewport)
    page.goto(ux.url("/login/"))
    _no_sideways_scroll(page, "login")
    ux.sign_in(page)
    for path in ("/mail/INBOX/", f"/mail/INBOX/{uid}/", "/compose/", "/outbox/", "/settings/",
                 "/contacts/", "/mail/INBOX/?manage=folders", "/settings/two-factor/"):
        page.goto(ux.url(path))
        _no_sideways_scroll(page, path)


def test_panes_per_screen_size(ux: UX) -> None:
    uid = ux.persona.append(make_message(subject="Pane test"))
    here = f"/mail/INBOX/{uid}/"
    page = ux.sign_in(ux.page(DESKTOP))
    page.goto(ux.url(here))
    for pane in (".folders", ".list-pane", "article.message"):
        expect(page.locator(pane)).to_be_visible()

    page.set_viewport_size(TABLET)
    expect(page.locator(".list-pane")).to_be_visible()
    expect(page.locator("article.message")).to_be_visible()
    expect(page.locator(".folders")).to_be_hidden()
    page.goto(ux.url("/mail/INBOX/"))
    expect(page.locator(".folders")).to_be_visible()
    expect(page.locator(".mail-main table.messages")).to_be_visible()

    page.set_viewport_size(PHONE)
    page.goto(ux.url(here))
    expect(page.locator(".list-pane")).to_be_hidden()
    expect(page.locator(".folders")).to_be_hidden()
    expect(page.locator("article.message")).to_be_visible()
    back = page.locator(".message-nav a.back")
    expect(back).to_be_visible()
    back.click()
    expect(page).to_have_url(re.compile(r"/mail/INBOX/$"))
    expect(page.locator(".mail-main tr.message-row")).to_have_count(1)
    # The actions show as a bar at the bottom once a message is ticked.
    toolbar = page.locator(".list-form .toolbar")
    expect(toolbar).to_be_hidden()
    page.check(".mail-main input[name=uid]")
    expect(toolbar).to_be_visible()
    box = toolbar.bounding_box()
    assert box is not None and box["y"] + box["height"] == PHONE["height"], box
    page.uncheck(".mail-main input[name=uid]")
    # The folders are one tap away, folded above the list.
    expect(page.locator("details.folders-box")).not_to_have_attribute("open", "")
    page.click("details.folders-box > summary")
    expect(page.locator(".folders a[data-folder=Sent]")).to_be_visible()


def test_dark_mode_follows_the_system_and_the_toggle_and_keeps_mail_on_paper(ux: UX) -> None:
    uid = ux.persona.append(make_message(
        subject="Colours", html='<p style="color:#333">Dark grey text on the sender\'s white</p>'))
    page = ux.sign_in(ux.page(scheme="dark"))
    page.goto(ux.url(f"/mail/INBOX/{uid}/"))
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", background
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    body = page.frame_locator("iframe.body-frame").locator("body")
    expect(body).to_contain_text("Dark grey text")
    paper = page.frame_locator("iframe.body-frame").locator("html").evaluate(
        "h => getComputedStyle(h).backgroundColor")
    assert paper == "rgb(255, 255, 255)", paper

    # The toggle switches at once and is saved for the next page (and the next device), in one
    # request.
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url.split(ux.url(''))[-1]}"))
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "false")
    page.wait_for_timeout(100)
    page.wait_for_load_state("networkidle")
    assert requests == ["POST /settings/theme/"], requests
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    page.click("#theme-toggle")
    page.wait_for_load_state("networkidle")
    page.goto(ux.url("/settings/"))
    expect(page.locator("input[name=theme][value=dark]")).to_be_checked()
    # Everything else in the settings stayed as it was.
    expect(page.locator("input[name=remote_content][value=never]")).to_be_checked()


def test_the_list_beside_a_message_shows_where_it_is(ux: UX) -> None:
    uids = [ux.persona.append(make_message(subject=f"Item {i:02d}")) for i in range(40)]
    page = ux.sign_in(ux.page(DESKTOP))
    page.goto(ux.url(f"/mail/INBOX/{uids[2]}/"))  # near the end of the newest-first list
    row = page.locator(".list-pane tr.current")
    expect(row).to_contain_text("Item 02")
    assert page.evaluate("""() => {
        const pane = document.querySelector('.list-pane').getBoundingClientRect();
        const row = document.querySelector('.list-pane tr.current').getBoundingClientRect();
        return row.top >= pane.top && row.bottom <= pane.bottom; }""")
