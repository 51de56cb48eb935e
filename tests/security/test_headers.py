"""Security headers on every response of every route (signed in, real Dovecot).

App pages: a CSP without inline or eval'd script and with ``frame-ancestors 'none'``,
``X-Frame-Options: DENY``, ``nosniff``, a referrer policy and ``Cross-Origin-Opener-Policy``.
The body document is the one page the app itself may frame (``SAMEORIGIN``), with its own
strict CSP; source and parts are sandboxed downloads/text.
"""

from __future__ import annotations

import pytest

from tests.security.conftest import Mailbox, all_routes, drain

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def script_sources(csp: dict[str, list[str]]) -> list[str]:
    return csp.get("script-src", csp.get("default-src", ["*"]))


def test_every_route_sends_the_security_headers(mailbox: Mailbox) -> None:
    checked = 0
    for route in all_routes():
        path = route.path(uid=mailbox.uid, pk=1)
        response = mailbox.client.get(path)
        where = f"{path} ({route.view}, HTTP {response.status_code})"
        assert response.status_code < 500, where
        csp = directives(response.get("Content-Security-Policy", ""))
        assert csp, f"no CSP on {where}"
        sources = script_sources(csp)
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, where
        assert "*" not in sources and "data:" not in sources and "http:" not in sources, where
        assert response.get("X-Content-Type-Options") == "nosniff", where
        assert response.get("Referrer-Policy") in ("same-origin", "no-referrer"), where
        assert response.get("Cross-Origin-Opener-Policy") == "same-origin", where
        body_document = path.endswith("/body/") and response.status_code == 200
        if body_document:
            assert response.get("X-Frame-Options") == "SAMEORIGIN", where
            assert csp.get("frame-ancestors") == ["'self'"], where
        else:
            assert response.get("X-Frame-Options") == "DENY", where
        html = response.get("Content-Type", "").startswith("text/html")
        if html and not body_document:
            assert csp.get("frame-ancestors") == ["'none'"], where
            assert csp.get("base-uri") == ["'none'"], where
            assert script_sources(csp) == ["'self'"], where
            assert csp.get("object-src") == ["'none'"], where
        drain(response)
        checked += 1
    assert checked > 50


def test_the_body_document_policy(mailbox: Mailbox) -> None:
    for query, images in (("", ["data:"]), ("?remote=1", ["data:", "https:"])):
        response = mailbox.client.get(f"/mail/INBOX/{mailbox.uid}/body/{query}")
        assert response.status_code == 200
        csp = directives(response["Content-Security-Policy"])
        assert csp["default-src"] == ["'none'"]
        assert "script-src" not in csp and "script-src-elem" not in csp
        assert "connect-src" not in csp and "frame-src" not in csp and "font-src" in csp
        assert csp["base-uri"] == ["'none'"]
        assert csp["form-action"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'self'"]
        assert csp["img-src"] == images
        assert "sandbox" in csp
        assert not {"allow-scripts", "allow-same-origin", "allow-forms", "allow-top-navigation",
                    "allow-modals"} & set(csp["sandbox"])
        assert response["Referrer-Policy"] == "no-referrer"
        assert "private" in response["Cache-Control"]


def test_the_message_page_frames_the_body_in_a_strict_sandbox(mailbox: Mailbox) -> None:
    html = mailbox.client.get(f"/mail/INBOX/{mailbox.uid}/").content.decode()
    frames = html.split("<iframe")[1:]
    assert len(frames) == 1
    frame = frames[0].split(">", 1)[0]
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert 'referrerpolicy="no-referrer"' in frame
    assert f'src="/mail/INBOX/{mailbox.uid}/body/"' in frame


def test_source_and_parts_are_sandboxed_text_or_downloads(mailbox: Mailbox) -> None:
    raw = mailbox.client.get(f"/mail/INBOX/{mailbox.uid}/raw/")
    assert raw["Content-Type"] == "text/plain; charset=utf-8"
    assert directives(raw["Content-Security-Policy"]) == {"default-src": ["'none'"],
                                                          "sandbox": []}
    download = mailbox.client.get(f"/mail/INBOX/{mailbox.uid}/raw/?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    part = mailbox.client.get(f"/mail/INBOX/{mailbox.uid}/part/2/")
    assert part["Content-Disposition"].startswith("attachment")
    assert "sandbox" in directives(part["Content-Security-Policy"])
    for response in (raw, download, part):
        assert response["X-Content-Type-Options"] == "nosniff"
        drain(response)
