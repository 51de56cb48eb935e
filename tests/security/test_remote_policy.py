"""Remote content: what "show remote images" may and may not change.

For every hostile corpus message: when the blocking policy found nothing remote to block, the
allowing policy yields the very same body (so the browser suite needs the "remote shown" pass
only where the page offers it); and whatever the policy, no image or CSS URL of the output
points at a private, loopback or link-local address, however it is spelled.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.harness import CorpusMessage, all_corpus_messages
from webmail.mime.parse import parse_message
from webmail.sanitize import RemotePolicy, sanitize_html

MESSAGES = all_corpus_messages()
URL = re.compile(r"""(?:src|background)\s*=\s*["']?([^"'\s>]+)|url\(\s*["']?([^"')\s]+)""", re.I)
PRIVATE = re.compile(
    r"^(?:https?:)?//(?:\[[^\]]*\]|(?:127|10|0|169\.254|192\.168)\.[\d.]*|172\.(?:1[6-9]|2\d|3[01])"
    r"\.[\d.]*|localhost|0x[0-9a-f]+(?:\.[0-9a-fx.]*)?|\d{8,}|0\d*\.[\d.]*)(?::\d+)?(?:/|$)", re.I)


@pytest.mark.parametrize("message", MESSAGES, ids=[m.id for m in MESSAGES])
def test_remote_policies(message: CorpusMessage) -> None:
    parsed = parse_message(message.raw)
    if parsed.html is None:
        return
    cids = {cid: f"/mail/INBOX/1/part/{section}/?inline=1"
            for cid, section in parsed.inline_parts.items()}
    blocked = sanitize_html(parsed.html, policy=RemotePolicy.BLOCK, cid_map=cids)
    allowed = sanitize_html(parsed.html, policy=RemotePolicy.ALLOW, cid_map=cids)
    if blocked.remote_blocked == 0:
        assert allowed.html == blocked.html
    for out in (blocked.html, allowed.html):
        for match in URL.finditer(out):
            url = match[1] or match[2]
            assert not PRIVATE.match(url), url


def test_the_private_address_pattern() -> None:
    for url in ("https://127.0.0.1:9/x", "//[::1]/x", "https://2130706433/", "http://0x7f.1/",
                "https://0177.0.0.1/", "https://localhost:9/", "https://192.168.1.1/",
                "https://172.20.0.1/", "https://10.1.2.3/", "https://169.254.169.254/"):
        assert PRIVATE.match(url), url
    assert not PRIVATE.match("https://example.org/logo.png")
