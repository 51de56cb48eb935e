"""Sending over HTTP: the compose page, the outbox row and its bytes, replies, forwards."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.compose.helpers import (
    attachment_ids,
    body_text,
    field_value,
    form_data,
    parse,
    start,
    textarea,
)
from tests.conftest import Persona, make_message
from webmail.outbox.models import OutgoingMessage


def _sent(client: Client, data: dict[str, object]) -> OutgoingMessage:
    response = client.post("/compose/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    message = OutgoingMessage.objects.get()
    assert response["Location"] == f"/outbox/{message.pk}/"
    return message


def test_compose_page_has_no_inline_script_or_style(alice_client: Client,
                                                    alice: Persona) -> None:
    response = alice_client.get("/compose/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "<script>" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)
    assert f'value="{alice.address}"' in page  # the own address is an identity
    assert 'enctype="multipart/form-data"' in page and 'type="file" name="files"' in page


def test_send_queues_the_built_message_without_bcc_header(alice_client: Client,
                                                          alice: Persona) -> None:
    token, _ = start(alice_client)
    message = _sent(alice_client, form_data(
        token, alice.address, to='"Doe, Jane" <jane@example.org>, bob@example.org',
        cc="Carol <carol@example.org>", bcc="hidden@example.org",
        subject="Quarterly <numbers> & Grüße", body="Hello,\nsee you.\n"))
    assert message.from_email == alice.address
    assert message.origin_kind == "" and message.origin_uid is None
    raw = bytes(message.raw)
    mail = parse(raw)
    assert mail["From"].addresses[0].addr_spec == alice.address
    assert [a.addr_spec for a in mail["To"].addresses] == ["jane@example.org",
                                                           "bob@example.org"]
    assert mail["To"].addresses[0].display_name == "Doe, Jane"
    assert str(mail["Subject"]) == "Quarterly <numbers> & Grüße"
    assert "Bcc" not in mail and b"hidden@example.org" not in raw
    assert body_text(mail, "plain") == "Hello,\nsee you.\n"
    recipients = sorted(message.recipients.values_list("address", "kind"))
    assert recipients == [("bob@example.org", "to"), ("carol@example.org", "cc"),
                          ("hidden@example.org", "bcc"), ("jane@example.org", "to")]


def test_second_submit_of_the_same_page_is_not_sent_twice(alice_client: Client,
                                                          alice: Persona) -> None:
    token, _ = start(alice_client)
    data = form_data(token, alice.address, to="bob@example.org", subject="Once")
    first = _sent(alice_client, data)
    again = alice_client.post("/compose/", data)
    assert again.status_code == 302 and again["Location"] == f"/outbox/{first.pk}/"
    assert OutgoingMessage.objects.count() == 1


def test_from_not_in_identities_is_refused_even_if_posted(alice_client: Client,
                                                          alice: Persona) -> None:
    token, _ = start(alice_client)
    response = alice_client.post("/compose/", form_data(
        token, "ceo@example.test", to="bob@example.org", subject="Wire the money"))
    assert response.status_code == 400
    assert b"field-error" in response.content
    assert OutgoingMessage.objects.count() == 0


def test_header_injection_and_bad_addresses_are_refused(alice_client: Client,
                                                        alice: Persona) -> None:
    token, _ = start(alice_client)
    response = alice_client.post("/compose/", form_data(
        token, alice.address, to="bob@example.org, not-an-address",
        subject="Hi\r\nBcc: everyone@example.org"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "not-an-address" in page and "line breaks" in page
    assert 'aria-invalid="true"' in page
    assert OutgoingMessage.objects.count() == 0


def test_rich_text_is_sanitized_and_gets_a_text_alternative(alice_client: Client,
                                                            alice: Persona) -> None:
    token, _ = start(alice_client)
    message = _sent(alice_client, form_data(
        token, alice.address, to="bob@example.org", subject="Rich", format="html",
        body="ignored", body_html='<p>Hello <b>bold</b> <a href="https://example.org/" '
        'onclick="steal()">link</a></p><script>alert(1)</script>'
        '<img src="https://tracker.example/p.gif">'))
    mail = parse(bytes(message.raw))
    html = body_text(mail, "html")
    text = body_text(mail, "plain")
    assert "<b>bold</b>" in html and "https://example.org/" in html
    assert "script" not in html and "onclick" not in html and "tracker.example" not in html
    assert "Hello bold" in text and "ignored" not in text


def test_reply_prefills_and_sends_with_threading_headers(alice_client: Client,
                                                         alice: Persona) -> None:
    original = make_message(subject="Lunch <Friday>", sender="Jane <jane@example.org>",
                            to=alice.address, text="Shall we meet?\n")
    uid = alice.append(original)
    original_id = parse(original)["Message-ID"]
    token, page = start(alice_client, f"?reply=INBOX/{uid}")
    assert field_value(page, "to") == "Jane <jane@example.org>"
    assert field_value(page, "subject") == "Re: Lunch <Friday>"
    assert "&lt;Friday&gt;" in page and "<Friday>" not in page
    body = textarea(page, "body")
    assert "> Shall we meet?" in body
    message = _sent(alice_client, form_data(
        token, alice.address, to=field_value(page, "to"),
        subject=field_value(page, "subject"), body="Yes!\n\n" + body))
    mail = parse(bytes(message.raw))
    assert mail["In-Reply-To"] == original_id
    assert mail["References"] == original_id
    assert (message.origin_folder, message.origin_uid, message.origin_kind) == (
        "INBOX", uid, "reply")


def test_reply_all_from_a_nested_folder(alice_client: Client, alice: Persona) -> None:
    conn = alice.imap()
    conn.create('"Projects/2026"')
    conn.logout()
    original = make_message(subject="Kick-off", sender="jane@example.org",
                            to=f"{alice.address}, bob@example.org, Bob <BOB@example.org>")
    uid = alice.append(original, "Projects/2026")
    _token, page = start(alice_client, f"?reply_all=Projects%2F2026%2F{uid}")
    assert field_value(page, "to") == "jane@example.org, bob@example.org"


def test_forward_carries_the_original_attachments(alice_client: Client,
                                                  alice: Persona) -> None:
    original = make_message(subject="Contract", sender="jane@example.org", to=alice.address,
                            text="Signed copy attached.",
                            attachments=[("contract.pdf", "application/pdf", b"%PDF-1.7 x"),
                                         ("notes.txt", "text/plain", b"remember\n")])
    uid = alice.append(original)
    token, page = start(alice_client, f"?forward=INBOX/{uid}")
    assert field_value(page, "subject") == "Fwd: Contract"
    assert "contract.pdf" in page and "notes.txt" in page
    ids = attachment_ids(page)
    assert len(ids) == 2
    message = _sent(alice_client, form_data(
        token, alice.address, to="bob@example.org", subject="Fwd: Contract",
        body=textarea(page, "body"), attachment=ids))
    mail = parse(bytes(message.raw))
    files = {p.get_filename(): p.get_content() for p in mail.iter_attachments()}
    assert files == {"contract.pdf": b"%PDF-1.7 x", "notes.txt": "remember\n"}
    assert "Signed copy attached." in body_text(mail, "plain")
    assert message.origin_kind == "forward" and message.origin_uid == uid


def test_unticked_attachment_is_left_out(alice_client: Client, alice: Persona) -> None:
    original = make_message(attachments=[("a.txt", "text/plain", b"a"),
                                         ("b.txt", "text/plain", b"b")])
    uid = alice.append(original)
    token, page = start(alice_client, f"?forward=INBOX/{uid}")
    ids = attachment_ids(page)
    message = _sent(alice_client, form_data(token, alice.address, to="bob@example.org",
                                            attachment=ids[1:]))
    names = [p.get_filename() for p in parse(bytes(message.raw)).iter_attachments()]
    assert names == ["b.txt"]


@pytest.mark.parametrize("query", ["?reply=INBOX", "?reply=INBOX/abc", "?forward=INBOX/0",
                                   "?reply=INBOX/999999"])
def test_bad_references_are_404(alice_client: Client, query: str) -> None:
    assert alice_client.get("/compose/" + query).status_code == 404


def test_xhr_upload_then_send(alice_client: Client, alice: Persona) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    token, _ = start(alice_client)
    response = alice_client.post("/compose/upload/", {
        "token": token, "file": SimpleUploadedFile("../../photo.jpg", b"\xff\xd8jpegdata")},
        HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    info = response.json()
    assert info["filename"] == "photo.jpg" and info["size"] == 10
    assert info["content_type"] == "image/jpeg"
    message = _sent(alice_client, form_data(token, alice.address, to="bob@example.org",
                                            attachment=[info["id"]]))
    parts = list(parse(bytes(message.raw)).iter_attachments())
    assert [(p.get_filename(), p.get_content_type(), p.get_content()) for p in parts] == [
        ("photo.jpg", "image/jpeg", b"\xff\xd8jpegdata")]


def test_upload_remove_and_limits(alice_client: Client, alice: Persona,
                                  settings: SettingsWrapper) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.WEBMAIL_MAX_MESSAGE_BYTES = 64 * 1024 + 78 * 100
    token, _ = start(alice_client)
    ok = alice_client.post("/compose/upload/", {
        "token": token, "file": SimpleUploadedFile("small.bin", b"x" * 4000)})
    assert ok.status_code == 200
    big = alice_client.post("/compose/upload/", {
        "token": token, "file": SimpleUploadedFile("big.bin", b"x" * 2000)})
    assert big.status_code == 413 and "too large" in big.json()["error"]
    upload_id = ok.json()["id"]
    assert alice_client.post(f"/compose/upload/{upload_id}/delete/",
                             {"token": token}).status_code == 200
    assert alice_client.post(f"/compose/upload/{upload_id}/delete/",
                             {"token": token}).status_code == 404
    assert alice_client.get("/compose/upload/").status_code == 405
    assert alice_client.post("/compose/upload/", {"token": "../x"}).status_code == 400


def test_plain_file_input_without_javascript(alice_client: Client, alice: Persona) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    token, _ = start(alice_client)
    message = _sent(alice_client, form_data(
        token, alice.address, to="bob@example.org",
        files=[SimpleUploadedFile("report.csv", b"a,b\n")]))
    # a file chosen in the same post is attached without a tick (it had no checkbox yet)
    names = [p.get_filename() for p in parse(bytes(message.raw)).iter_attachments()]
    assert names == ["report.csv"]


def test_another_users_upload_cannot_be_attached(alice_client: Client, alice: Persona,
                                                 mallory_client: Client,
                                                 mallory: Persona) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    token, _ = start(alice_client)
    upload = alice_client.post("/compose/upload/", {
        "token": token, "file": SimpleUploadedFile("secret.txt", b"alice's secret")}).json()
    assert mallory_client.post(f"/compose/upload/{upload['id']}/delete/",
                               {"token": token}).status_code == 404
    response = mallory_client.post("/compose/", form_data(
        token, mallory.address, to="bob@example.org", attachment=[upload["id"]]))
    assert response.status_code == 302
    mail = parse(bytes(OutgoingMessage.objects.get().raw))
    assert list(mail.iter_attachments()) == []
    assert b"alice's secret" not in bytes(OutgoingMessage.objects.get().raw)


def test_a_damaged_token_starts_a_new_session(alice_client: Client, alice: Persona) -> None:
    message = _sent(alice_client, form_data("../../etc", alice.address, to="bob@example.org",
                                            subject="Still sent"))
    assert parse(bytes(message.raw))["Subject"] == "Still sent"
