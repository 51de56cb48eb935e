"""The message view, the body document, the source and the parts (FakeStore behind)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from django.test import Client

from tests.conftest import make_message
from tests.mail.conftest import FakeMail
from webmail import localcache
from webmail.imap.fake import FakeStore
from webmail.mail import bodies

pytestmark = pytest.mark.django_db

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def _content(response: object) -> bytes:
    streaming = getattr(response, "streaming_content", None)
    if streaming is not None:
        return b"".join(streaming)
    return bytes(getattr(response, "content", b""))


def _related_message() -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "Pictures"
    msg["From"] = "Pat <pat@example.org>"
    msg["To"] = "alice@example.test"
    msg["Cc"] = "Bob <bob@example.test>"
    msg.set_content("plain version")
    msg.add_alternative(
        '<p>Look: <img src="cid:pic1@x" alt="pic"> and <img src="https://tracker.example/p.gif">'
        '<script>alert(1)</script><a href="https://example.org/">link</a></p>', subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(PNG, maintype="image", subtype="png", cid="<pic1@x>")
    msg.add_attachment(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
                       maintype="image", subtype="svg+xml", filename="draw.svg")
    msg.add_attachment(b"<html><script>alert(1)</script></html>", maintype="text",
                       subtype="html", filename="page.html")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="Grüße photo.png")
    return msg.as_bytes()


def test_message_view_shows_headers_and_marks_seen(client_alice: Client,
                                                   alice_store: FakeStore) -> None:
    uid = alice_store.append("INBOX", _related_message())
    assert uid is not None
    response = client_alice.get(f"/mail/INBOX/{uid}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Pictures" in html and "Pat &lt;pat@example.org&gt;" in html
    assert "Bob &lt;bob@example.test&gt;" in html
    assert ('<iframe class="body-frame" title="Message text" sandbox="allow-popups '
            f'allow-popups-to-escape-sandbox" src="/mail/INBOX/{uid}/body/" '
            'referrerpolicy="no-referrer">') in html
    assert "Grüße photo.png" in html and "draw.svg" in html
    assert f'href="/mail/INBOX/{uid}/part/' in html
    assert "pic1" not in html.split("attachments-heading")[-1]  # inline image not listed
    assert f'href="/compose/?reply=INBOX%2F{uid}"' in html
    assert f'href="/compose/?reply_all=INBOX%2F{uid}"' in html
    assert f'href="/compose/?forward=INBOX%2F{uid}"' in html
    assert f'href="/mail/INBOX/{uid}/raw/"' in html
    assert "Remote images were blocked" in html and "remote=1" in html
    assert "\\Seen" in alice_store.fetch_summaries("INBOX", [uid])[0].flags
    assert ("fetch_message", "INBOX", uid) in alice_store.calls
    assert "<script" not in html.split("<main")[1].split("</main>")[0]


def test_body_document_is_sanitized_with_its_own_csp(client_alice: Client,
                                                     alice_store: FakeStore) -> None:
    uid = alice_store.append("INBOX", _related_message())
    response = client_alice.get(f"/mail/INBOX/{uid}/body/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'; img-src data:;")
    assert "https:" not in csp and "script-src" not in csp
    for part in ("style-src 'unsafe-inline'", "font-src 'none'", "form-action 'none'",
                 "base-uri 'none'", "frame-ancestors 'self'",
                 "sandbox allow-popups allow-popups-to-escape-sandbox"):
        assert part in csp
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private"
    body = response.content.decode()
    assert "<script" not in body and "alert(1)" not in body
    assert "tracker.example" not in body
    # The sandboxed document's requests carry no session cookie: inline images are embedded.
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in body
    remote = client_alice.get(f"/mail/INBOX/{uid}/body/?remote=1")
    assert "img-src data: https:" in remote["Content-Security-Policy"]
    assert "https://tracker.example/p.gif" in remote.content.decode()


def test_body_document_of_plain_text_is_escaped(client_alice: Client,
                                                alice_store: FakeStore) -> None:
    uid = alice_store.append("INBOX", make_message(
        text="<b>not bold</b> & see https://example.org/x?a=1&b=2\n> quoted"))
    body = client_alice.get(f"/mail/INBOX/{uid}/body/").content.decode()
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp;" in body
    assert 'href="https://example.org/x?a=1&amp;b=2"' in body
    assert "mail-quote" in body


def test_the_body_is_cached(client_alice: Client, alice_store: FakeStore) -> None:
    uid = alice_store.append("INBOX", _related_message())
    client_alice.get(f"/mail/INBOX/{uid}/")
    client_alice.get(f"/mail/INBOX/{uid}/body/")
    client_alice.get(f"/mail/INBOX/{uid}/")
    assert alice_store.calls.count(("fetch_message", "INBOX", uid)) == 1


def test_the_process_keeps_the_body_it_used_last(client_alice: Client, alice_store: FakeStore,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    uid = alice_store.append("INBOX", _related_message())
    client_alice.get(f"/mail/INBOX/{uid}/")
    first = client_alice.get(f"/mail/INBOX/{uid}/body/").content
    reads: list[object] = []
    for name in ("get", "get_many"):
        real = getattr(bodies.cache, name)
        monkeypatch.setattr(bodies.cache, name, lambda keys, *a, real=real, **kw: reads.append(
            keys) or real(keys, *a, **kw))
    alice_store.calls.clear()
    assert client_alice.get(f"/mail/INBOX/{uid}/body/").content == first
    assert not [c for c in alice_store.calls if c[0].startswith("fetch")]  # nothing asked
    client_alice.get(f"/mail/INBOX/{uid}/")
    assert reads == []  # neither the page nor the body document read the shared cache
    localcache.clear_all()  # another web process: the shared cache answers
    assert client_alice.get(f"/mail/INBOX/{uid}/body/").content == first
    assert len(reads) == 1
    assert ("fetch_message", "INBOX", uid) not in alice_store.calls  # fetched once, at first


def test_parts_stream_decoded_with_safe_types(client_alice: Client,
                                              alice_store: FakeStore) -> None:
    uid = alice_store.append("INBOX", _related_message())
    html = client_alice.get(f"/mail/INBOX/{uid}/").content.decode()
    links = dict((name, url) for url, name in re.findall(
        r'<a href="(/mail/INBOX/\d+/part/[0-9.]+/)" download>([^<]+)</a>', html))
    photo = client_alice.get(links["Grüße photo.png"])
    assert photo.status_code == 200 and photo.streaming
    assert _content(photo) == PNG
    assert photo["Content-Type"] == "image/png"
    assert photo["Content-Disposition"] == \
        "attachment; filename*=utf-8''Gr%C3%BC%C3%9Fe%20photo.png"
    assert photo["X-Content-Type-Options"] == "nosniff"
    inline = client_alice.get(links["Grüße photo.png"] + "?inline=1")
    assert inline["Content-Disposition"].startswith("inline")
    svg = client_alice.get(links["draw.svg"] + "?inline=1")
    assert svg["Content-Type"] == "application/octet-stream"
    assert svg["Content-Disposition"] == 'attachment; filename="draw.svg"'
    page = client_alice.get(links["page.html"])
    assert page["Content-Type"] == "application/octet-stream"
    assert _content(page) == b"<html><script>alert(1)</script></html>"
    assert client_alice.get(f"/mail/INBOX/{uid}/part/9/").status_code == 404


def test_large_attachment_streams_in_ranges(client_alice: Client, alice_store: FakeStore,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from webmail.mail import parts

    monkeypatch.setattr(parts, "CHUNK_SIZE", 4096)
    monkeypatch.setattr(parts.stream_decoded, "__defaults__", (4096,))
    payload = bytes(range(256)) * 400
    uid = alice_store.append("INBOX", make_message(
        attachments=[("big.bin", "application/octet-stream", payload)]))
    response = client_alice.get(f"/mail/INBOX/{uid}/part/2/")
    assert _content(response) == payload
    ranges = [c for c in alice_store.calls if c[0] == "fetch_part"]
    assert len(ranges) > 30 and all(c[5] == 4096 for c in ranges)


def test_raw_source(client_alice: Client, alice_store: FakeStore) -> None:
    raw = make_message(subject="Source", text="caf\xe9 <b>")
    uid = alice_store.append("INBOX", raw + b"\nbad byte: \xff\n")
    assert uid is not None
    response = client_alice.get(f"/mail/INBOX/{uid}/raw/")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    text = _content(response).decode("utf-8")
    assert "Subject: Source" in text and "bad byte: \ufffd" in text
    download = client_alice.get(f"/mail/INBOX/{uid}/raw/?download=1")
    assert download["Content-Type"] == "message/rfc822"
    assert download["Content-Disposition"] == 'attachment; filename="Source.eml"'
    assert _content(download).startswith(b"Subject: Source\r\n")
    assert "\\Seen" not in alice_store.fetch_summaries("INBOX", [uid])[0].flags


def test_previous_and_next_follow_the_list_order(client_alice: Client, alice_store: FakeStore,
                                                 fill: Callable[..., list[int]]) -> None:
    uids = fill(alice_store, 3)
    html = client_alice.get(f"/mail/INBOX/{uids[1]}/").content.decode()
    assert f'rel="prev" href="/mail/INBOX/{uids[2]}/"' in html
    assert f'rel="next" href="/mail/INBOX/{uids[0]}/"' in html
    assert "2 of 3" in html
    html = client_alice.get(f"/mail/INBOX/{uids[1]}/?sort=date&dir=asc").content.decode()
    assert f'rel="prev" href="/mail/INBOX/{uids[0]}/?dir=asc"' in html
    html = client_alice.get(f"/mail/INBOX/{uids[2]}/?q=00002").content.decode()
    assert "1 of 1" in html


def test_actions_on_one_message(client_alice: Client, alice_store: FakeStore,
                                fill: Callable[..., list[int]]) -> None:
    uids = fill(alice_store, 3)
    client_alice.get(f"/mail/INBOX/{uids[1]}/")
    response = client_alice.post(f"/mail/INBOX/{uids[1]}/", {
        "action": "unread", "next": f"/mail/INBOX/{uids[1]}/"})
    assert response["Location"] == f"/mail/INBOX/{uids[1]}/"
    assert "\\Seen" not in alice_store.fetch_summaries("INBOX", [uids[1]])[0].flags
    client_alice.post(f"/mail/INBOX/{uids[1]}/", {"action": "flag"})
    assert "\\Flagged" in alice_store.fetch_summaries("INBOX", [uids[1]])[0].flags
    response = client_alice.post(f"/mail/INBOX/{uids[1]}/", {"action": "delete"})
    assert response["Location"] == f"/mail/INBOX/{uids[0]}/"  # the next one down
    assert alice_store.folder_status("Trash").messages == 1
    response = client_alice.post(f"/mail/INBOX/{uids[0]}/", {"action": "move",
                                                             "target": "Archive"})
    assert response["Location"] == f"/mail/INBOX/{uids[2]}/"
    # an off-site "next" is ignored
    response = client_alice.post(f"/mail/INBOX/{uids[2]}/", {
        "action": "read", "next": "https://evil.example/"})
    assert response["Location"] == "/mail/INBOX/"


def test_too_large_message_is_not_fetched(client_alice: Client, alice_store: FakeStore,
                                          settings: object) -> None:
    uid = alice_store.append("INBOX", make_message(text="x" * 5000))
    settings.WEBMAIL_MAX_MESSAGE_BYTES = 2048  # type: ignore[attr-defined]
    html = client_alice.get(f"/mail/INBOX/{uid}/").content.decode()
    assert "too large to show" in html and "body-frame" not in html
    body = client_alice.get(f"/mail/INBOX/{uid}/body/").content.decode()
    assert '<p class="empty">This message is too large to show.</p>' in body
    assert "\x00" not in body
    assert ("fetch_message", "INBOX", uid) not in alice_store.calls
    assert _content(client_alice.get(f"/mail/INBOX/{uid}/raw/")).count(b"x" * 70) > 50


def test_mallory_never_sees_alices_message(fake_mail: FakeMail, client_alice: Client,
                                           client_mallory: Client,
                                           alice_store: FakeStore) -> None:
    uid = alice_store.append("INBOX", make_message(
        subject="alice secret", attachments=[("s.txt", "text/plain", b"secret file")]))
    assert uid is not None
    assert client_alice.get(f"/mail/INBOX/{uid}/").status_code == 200
    for url in (f"/mail/INBOX/{uid}/", f"/mail/INBOX/{uid}/body/", f"/mail/INBOX/{uid}/raw/",
                f"/mail/INBOX/{uid}/part/2/"):
        response = client_mallory.get(url)
        assert response.status_code == 404, url
        assert b"secret" not in _content(response)
    assert b"alice secret" not in client_mallory.get("/mail/INBOX/").content
    client_mallory.post("/mail/INBOX/", {"action": "delete", "uid": [uid]})
    assert alice_store.folder_status("INBOX").messages == 1


def test_inline_images_that_cannot_be_embedded_are_listed(client_alice: Client,
                                                         alice_store: FakeStore) -> None:
    msg = EmailMessage()
    msg["Subject"] = "Scans"
    msg.set_content("text")
    msg.add_alternative('<p><img src="cid:tiff@x"><img src="cid:big@x"><img src="cid:ok@x"></p>',
                        subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(b"II*\x00tiff", maintype="image", subtype="tiff", cid="<tiff@x>",
                          filename="scan.tiff")
    html_part.add_related(PNG + b"\x00" * (3 * 1024 * 1024), maintype="image", subtype="png",
                          cid="<big@x>", filename="huge.png")
    html_part.add_related(PNG, maintype="image", subtype="png", cid="<ok@x>", filename="ok.png")
    uid = alice_store.append("INBOX", msg.as_bytes())
    html = client_alice.get(f"/mail/INBOX/{uid}/").content.decode()
    listed = html.split("attachments-heading")[-1]
    assert "scan.tiff" in listed and "huge.png" in listed and "ok.png" not in listed
    body = client_alice.get(f"/mail/INBOX/{uid}/body/").content.decode()
    assert body.count("data:image/png;base64,") == 1 and "cid:" not in body


def test_remote_content_follows_the_owners_choice_and_preference(
        client_alice: Client, alice_store: FakeStore) -> None:
    from accounts.models import RemoteContentAllowance, RemotePolicy, User
    from accounts.selectors import user_settings

    uid = alice_store.append("INBOX", _related_message())
    html = client_alice.get(f"/mail/INBOX/{uid}/").content.decode()
    assert f'src="/mail/INBOX/{uid}/body/"' in html
    assert "Always show from" not in html  # the default policy is "never"
    prefs = user_settings(User.objects.get(username="alice@example.test"))
    prefs.remote_content = RemotePolicy.KNOWN
    prefs.save()
    html = client_alice.get(f"/mail/INBOX/{uid}/").content.decode()
    assert "Always show from pat@example.org" in html
    shown = client_alice.get(f"/mail/INBOX/{uid}/?remote=1").content.decode()
    assert f'src="/mail/INBOX/{uid}/body/?remote=1"' in shown and "Hide them" in shown
    response = client_alice.post(f"/mail/INBOX/{uid}/", {"action": "allow_remote"})
    assert response.status_code == 302 and response["Location"] == f"/mail/INBOX/{uid}/"
    assert RemoteContentAllowance.objects.filter(sender="pat@example.org").exists()
    preferred = client_alice.get(f"/mail/INBOX/{uid}/").content.decode()
    assert f'src="/mail/INBOX/{uid}/body/?remote=1"' in preferred
    hidden = client_alice.get(f"/mail/INBOX/{uid}/?remote=0").content.decode()
    assert f'src="/mail/INBOX/{uid}/body/"' in hidden


def test_the_encoded_body_is_not_stored_in_the_shared_cache() -> None:
    import pickle

    body = bodies.RenderedBody("<p>Grüße</p>", 0, False)
    assert body.html_bytes == "<p>Grüße</p>".encode()
    copy = pickle.loads(pickle.dumps(body))  # noqa: S301 - our own bytes, as the cache does
    assert "html_bytes" not in copy.__dict__ and copy == body
    assert copy.html_bytes == body.html_bytes


def test_the_body_document_holds_the_body_once_as_utf8(client_alice: Client,
                                                       alice_store: FakeStore) -> None:
    uid = alice_store.append("INBOX", make_message(text="Grüße aus Köln, naïve café ✓"))
    for _ in range(2):  # made, then from the caches
        content = client_alice.get(f"/mail/INBOX/{uid}/body/").content
        assert b"\x00" not in content and content.startswith(b"<!doctype html>")
        text = content.decode("utf-8")
        assert text.count("Grüße aus Köln, naïve café ✓") == 1
        assert text.rstrip().endswith("</html>")
