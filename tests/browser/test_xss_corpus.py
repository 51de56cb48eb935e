"""Untrusted mail cannot hurt the reader: every hostile message through every page, in Chromium.

All messages of the shared XSS corpus (``shared/corpora/xss``) and of the project's own
``tests/corpus/xss-extra`` go into a fresh Dovecot mailbox; each is then opened through the real
pages: the mailbox page listing it, the message view with its body frame, the body document on
its own, the raw source, reply and forward in compose, and its attachments (which must
download). The ``interaction`` column (click, hover, type) is performed in the rendered body.
Then, where the view offers "show remote images", the message view (and its body frame)
again with remote content allowed (``?remote=1``).

Nothing may happen: no ``window.__xss`` in any frame, no dialog, no popup or new tab (other
than the user's own click on a link, opened without opener and referrer), no navigation away,
no request anywhere but the live server while remote content is blocked (never the port-9
canary), and no active markup in the documents as Chromium parsed them.

The corpus is split into chunks (one persona, mailbox and browser context each) so pytest-xdist
spreads them over its workers. ``WEBMAIL_XSS_REPORT=<file>`` appends a JSON line per chunk
(counts, timings, what the CSP stopped) for docs/security.md.
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import quote

import pytest

from tests.browser.conftest import BrowserSession
from tests.browser.harness import CorpusMessage, all_corpus_messages, append_all

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]

MESSAGES = all_corpus_messages()  # a missing corpus fails collection; it never skips
CHUNKS = 4
ATTACHMENT_LINKS = "section.attachments a[href]"
MESSAGE_LINKS = "table.messages td.col-subject a[href]"
REMOTE_LINK = ".remote-banner a[href*='remote=1']"
RASTER = {"image/png", "image/gif", "image/jpeg", "image/webp"}
ACTIVE_TYPES = ("text/html", "application/xhtml", "image/svg", "text/xml", "application/xml",
                "javascript", "ecmascript", "text/css", "multipart/")


def _chunk(index: int) -> list[CorpusMessage]:
    return MESSAGES[index::CHUNKS]


def _message_path(uid: int) -> str:
    return f"/mail/INBOX/{uid}/"


def _mailbox_problems(session: BrowserSession, uids: dict[int, CorpusMessage]) -> list[str]:
    """Every page of the inbox listing, until each message was seen in it."""
    problems: list[str] = []
    seen: set[int] = set()
    page_number = 1
    while len(seen) < len(uids) and page_number <= 10:
        path = f"/mail/INBOX/?page={page_number}"
        problems += session.visitor.open(path, label=f"mailbox page {page_number}", kind="app")
        hrefs = session.page.eval_on_selector_all(
            MESSAGE_LINKS, "els => els.map(e => e.getAttribute('href'))")
        found = {int(h.split("?")[0].rstrip("/").rsplit("/", 1)[1]) for h in hrefs}
        if not found - seen:
            break
        seen |= found
        page_number += 1
    missing = sorted(uids.keys() - seen)
    problems += [f"mailbox: message {uids[u].id} (uid {u}) not listed" for u in missing]
    return problems


def _attachment_problems(session: BrowserSession, message: CorpusMessage,
                         hrefs: list[str]) -> list[str]:
    problems: list[str] = []
    for href in hrefs:
        for variant in (href, href + "?inline=1"):
            label = f"{message.id} attachment {variant}"
            response = session.context.request.get(session.url(variant))
            headers = response.headers
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            disposition = headers.get("content-disposition", "")
            if response.status != 200:
                problems.append(f"{label}: HTTP {response.status}")
                continue
            if headers.get("x-content-type-options") != "nosniff":
                problems.append(f"{label}: no X-Content-Type-Options: nosniff")
            if any(active in ctype for active in ACTIVE_TYPES):
                problems.append(f"{label}: served as renderable {ctype}")
            inline_ok = variant.endswith("?inline=1") and ctype in RASTER
            if not inline_ok and not disposition.lower().startswith("attachment"):
                problems.append(f"{label}: Content-Disposition {disposition!r}")
            if inline_ok:
                problems += session.visitor.open(variant, label=label, kind="image")
            else:
                problems += session.visitor.download(variant, label=label)
    return problems


def _message_problems(session: BrowserSession, uid: int, message: CorpusMessage) -> list[str]:
    visitor = session.visitor
    path = _message_path(uid)
    ref = quote(f"INBOX/{uid}", safe="")
    tag = f"{message.id} (uid {uid})"
    problems = visitor.open(path, label=f"{tag} message view", kind="message",
                            interaction=message.interaction, body_path=path + "body/")
    attachments = session.page.eval_on_selector_all(
        ATTACHMENT_LINKS, "els => els.map(e => e.getAttribute('href'))")
    offered_remote = session.page.locator(REMOTE_LINK).count() > 0
    problems += visitor.open(path + "body/", label=f"{tag} body document", kind="body",
                             interaction=message.interaction)
    problems += visitor.open(path + "raw/", label=f"{tag} raw source", kind="raw")
    problems += visitor.open(f"/compose/?reply={ref}", label=f"{tag} reply", kind="app")
    problems += visitor.open(f"/compose/?forward={ref}", label=f"{tag} forward", kind="app")
    problems += _attachment_problems(session, message, attachments)
    # The owner chose "show remote images" (offered when something remote was blocked; for
    # other messages both policies give the same body, see tests/security/test_remote_policy):
    # still nothing may run, pop up or navigate, and nothing may load from private addresses.
    if offered_remote:
        problems += visitor.open(path + "?remote=1", label=f"{tag} message view, remote shown",
                                 kind="message", interaction=message.interaction, remote=True,
                                 body_path=path + "body/?remote=1")
    return problems


@pytest.mark.parametrize("index", range(CHUNKS), ids=[f"chunk{i}" for i in range(CHUNKS)])
def test_hostile_mail_cannot_hurt_the_reader(index: int, signed_in: BrowserSession) -> None:
    started = time.monotonic()
    messages = _chunk(index)
    assert messages
    persona = signed_in.persona
    assert persona is not None
    uids = append_all(persona.address, persona.password, [m.raw for m in messages])
    by_uid = dict(zip(uids, messages, strict=True))

    problems = _mailbox_problems(signed_in, by_uid)
    for uid, message in by_uid.items():
        problems += _message_problems(signed_in, uid, message)

    tally = signed_in.recorder.tally
    _report(index, len(messages), tally.steps, time.monotonic() - started, signed_in)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def _report(index: int, count: int, steps: int, seconds: float,
            session: BrowserSession) -> None:
    target = os.environ.get("WEBMAIL_XSS_REPORT")
    if not target:
        return
    tally = session.recorder.tally
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({
            "chunk": index, "messages": count, "page_loads": steps,
            "seconds": round(seconds, 1), "blocked": tally.blocked,
            "followed_links": tally.followed_links,
            "interactions": session.visitor.interactions,
            "timings": {k: round(v, 1) for k, v in session.visitor.timings.items()},
        }) + "\n")
