"""Attachments are downloads: active types (HTML, SVG, XML, script, CSS...) go out as
``application/octet-stream`` with ``Content-Disposition: attachment``, ``nosniff`` and a
sandboxing CSP; ``?inline=1`` shows only PNG, GIF, JPEG and WebP; hostile file names cannot
break the response headers."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from tests.browser.harness import EXTRA_CORPUS
from tests.conftest import Persona, make_message
from tests.security.conftest import Mailbox

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]

ACTIVE = ["text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
          "text/javascript", "application/javascript", "text/css", "application/rss+xml",
          "text/xsl", "application/ecmascript", "text/vtt"]
RASTER = ["image/png", "image/gif", "image/jpeg", "image/webp"]
PASSIVE = ["application/pdf", "text/plain", "application/zip", "image/bmp", "image/tiff",
           "image/x-icon", "audio/mpeg", "video/mp4"]
PAYLOAD = b"<html><script>window.__xss('att')</script><svg onload=alert(1)></svg></html>"


def _message_with(types: list[str]) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "Types"
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.test"
    msg.set_content("Attachments.")
    for n, ctype in enumerate(types):
        maintype, subtype = ctype.split("/")
        msg.add_attachment(PAYLOAD, maintype=maintype, subtype=subtype, filename=f"f{n}.bin")
    return msg.as_bytes()


def _sections(client: object, uid: int) -> list[str]:
    html = client.get(f"/mail/INBOX/{uid}/").content.decode()  # type: ignore[attr-defined]
    return sorted({href.split("/part/")[1].split("/")[0]
                   for href in html.split('href="')[1:] if "/part/" in href.split('"')[0]},
                  key=lambda s: [int(x) for x in s.split(".")])


@pytest.mark.parametrize("types", [ACTIVE, RASTER, PASSIVE], ids=["active", "raster", "passive"])
def test_every_part_downloads_and_only_rasters_show_inline(
        mailbox: Mailbox, alice: Persona, types: list[str]) -> None:
    uid = alice.append(_message_with(types))
    sections = _sections(mailbox.client, uid)
    assert len(sections) == len(types)
    for section, declared in zip(sections, types, strict=True):
        for query in ("", "?inline=1"):
            response = mailbox.client.get(f"/mail/INBOX/{uid}/part/{section}/{query}")
            where = f"{declared} {query}"
            assert response.status_code == 200, where
            served = response["Content-Type"].split(";")[0]
            assert response["X-Content-Type-Options"] == "nosniff", where
            assert "sandbox" in response["Content-Security-Policy"], where
            assert response.getvalue() == PAYLOAD, where
            if declared in ACTIVE:
                assert served == "application/octet-stream", where
            else:
                assert served == declared, where
            inline = query and declared in RASTER
            disposition = response["Content-Disposition"]
            assert disposition.startswith("inline" if inline else "attachment"), where


def test_hostile_file_names_stay_inside_the_header(mailbox: Mailbox, alice: Persona) -> None:
    raw = next(EXTRA_CORPUS.glob("*-x-filename-header-injection.eml")).read_bytes()
    uid = alice.append(raw)
    (section,) = _sections(mailbox.client, uid)
    response = mailbox.client.get(f"/mail/INBOX/{uid}/part/{section}/")
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "\r" not in disposition and "\n" not in disposition
    assert response["Content-Type"] == "application/octet-stream"
    assert not any(k.lower() == "content-type" and v.startswith("text/html")
                   for k, v in response.items())


def test_the_message_source_download_is_an_attachment(mailbox: Mailbox, alice: Persona) -> None:
    raw = make_message(subject="S", html="<script>alert(1)</script>").replace(
        b"Subject: S", b'Subject: "><img src=x onerror=alert(1)>\r\n Content-Type: text/html')
    uid = alice.append(raw)
    response = mailbox.client.get(f"/mail/INBOX/{uid}/raw/?download=1")
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"].startswith("attachment")
    assert "\n" not in response["Content-Disposition"]
    shown = mailbox.client.get(f"/mail/INBOX/{uid}/raw/")
    assert shown["Content-Type"] == "text/plain; charset=utf-8"
