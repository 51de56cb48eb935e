"""Hostile HTML resumed as a draft: the rich-text editor of the app page gets it via innerHTML.

A draft's HTML is the one place mail markup enters an *app* page (compose.js puts the
server-sanitized ``body_html`` into a contenteditable editor), so mutation XSS would land in
the app's own origin here, not in the sandboxed body frame. Every corpus message with an HTML
payload is stored in Drafts and opened with ``/compose/?draft=Drafts/<uid>``: no marker, dialog,
popup, navigation or off-site request, and the editor (as Chromium parsed it) holds no active
markup.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import BrowserSession
from tests.browser.harness import append_all, html_corpus_messages, open_each_in_editor

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

HTML = html_corpus_messages()
CHUNKS = 2


@pytest.mark.parametrize("index", range(CHUNKS), ids=[f"chunk{i}" for i in range(CHUNKS)])
def test_hostile_html_drafts_stay_inert_in_the_editor(index: int,
                                                      signed_in: BrowserSession) -> None:
    messages = HTML[index::CHUNKS]
    persona = signed_in.persona
    assert persona is not None
    uids = append_all(persona.address, persona.password, [m.raw for m in messages],
                      folder="Drafts")
    problems, rich = open_each_in_editor(signed_in, param="draft", folder="Drafts", uids=uids,
                                         messages=messages, what="draft")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert rich > len(messages) // 2  # the editor really received HTML
