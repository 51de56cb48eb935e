"""Rich-text reply and forward over HTTP and through the real mail stack: the quoted HTML in
the editor, its images served to the editor only, sent (and saved as a draft) as
multipart/related parts whose Content-IDs match the HTML's ``cid:`` references."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage

from django.test import Client

from accounts.models import User
from accounts.selectors import user_settings
from tests.compose.helpers import attachment_ids, field_value, form_data, parse, start, textarea
from tests.compose.test_htmlquote import GOOGLE, PNG
from tests.conftest import Persona
from tests.infra import mailstack
from tests.mime.corpus import read
from webmail.outbox.models import OutgoingMessage


def _rich(persona: Persona) -> None:
    prefs = user_settings(User.objects.get(username=persona.address))
    prefs.compose_format = "html"
    prefs.save()


def _original(to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jane <jane@example.org>"
    msg["To"] = to
    msg["Subject"] = "Holiday"
    msg["Message-ID"] = "<holiday-1@example.org>"
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    msg.set_content("See the photo.")
    msg.add_alternative('<p>See <b>the photo</b>:</p><img src="cid:photo@jane" alt="photo">'
                        '<img src="https://tracker.example/p.gif">', subtype="html")
    html = msg.get_body(("html",))
    assert html is not None
    html.add_related(PNG, "image", "png", cid="<photo@jane>", filename="photo.png")
    msg.add_attachment(b"%PDF-1.7 plan", maintype="application", subtype="pdf",
                       filename="plan.pdf")
    return msg.as_bytes()


def _related(raw: bytes) -> tuple[str, dict[str, bytes]]:
    """The HTML of a built message and its related parts by Content-ID."""
    mail = parse(raw)
    related = next(p for p in mail.walk() if p.get_content_type() == "multipart/related")
    html_part, *images = list(related.iter_parts())
    assert html_part.get_content_type() == "text/html"
    return str(html_part.get_content()), {
        str(p["Content-ID"]).strip("<>"): bytes(p.get_content()) for p in images}


def _image_urls(html: str) -> list[str]:
    return re.findall(r'src="(/compose/inline/[0-9a-f]{32}/[0-9a-f]{16}/)"', html)


def test_rich_reply_page_quotes_html_and_serves_its_image_to_the_editor(
        alice_client: Client, alice: Persona, mallory_client: Client) -> None:
    _rich(alice)
    uid = alice.append(_original(alice.address))
    token, page = start(alice_client, f"?reply=INBOX/{uid}")
    assert 'data-format="html"' in page
    editor = textarea(page, "body_html")
    assert '<blockquote class="mail-quote" type="cite"' in editor
    assert "Jane &lt;jane@example.org&gt; wrote:" in editor and "<b>the photo</b>" in editor
    assert "tracker.example" not in editor and "cid:" not in editor
    (url,) = _image_urls(editor)
    assert token in url
    assert "> See the photo." in textarea(page, "body")  # the page without JavaScript
    assert attachment_ids(page) == []  # a reply attaches nothing; the image is not listed
    image = alice_client.get(url)
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert image.content == PNG and "sandbox" in image["Content-Security-Policy"]
    assert mallory_client.get(url).status_code == 404  # another user's session is not found
    assert alice_client.get(url.replace(token, "0" * 32)).status_code == 404


def test_rich_reply_is_sent_with_the_image_as_a_related_part(alice_client: Client,
                                                             alice: Persona) -> None:
    _rich(alice)
    uid = alice.append(_original(alice.address))
    token, page = start(alice_client, f"?reply=INBOX/{uid}")
    editor = textarea(page, "body_html")
    response = alice_client.post("/compose/", form_data(
        token, alice.address, to=field_value(page, "to"), subject=field_value(page, "subject"),
        format="html", body="x", body_html="<div>Lovely!</div>" + editor))
    assert response.status_code == 302, response.content.decode()[:2000]
    raw = bytes(OutgoingMessage.objects.get().raw)
    html, images = _related(raw)
    (cid,) = re.findall(r'src="cid:([^"]+)"', html)
    assert images == {cid: PNG}
    assert "Lovely!" in html and '<blockquote class="mail-quote" type="cite"' in html
    assert "/compose/inline/" not in html and b"data:image" not in raw
    assert parse(raw)["In-Reply-To"] == "<holiday-1@example.org>"
    assert not [p for p in parse(raw).iter_attachments()]  # the PDF is not replied with


def test_rich_forward_draft_keeps_images_and_attachments_and_resumes(alice_client: Client,
                                                                     alice: Persona) -> None:
    _rich(alice)
    uid = alice.append(_original(alice.address))
    token, page = start(alice_client, f"?forward=INBOX/{uid}")
    editor = textarea(page, "body_html")
    assert "Forwarded message" in editor and "<b>the photo</b>" in editor
    ids = attachment_ids(page)
    assert len(ids) == 1 and "plan.pdf" in page
    saved = alice_client.post("/compose/draft/", form_data(
        token, alice.address, subject="Fwd: Holiday", format="html", body="x",
        body_html=editor, attachment=ids), HTTP_ACCEPT="application/json")
    assert saved.status_code == 200, saved.content[:500]
    draft_uid = saved.json()["uid"]
    conn = alice.imap()
    conn.select("Drafts")
    _typ, data = conn.uid("FETCH", str(draft_uid), "(BODY.PEEK[])")
    conn.logout()
    item = data[0]
    assert isinstance(item, tuple)
    html, images = _related(bytes(item[1]))
    (cid,) = re.findall(r'src="cid:([^"]+)"', html)
    assert images == {cid: PNG}
    # resumed: the image is in the editor again, the PDF in the list, and it sends both
    token2, page2 = start(alice_client, f"?draft=Drafts/{draft_uid}")
    assert token2 == token
    editor2 = textarea(page2, "body_html")
    assert len(_image_urls(editor2)) == 1 and "plan.pdf" in page2
    response = alice_client.post("/compose/", form_data(
        token2, alice.address, to="bob@example.org", subject="Fwd: Holiday", format="html",
        body="x", body_html=editor2, attachment=attachment_ids(page2)))
    assert response.status_code == 302, response.content.decode()[:2000]
    raw = bytes(OutgoingMessage.objects.get().raw)
    html, images = _related(raw)
    assert list(images.values()) == [PNG]
    assert [f"cid:{c}" for c in images] == re.findall(r'src="(cid:[^"]+)"', html)
    files = {p.get_filename(): p.get_payload(decode=True) for p in parse(raw).iter_attachments()}
    assert files == {"plan.pdf": b"%PDF-1.7 plan"}


def test_plain_compose_still_quotes_with_angle_brackets(alice_client: Client,
                                                        alice: Persona) -> None:
    uid = alice.append(_original(alice.address))
    _token, page = start(alice_client, f"?reply=INBOX/{uid}")
    assert 'data-format="plain"' in page and textarea(page, "body_html") == ""
    assert "> See the photo." in textarea(page, "body")


def test_forward_of_a_real_gmail_message_arrives_with_matching_cids(
        alice_client: Client, alice: Persona, bob: Persona) -> None:
    """End to end: the corpus's Gmail notice forwarded as rich text, submitted to Postfix,
    delivered by Dovecot: the icon arrives as a related part under the HTML's cid."""
    _rich(alice)
    uid = alice.append(read(GOOGLE))
    token, page = start(alice_client, f"?forward=INBOX/{uid}")
    subject = "Fwd: icon " + token[:8]
    response = alice_client.post("/compose/", form_data(
        token, alice.address, to=bob.address, subject=subject, format="html", body="x",
        body_html="<p>FYI</p>" + textarea(page, "body_html"),
        attachment=attachment_ids(page)))
    assert response.status_code == 302, response.content.decode()[:2000]
    built = OutgoingMessage.objects.get()
    with smtplib.SMTP("127.0.0.1", mailstack.SMTP_PORT, timeout=20) as smtp:
        smtp.sendmail(alice.address, [bob.address], bytes(built.raw))
    arrived = mailstack.wait_for_message(bob.address, lambda m: m["Subject"] == subject)
    related = next(p for p in arrived.walk() if p.get_content_type() == "multipart/related")
    html_part, icon = list(related.iter_parts())
    (cid,) = re.findall(r'src="cid:([^"]+)"', str(html_part.get_content()))
    assert icon["Content-ID"] == f"<{cid}>"
    assert icon.get_content_type() == "image/png" and icon.get_filename() == "icon.png"
    assert icon.get_payload(decode=True) == read_icon()
    names = [p.get_filename() for p in arrived.iter_attachments()]
    assert "URL.eml" in names  # the notice's real attachments go along as before


def read_icon() -> bytes:
    from webmail.mime.parse import part_bytes

    return part_bytes(read(GOOGLE), "1.2")[0]
