"""What a person does with their mail, in Chromium: sign in, read, search, flag, archive, drag
to a folder, write with an attachment, send, see the delivery state, reply, save and resume a
draft, sign out. Keyboard first where the mail programs people know have a key for it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import FilePayload, Locator, Page, expect

from tests.conftest import make_message
from tests.ux.conftest import UX

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]


def _fill(ux: UX, subjects: list[str]) -> dict[str, int]:
    return {s: ux.persona.append(make_message(subject=s, sender=f"{s.split()[0]} <x@example.org>",
                                              text=f"About {s}."))
            for s in subjects}


def _row(page: Page, subject: str) -> Locator:
    return page.locator(".mail-main tr.message-row", has_text=subject)


def test_read_search_flag_archive_drag_and_sign_out(ux: UX) -> None:
    uids = _fill(ux, ["Alpha report", "Bravo lunch", "Charlie invoice", "Delta trip"])
    page = ux.sign_in(ux.page())
    expect(page.locator(".mail-main tr.message-row")).to_have_count(4)
    expect(page.locator(".folder.current .count")).to_have_text(re.compile(r"^4"))

    # Open by clicking anywhere on the row: the message, with its list beside it.
    _row(page, "Bravo lunch").locator(".col-who").click()
    expect(page).to_have_url(re.compile(rf"/mail/INBOX/{uids['Bravo lunch']}/$"))
    expect(page.locator("#message-subject")).to_have_text("Bravo lunch")
    page.wait_for_load_state()
    expect(page.locator(".list-pane")).to_be_visible()
    expect(page.locator(".list-pane a[aria-current=page]")).to_have_text("Bravo lunch")

    # s flags it (the message's own form posts), j goes to the next (older) one, u goes back.
    page.keyboard.press("s")
    expect(page.locator(".message-header .mark.flag")).to_be_visible()
    assert "\\Flagged" in ux.persona.flags(uids["Bravo lunch"])
    page.wait_for_load_state()
    page.keyboard.press("j")
    expect(page.locator("#message-subject")).to_have_text("Alpha report")
    page.wait_for_load_state()
    page.keyboard.press("u")
    expect(page).to_have_url(re.compile(r"/mail/INBOX/$"))
    page.wait_for_load_state()

    # / searches.
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("invoice")
    page.keyboard.press("Enter")
    expect(page.locator(".mail-main tr.message-row")).to_have_count(1)
    expect(_row(page, "Charlie invoice")).to_be_visible()
    page.click("text=Clear")
    page.wait_for_url(re.compile(r"/mail/INBOX/$"))
    page.wait_for_load_state()  # the keys below need app.js

    # j, j moves the cursor down the list; e archives the message under it.
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(".mail-main tr.cursor")).to_contain_text("Charlie invoice")
    page.keyboard.press("e")
    expect(page.locator(".notice")).to_contain_text("Archive")
    expect(_row(page, "Charlie invoice")).to_have_count(0)
    assert len(ux.persona.uids("Archive")) == 1

    # Drag a row onto a folder in the sidebar: it moves there.
    _row(page, "Delta trip").drag_to(page.locator(".folders a[data-folder=Junk]"))
    expect(page.locator(".notice")).to_contain_text("Junk")
    expect(_row(page, "Delta trip")).to_have_count(0)
    assert len(ux.persona.uids("Junk")) == 1
    page.wait_for_load_state()

    # Tick two with x and delete them with #: they go to the trash.
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator(".mail-main input[name=uid]:checked")).to_have_count(2)
    page.keyboard.press("#")
    expect(page.locator(".notice")).to_contain_text("trash")
    assert ux.persona.uids("INBOX") == []

    page.click("button.topbar-sign-out")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.goto(ux.url("/mail/INBOX/"))
    expect(page).to_have_url(re.compile(r"/login/"))


def test_write_attach_send_and_see_the_delivery_state(ux: UX, no_delivery: list[int]) -> None:
    page = ux.sign_in(ux.page())
    page.wait_for_load_state()
    page.keyboard.press("c")
    expect(page).to_have_url(re.compile(r"/compose/$"))
    recipient = ux.new_persona("t-ux-to")
    page.fill("#id_to", recipient.address)
    page.fill("#id_subject", "Figures for Monday")
    page.locator("#id_body:visible, .rich-editor:visible").first.click()
    page.keyboard.type("Here are the figures.")

    # An upload through the file picker, with its progress bar, ends as an attachment.
    figures: FilePayload = {"name": "figures.csv", "mimeType": "text/csv",
                            "buffer": b"a,b\n1,2\n"}
    page.set_input_files("#id_files", files=[figures])
    expect(page.locator("#attachment-list li[data-upload-id]")).to_have_count(1)
    expect(page.locator("#attachment-list .name")).to_have_text("figures.csv")

    # Dropping a file onto the form attaches it too.
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["dropped"], "notes.txt", {type: "text/plain"}));
        const form = document.getElementById("compose-form");
        for (const type of ["dragenter", "dragover", "drop"]) {
            form.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,
                                                    dataTransfer: data}));
        }
    }""")
    expect(page.locator("#attachment-list li[data-upload-id]")).to_have_count(2)

    with page.expect_navigation():
        page.click("#send-button")
    expect(page).to_have_url(re.compile(r"/outbox/\d+/$"))
    assert len(no_delivery) == 1
    expect(page.locator("h1")).to_have_text("Figures for Monday")
    expect(page.locator(".outbox-recipients")).to_contain_text(recipient.address)
    expect(page.locator(".outbox-recipients .chip")).to_have_text(re.compile("queued|sending"))

    page.click("a[href='/outbox/']")
    row = page.locator(".outbox-row", has_text="Figures for Monday")
    expect(row.locator(".chip-state")).to_have_text(re.compile("queued|sending"))


def test_an_upload_shows_progress_and_can_be_cancelled(ux: UX) -> None:
    page = ux.sign_in(ux.page())
    page.goto(ux.url("/compose/"))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 20, "downloadThroughput": -1,
        "uploadThroughput": 256 * 1024})
    big: FilePayload = {"name": "big.bin", "mimeType": "application/octet-stream",
                        "buffer": b"\0" * (4 * 1024 * 1024)}
    page.set_input_files("#id_files", files=[big])
    bar = page.locator("#attachment-list progress")
    expect(bar).to_be_visible()
    page.wait_for_function("() => document.querySelector('#attachment-list progress').value > 0")
    page.click("#attachment-list button:has-text('Cancel')")
    expect(page.locator("#attachment-list li")).to_have_count(0)


def test_reply_then_save_and_resume_a_draft(ux: UX) -> None:
    uids = _fill(ux, ["Lunch on Friday?"])
    page = ux.sign_in(ux.page())
    page.goto(ux.url(f"/mail/INBOX/{uids['Lunch on Friday?']}/"))
    page.wait_for_load_state()
    page.keyboard.press("r")
    expect(page).to_have_url(re.compile(r"/compose/\?reply="))
    expect(page.locator("#id_subject")).to_have_value("Re: Lunch on Friday?")
    page.locator("#id_body").click()
    page.keyboard.type("Friday works for me.")
    page.click("#save-button")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")

    page.goto(ux.url("/mail/Drafts/"))
    page.click("text=Re: Lunch on Friday?")
    page.click("text=Edit draft")
    expect(page.locator("#id_subject")).to_have_value("Re: Lunch on Friday?")
    expect(page.locator("#id_body")).to_have_value(re.compile("Friday works for me."))
