"""Hostile HTML quoted in a rich-text reply or forward: the original's sanitized HTML goes into
the app page's contenteditable editor (like a resumed draft, ``test_drafts.py``), so every
corpus message with an HTML payload is opened as ``/compose/?reply=`` and ``?forward=`` by a
user who writes HTML: no marker, dialog, popup, navigation or off-site request, and the
editor's markup holds nothing active."""

from __future__ import annotations

import pytest

from accounts.models import User
from accounts.selectors import user_settings
from tests.browser.conftest import BrowserSession
from tests.browser.harness import append_all, html_corpus_messages, open_each_in_editor

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

HTML = html_corpus_messages()
CHUNKS = 2


@pytest.mark.parametrize("kind", ["reply", "forward"])
@pytest.mark.parametrize("index", range(CHUNKS), ids=[f"chunk{i}" for i in range(CHUNKS)])
def test_hostile_html_quoted_in_the_editor_stays_inert(kind: str, index: int,
                                                       signed_in: BrowserSession) -> None:
    messages = HTML[index::CHUNKS]
    persona = signed_in.persona
    assert persona is not None
    prefs = user_settings(User.objects.get(username=persona.address))
    prefs.compose_format = "html"
    prefs.save()
    # A folder of their own, apart from the inbox the sign-in opened.
    conn = persona.imap()
    conn.create("Quoted")
    conn.logout()
    uids = append_all(persona.address, persona.password, [m.raw for m in messages],
                      folder="Quoted")
    problems, rich = open_each_in_editor(signed_in, param=kind, folder="Quoted", uids=uids,
                                         messages=messages, what=kind)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert rich == len(messages)  # every one was quoted as HTML in the editor
