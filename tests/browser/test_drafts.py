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
from tests.browser.harness import BODY_DOM_CHECK, all_corpus_messages, append_all

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

HTML = [m for m in all_corpus_messages()
        if "html body" in m.payload_location or "cid" in m.payload_location]
CHUNKS = 2
def _editor_problems(session: BrowserSession) -> list[str]:
    """The body-document DOM check over the editor's markup, parsed again on its own."""
    script = f"""() => {{
      const editor = document.querySelector(".rich-editor");
      if (!editor) return [];
      const doc = new DOMParser().parseFromString(editor.innerHTML, "text/html");
      return ({BODY_DOM_CHECK})(doc);
    }}"""
    return [f"editor: {p}" for p in session.page.evaluate(script)]


@pytest.mark.parametrize("index", range(CHUNKS), ids=[f"chunk{i}" for i in range(CHUNKS)])
def test_hostile_html_drafts_stay_inert_in_the_editor(index: int,
                                                      signed_in: BrowserSession) -> None:
    messages = HTML[index::CHUNKS]
    persona = signed_in.persona
    assert persona is not None
    uids = append_all(persona.address, persona.password, [m.raw for m in messages],
                      folder="Drafts")
    problems: list[str] = []
    rich = 0
    for uid, message in zip(uids, messages, strict=True):
        label = f"{message.id} (Drafts/{uid}) draft"
        problems += signed_in.visitor.open(f"/compose/?draft=Drafts%2F{uid}", label=label,
                                           kind="app")
        signed_in.recorder.step(f"{label} editor check")
        editor = _editor_problems(signed_in)
        rich += signed_in.page.evaluate(
            "document.querySelector('form.compose input[name=format]').value === 'html'")
        problems += [f"{label}: {p}" for p in editor] + signed_in.recorder.finish()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert rich > len(messages) // 2  # the editor really received HTML
