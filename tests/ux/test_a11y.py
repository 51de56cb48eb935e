"""axe-core (the copy bundled with the PyPI package axe-playwright-python, MPL-2.0) finds no
serious or critical problem on any main page, in the light and the dark theme, on a desktop and
a phone. The message body's own document is the sender's content and is not checked."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, ViewportSize

from tests.conftest import make_message
from tests.ux.conftest import DESKTOP, PHONE, UX

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

AXE = Axe()
OPTIONS = {"resultTypes": ["violations"],
           "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                 "wcag22aa", "best-practice"]}}


def _problems(page: Page, label: str) -> list[str]:
    # The body iframe is sandboxed without scripts: axe cannot run inside it (and it holds
    # the sender's markup, not ours), so it is left out of the context.
    results: Any = AXE.run(page, context={"exclude": [["iframe.body-frame"]]}, options=OPTIONS)
    out = []
    for violation in results.response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [", ".join(n["target"]) for n in violation["nodes"]][:5]
            out.append(f"{label}: {violation['id']} ({violation['impact']}) {targets}")
    return out


@pytest.mark.parametrize(("viewport", "scheme"), [(DESKTOP, "light"), (DESKTOP, "dark"),
                                                  (PHONE, "light")],
                         ids=["desktop-light", "desktop-dark", "phone-light"])
def test_main_pages_have_no_serious_axe_violation(ux: UX, no_delivery: list[int],
                                                  viewport: ViewportSize, scheme: str) -> None:
    uid = ux.persona.append(make_message(
        subject="Accessible?", attachments=[("a.pdf", "application/pdf", b"%PDF")]))
    ux.persona.append(make_message(subject="Another one"), flags="\\Seen \\Flagged")
    page = ux.page(viewport, scheme=scheme)
    page.goto(ux.url("/login/"))
    problems = _problems(page, "login")
    ux.sign_in(page)
    for path in ("/mail/INBOX/", f"/mail/INBOX/{uid}/", "/compose/", "/outbox/", "/settings/",
                 "/contacts/", "/contacts/new/", "/contacts/import/", "/mail/INBOX/?manage=folders",
                 "/settings/two-factor/", "/mail/INBOX/999999/"):
        page.goto(ux.url(path))
        page.wait_for_load_state("load")
        problems += _problems(page, path)
    page.goto(ux.url("/mail/INBOX/"))
    page.keyboard.press("?")
    page.wait_for_selector("dialog#shortcuts[open]")
    problems += _problems(page, "shortcuts dialog")
    assert not problems, "\n".join(problems)
