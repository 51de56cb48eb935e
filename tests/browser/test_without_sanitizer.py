"""A sanitizer miss is harmless: with the sanitizer switched off, the body frame still runs nothing.

bleach gets no more security fixes, so the second layer must hold on its own. Here
``sanitize_html`` is replaced (in the live server, which runs in this process) by a function
that returns the mail's HTML untouched; every HTML vector of the corpus that fires in raw
Chromium is then opened in the real message view, its interaction performed. The sandboxed
iframe (no ``allow-scripts``, no ``allow-same-origin``) and the body document's CSP
(``default-src 'none'``) must still stop every script, dialog, popup, top navigation and
every subresource load leaving the browser (CSP-blocked attempts are fine: that is the CSP
working).

What the second layer alone cannot stop, and the test therefore allows, is the body frame
navigating *itself* (a ``<meta http-equiv=refresh>``, or a link without ``target``). The
sanitizer removes that; with it on, the main suite forbids it. (Same-origin images are refused
by the body CSP itself: ``img-src data:``.)
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import BrowserSession
from tests.browser.harness import CorpusMessage, all_corpus_messages, append_all
from webmail.sanitize import RemotePolicy, SanitizedHtml

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

LIVE_HTML = [m for m in all_corpus_messages()
             if m.fires_raw.startswith("yes") and ("html body" in m.payload_location
                                                  or "cid" in m.payload_location)]
CHUNKS = 2
# Allowed only here (see the module docstring): the frame's own navigations, same-origin images.
SECOND_LAYER_LIMITS = re.compile(
    r": (unexpected frame at |document request to |the body requested the app: image )")


def _no_sanitizer(html: str, *, policy: RemotePolicy = RemotePolicy.BLOCK,
                  cid_map: object = None) -> SanitizedHtml:
    return SanitizedHtml(html, 0, False)


def test_the_vectors_are_there() -> None:
    assert len(LIVE_HTML) >= 90, len(LIVE_HTML)


@pytest.mark.parametrize("index", range(CHUNKS), ids=[f"chunk{i}" for i in range(CHUNKS)])
def test_sandbox_and_csp_hold_without_the_sanitizer(
        index: int, signed_in: BrowserSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("webmail.mail.bodies.sanitize_html", _no_sanitizer)
    messages: list[CorpusMessage] = LIVE_HTML[index::CHUNKS]
    persona = signed_in.persona
    assert persona is not None
    uids = append_all(persona.address, persona.password, [m.raw for m in messages])
    problems: list[str] = []
    limits: list[str] = []
    for uid, message in zip(uids, messages, strict=True):
        path = f"/mail/INBOX/{uid}/"
        found = signed_in.visitor.open(
            path, label=f"{message.id} (uid {uid}) unsanitized", kind="message",
            interaction=message.interaction, body_path=path + "body/", body_dom=False)
        for problem in found:
            (limits if SECOND_LAYER_LIMITS.search(problem) else problems).append(problem)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    # The CSP really was tested: blocked attempts were seen.
    assert signed_in.recorder.tally.blocked
