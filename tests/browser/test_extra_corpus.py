"""The project's own hostile messages are live: rendered *without* the app, they fire.

``tests/corpus/xss-extra/INDEX.tsv`` says ``yes`` in ``fires_raw_chromium`` for vectors that
run script or reach the port-9 canary in Chromium when their payload is used naively. This test
renders each such payload the naive way (pages served by Playwright's router, never by the app)
and checks that it really fires, so a quiet XSS suite means the app stopped them, not that
the vectors were dead. Naive rendering, by ``payload_location``:

- header: the decoded value put unescaped into ``<title>``, text and a double-quoted
  attribute;
- attachment filename: the decoded name put unescaped into a link's text;
- attachment content: the part opened top-level with its declared type, or with none (sniffed)
  when the declared type is an image;
- text/html body: the decoded HTML in a page (remote images loading, as a naive "show remote
  images" would); "quoted in a reply": its text (tags dropped, entities decoded) unescaped in a
  ``<textarea>``.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from playwright.sync_api import Route

from tests.browser.conftest import BrowserSession
from tests.browser.harness import EXTRA_CORPUS, CorpusMessage, read_index

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXTRA = read_index(EXTRA_CORPUS)
def _fires(message: CorpusMessage) -> bool:
    """The row's ``fires_raw_chromium`` says yes."""
    with (EXTRA_CORPUS / "INDEX.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if cols[1] == message.id:
                return cols[7].startswith("yes")
    raise AssertionError(f"{message.id} not in INDEX.tsv")


LIVE = [m for m in EXTRA if _fires(m)]


def _parse(message: CorpusMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _naive_pages(message: CorpusMessage) -> list[tuple[bytes, str | None]]:
    """(body, content type or None for "sniff") of each page that renders the payload."""
    parsed = _parse(message)
    where = message.payload_location
    if where.startswith("header"):
        values = [str(parsed[h]) for h in ("Subject", "From", "Reply-To") if parsed[h]]
        page = "".join(f'<title>{v}</title><h1>{v}</h1><input value="{v}">' for v in values)
        return [(page.encode(), "text/html; charset=utf-8")]
    if where == "attachment filename":
        names = [p.get_filename() or "" for p in parsed.walk() if p.get_filename()]
        page = "".join(f"<p><a href='#'>{n}</a></p>" for n in names)
        return [(page.encode(), "text/html; charset=utf-8")]
    if where.startswith("attachment"):
        pages: list[tuple[bytes, str | None]] = []
        for part in parsed.walk():
            body_text = part.get_content_disposition() is None and \
                part.get_content_type() in ("text/plain", "text/html")
            if part.is_multipart() or body_text:
                continue
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes), message.id
            ctype = part.get_content_type()
            pages.append((data, None if ctype.startswith("image/") else ctype))
        return pages
    body = parsed.get_body(preferencelist=("html",))
    assert body is not None, message.id
    markup = body.get_content()
    if "quoted in a reply" in where:
        text = html.unescape(re.sub(r"<[^>]*>", "", markup))
        markup = f"<textarea>{text}</textarea>"
    return [(markup.encode(), "text/html; charset=utf-8")]


def _fulfil(body: bytes, ctype: str | None) -> Callable[[Route], None]:
    def fulfil(route: Route) -> None:
        route.fulfill(status=200, body=body, headers={"Content-Type": ctype} if ctype else {})

    return fulfil


@pytest.mark.parametrize("message", LIVE, ids=[m.id for m in LIVE])
def test_extra_vector_fires_when_rendered_naively(message: CorpusMessage,
                                                  browser_session: BrowserSession) -> None:
    session = browser_session
    fired: list[str] = []
    for number, (body, ctype) in enumerate(_naive_pages(message)):
        path = f"/__naive__/{message.id}/{number}"

        session.context.route(session.url(path), _fulfil(body, ctype))
        step = session.recorder.step(f"naive {message.id} #{number}")
        session.page.goto(session.url(path), wait_until="load")
        if message.interaction != "none":
            session.visitor.interact(session.page.main_frame, message.interaction, step,
                                     message.id)
        session.page.wait_for_timeout(300)
        fired += step.xss
        fired += [r.url for r in step.requests if ":9/" in r.url]
        session.recorder.finish()
    assert fired, f"{message.id} is marked as firing but did not fire when rendered naively"
