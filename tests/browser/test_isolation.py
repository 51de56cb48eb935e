"""In Chromium: hostile names stay text everywhere, the body frame is isolated, nothing frames us.

- Subject, sender name and file name carrying ``<img onerror>`` and ``</title><script>`` are
  shown as the literal text in the mailbox list, the message view, the page ``<title>``,
  compose (reply and forward) and the outbox after sending.
- The body iframe is sandboxed without scripts and same-origin (its document has an opaque
  origin the app page cannot reach into), served with its own CSP and no referrer.
- App pages refuse to be framed by another site; the body document only by the app.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Route

from tests.browser.conftest import BrowserSession
from tests.browser.harness import append_all

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

IMG = "<img src=x onerror=window.__xss('t')>"
TITLE = "</title><script>window.__xss('t')</script>"
SUBJECT = f"{TITLE} {IMG}"
FILENAME = f"{IMG}.html"
HOSTILE = (
    f"From: \"{IMG}\" <evil@example.org>\r\n"
    "To: victim@example.test\r\n"
    f"Subject: {SUBJECT}\r\n"
    "Date: Mon, 01 Jun 2026 12:00:00 +0000\r\n"
    "Message-ID: <isolation@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    '<p>Hi <a href="https://example.org/page">a link</a></p>\r\n'
    f'--b\r\nContent-Type: text/html; name="{FILENAME}"\r\n'
    f'Content-Disposition: attachment; filename="{FILENAME}"\r\n\r\n'
    "<script>window.__xss('t')</script>\r\n--b--\r\n"
).encode()


def _text(session: BrowserSession, selector: str) -> str:
    return str(session.page.locator(selector).first.text_content() or "")


def test_hostile_names_are_text_on_every_page(signed_in: BrowserSession,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[int] = []

    def publish(pk: int, countdown: float | None = None) -> bool:
        published.append(pk)
        return True

    monkeypatch.setattr("webmail.outbox.services.publish_deliver", publish)
    session, visitor = signed_in, signed_in.visitor
    assert session.persona is not None
    (uid,) = append_all(session.persona.address, session.persona.password, [HOSTILE])
    here = f"/mail/INBOX/{uid}/"

    assert visitor.open("/mail/INBOX/", label="mailbox", kind="app") == []
    assert _text(session, "td.col-subject a") == SUBJECT
    assert IMG in _text(session, "td.col-who")

    assert visitor.open(here, label="message", kind="message", body_path=here + "body/") == []
    assert session.page.title().startswith(SUBJECT)
    assert _text(session, "#message-subject") == SUBJECT
    assert IMG in _text(session, "dl.headers dd")
    assert _text(session, "section.attachments a") == FILENAME

    assert visitor.open(f"/compose/?reply=INBOX%2F{uid}", label="reply", kind="app") == []
    assert session.page.input_value("#id_subject") == f"Re: {SUBJECT}"
    assert IMG in session.page.input_value("#id_to")

    assert visitor.open(f"/compose/?forward=INBOX%2F{uid}", label="forward", kind="app") == []
    assert session.page.input_value("#id_subject") == f"Fwd: {SUBJECT}"
    assert IMG in session.page.input_value("#id_body")
    assert _text(session, "#attachment-list label") == FILENAME

    # Send the forward; the outbox shows the subject as text.
    session.recorder.step("send")
    session.page.fill("#id_to", "t-bob-isolation@example.test")
    with session.page.expect_navigation(wait_until="load"):
        session.page.click("#send-button")
    assert session.recorder.finish() == []
    assert re.search(r"/outbox/\d+/$", session.page.url), session.page.url
    detail = session.page.url.removeprefix(session.origin)
    assert published
    assert visitor.open(detail, label="outbox detail", kind="app") == []
    assert session.page.title().startswith(f"Fwd: {SUBJECT}")
    assert visitor.open("/outbox/", label="outbox", kind="app") == []
    assert _text(session, "table.outbox-table td a") == f"Fwd: {SUBJECT}"


BENIGN = (
    b"From: Friend <friend@example.org>\r\nTo: victim@example.test\r\nSubject: Links\r\n"
    b"Date: Mon, 01 Jun 2026 12:00:00 +0000\r\nMessage-ID: <links@example.org>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p><a href="https://example.org/a">one</a> <a href="http://example.org/b" '
    b'target="_self" rel="opener">two</a> <a href="mailto:x@example.org">three</a></p>\r\n'
)


def test_the_body_frame_is_sandboxed_and_cross_origin(signed_in: BrowserSession) -> None:
    session = signed_in
    assert session.persona is not None
    (uid,) = append_all(session.persona.address, session.persona.password, [BENIGN])
    here = f"/mail/INBOX/{uid}/"
    with session.page.expect_response(re.compile(r"/body/$")) as body_info:
        assert session.visitor.open(here, label="message", kind="message",
                                    body_path=here + "body/") == []
    frame_el = session.page.locator("iframe.body-frame")
    assert set((frame_el.get_attribute("sandbox") or "").split()) == {
        "allow-popups", "allow-popups-to-escape-sandbox"}
    assert frame_el.get_attribute("referrerpolicy") == "no-referrer"
    # The app page cannot reach into the body document, and the body has an opaque origin.
    assert session.page.evaluate(
        "document.querySelector('iframe.body-frame').contentDocument") is None
    body_frame = next(f for f in session.page.frames if f.url.endswith("/body/"))
    assert body_frame.evaluate("window.origin") == "null"
    links = body_frame.eval_on_selector_all(
        "a", "els => els.map(a => [a.getAttribute('target'), a.getAttribute('rel')])")
    assert len(links) == 3
    assert all(t == "_blank" and set((r or "").split()) == {"noopener", "noreferrer"}
               for t, r in links)

    headers = body_info.value.all_headers()
    csp = {d.strip().split(" ", 1)[0]: d.strip() for d in headers["content-security-policy"]
           .split(";")}
    assert csp["default-src"] == "default-src 'none'"
    assert "script-src" not in csp
    assert csp["base-uri"] == "base-uri 'none'"
    assert csp["form-action"] == "form-action 'none'"
    assert csp["frame-ancestors"] == "frame-ancestors 'self'"
    assert "allow-scripts" not in csp.get("sandbox", "sandbox")
    assert "allow-same-origin" not in csp.get("sandbox", "sandbox")
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


def test_another_site_cannot_frame_the_app(signed_in: BrowserSession) -> None:
    session = signed_in
    assert session.persona is not None
    (uid,) = append_all(session.persona.address, session.persona.password, [BENIGN])
    evil = "http://evil.test/frame"
    markup = (f'<iframe id="app" src="{session.url("/mail/INBOX/")}"></iframe>'
              f'<iframe id="body" src="{session.url(f"/mail/INBOX/{uid}/body/")}"></iframe>')

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=markup)

    session.context.route(evil, fulfil)
    session.recorder.step("framing")
    session.page.goto(evil, wait_until="load")
    session.page.wait_for_timeout(200)
    session.recorder.finish()
    for frame in session.page.frames:
        if frame is session.page.main_frame:
            continue
        # A refused frame is left on Chromium's error page instead of the app's document.
        assert frame.url.startswith("chrome-error:"), frame.url
        assert "Webmail" not in frame.title()
    assert len(session.page.frames) == 3
