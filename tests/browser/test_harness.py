"""The harness itself: every kind of harm the XSS suite looks for is seen when it happens.

Pages here are served by Playwright's router on the live server's origin (never by the app), so
these tests show that a quiet XSS run means "nothing happened", not "nothing was watched".
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Route

from tests.browser.conftest import BrowserSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = """<!doctype html><title>t</title>
<img src="/__harness__/missing.png" onerror="window.__xss('top-frame')">
<iframe sandbox="allow-scripts"
        srcdoc="<img src=x onerror=window.__xss('sandboxed-frame')>"></iframe>
<img src="http://127.0.0.1:9/xss/canary">
<a id="go" href="http://127.0.0.1:9/xss/link">plain link, same tab</a>
"""


def _serve(session: BrowserSession, path: str, body: str, headers: dict[str, str] | None = None
           ) -> None:
    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body,
                      headers=headers or {})

    session.context.route(session.url(path), fulfil)


def test_markers_in_every_frame_and_canary_requests_are_seen(
        browser_session: BrowserSession) -> None:
    _serve(browser_session, "/__harness__/", HOSTILE)
    problems = browser_session.visitor.open("/__harness__/", label="hostile", kind="body")
    text = "\n".join(problems)
    assert "window.__xss(top-frame" in text
    assert "window.__xss(sandboxed-frame" in text
    assert "http://127.0.0.1:9/xss/canary" in text
    assert "unexpected frame" in text  # the srcdoc frame
    assert "event handler onerror" in text  # the DOM check
    assert "active element <iframe>" in text


def test_dialogs_popups_and_navigation_away_are_seen(browser_session: BrowserSession) -> None:
    _serve(browser_session, "/__harness__/dialog/",
           "<script>alert('boo'); window.open('/__harness__/popup/')</script>")
    _serve(browser_session, "/__harness__/popup/", "<p>popup</p>")
    problems = "\n".join(browser_session.visitor.open(
        "/__harness__/dialog/", label="dialog", kind="body"))
    assert "dialog alert: boo" in problems
    assert "new page/popup" in problems
    assert "<script>alert('boo')" in problems  # the DOM check

    _serve(browser_session, "/__harness__/leave/", "<a id=x href='/__harness__/else/'>x</a>")
    _serve(browser_session, "/__harness__/else/", "<p>elsewhere</p>")
    problems = "\n".join(browser_session.visitor.open(
        "/__harness__/leave/", label="leave", kind="body", interaction="click:a"))
    assert "navigated away" in problems


def test_a_followed_link_counts_only_with_noopener_noreferrer(
        browser_session: BrowserSession) -> None:
    good = ('<a href="http://127.0.0.1:9/xss/ok" target="_blank" '
            'rel="noopener noreferrer">ok</a>')
    _serve(browser_session, "/__harness__/good/", good)
    found = browser_session.visitor.open("/__harness__/good/", label="good", kind="body",
                                         interaction="click:a")
    assert found == []
    assert browser_session.recorder.tally.followed_links

    _serve(browser_session, "/__harness__/bad/",
           '<a href="http://127.0.0.1:9/xss/bad" target="_blank">tabnabbing</a>')
    problems = "\n".join(browser_session.visitor.open(
        "/__harness__/bad/", label="bad", kind="body", interaction="click:a"))
    assert "link without target=_blank rel=noopener noreferrer" in problems
    assert "followed link sent Referer" in problems


def test_blocked_loads_are_counted_not_failed(browser_session: BrowserSession) -> None:
    _serve(browser_session, "/__harness__/csp/", '<img src="http://127.0.0.1:9/xss/csp">',
           {"Content-Security-Policy": "default-src 'none'"})
    problems = browser_session.visitor.open("/__harness__/csp/", label="csp", kind="body")
    assert problems == []
    assert any("127.0.0.1:9/xss/csp" in c for c in browser_session.recorder.tally.blocked)


def test_requests_from_a_body_to_the_app_and_the_canary_name_are_seen(
        browser_session: BrowserSession) -> None:
    _serve(browser_session, "/__harness__/1/body/",
           '<img src="/logout/"><img src="http://xss-canary.test:9/xss/name">')
    problems = "\n".join(browser_session.visitor.open(
        "/__harness__/1/body/", label="body", kind="body"))
    assert "the body requested the app: image" in problems
    assert "xss-canary.test:9/xss/name" in problems
