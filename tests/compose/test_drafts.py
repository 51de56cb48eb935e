"""Drafts against the real Dovecot: save, autosave replaces, resume, discard, send removes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

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

JSON = {"Accept": "application/json"}


def _draft(persona: Persona, uid: int) -> bytes:
    conn = persona.imap()
    try:
        conn.select("Drafts")
        typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
        assert typ == "OK" and data and isinstance(data[0], tuple), data
        return bytes(data[0][1])
    finally:
        conn.logout()


def _save(client: Client, data: dict[str, object]) -> dict[str, Any]:
    response = client.post("/compose/draft/", data, headers=JSON)
    assert response.status_code == 200, response.content[:500]
    result: dict[str, Any] = response.json()
    assert result["folder"] == "Drafts" and result["saved"]
    return result


def test_saving_twice_leaves_exactly_one_draft(alice_client: Client, alice: Persona) -> None:
    token, _ = start(alice_client)
    first = _save(alice_client, form_data(token, alice.address, to="bob@example.org",
                                          subject="First version"))
    assert alice.uids("Drafts") == [first["uid"]]
    flags = alice.flags(int(first["uid"]), "Drafts")
    assert "\\Draft" in flags and "\\Seen" in flags
    second = _save(alice_client, form_data(token, alice.address, to="bob@example.org",
                                           bcc="hidden@example.org", subject="Second version"))
    assert alice.uids("Drafts") == [second["uid"]]
    mail = parse(_draft(alice, int(second["uid"])))
    assert str(mail["Subject"]) == "Second version"
    assert mail["X-Webmail-Draft-Id"] == token
    assert mail["Bcc"] == "hidden@example.org"  # a draft keeps Bcc; the sent message never
    assert OutgoingMessage.objects.count() == 0


def test_draft_without_recipients_can_be_saved(alice_client: Client, alice: Persona) -> None:
    token, _ = start(alice_client)
    saved = _save(alice_client, form_data(token, alice.address, body="Just an idea"))
    mail = parse(_draft(alice, int(saved["uid"])))
    assert "To" not in mail and "Bcc" not in mail
    assert body_text(mail, "plain") == "Just an idea\n"


def test_resume_fills_fields_and_attachments_and_keeps_one_draft(alice_client: Client,
                                                                 alice: Persona) -> None:
    token, _ = start(alice_client)
    upload = alice_client.post("/compose/upload/", {
        "token": token, "file": SimpleUploadedFile("plan.txt", b"step 1\n")}).json()
    saved = _save(alice_client, form_data(
        token, alice.address, to='"Doe, Jane" <jane@example.org>', cc="c@example.org",
        bcc="hidden@example.org", subject="Plan <v2>", body="Draft body\n",
        attachment=[upload["id"]]))

    resumed_token, page = start(alice_client, f"?draft=Drafts%2F{saved['uid']}")
    assert resumed_token == token
    assert field_value(page, "to") == '"Doe, Jane" <jane@example.org>'
    assert field_value(page, "cc") == "c@example.org"
    assert field_value(page, "bcc") == "hidden@example.org"
    assert field_value(page, "subject") == "Plan <v2>"
    assert textarea(page, "body") == "Draft body\n"
    assert "plan.txt" in page
    ids = attachment_ids(page)
    assert len(ids) == 1

    again = _save(alice_client, form_data(
        token, alice.address, to="jane@example.org", subject="Plan v3", attachment=ids))
    assert alice.uids("Drafts") == [again["uid"]]
    files = [p.get_filename() for p in parse(_draft(alice, int(again["uid"]))).iter_attachments()]
    assert files == ["plan.txt"]


def test_save_button_without_javascript_redirects_to_the_draft(alice_client: Client,
                                                               alice: Persona) -> None:
    token, _ = start(alice_client)
    response = alice_client.post("/compose/draft/", form_data(token, alice.address,
                                                              subject="No JS"))
    assert response.status_code == 302
    (uid,) = alice.uids("Drafts")
    assert response["Location"] == f"/compose/?draft=Drafts%2F{uid}"
    assert field_value(alice_client.get(response["Location"]).content.decode(),
                       "subject") == "No JS"


def test_discard_deletes_the_draft_for_good(alice_client: Client, alice: Persona) -> None:
    token, _ = start(alice_client)
    _save(alice_client, form_data(token, alice.address, subject="Throw away"))
    response = alice_client.post("/compose/draft/discard/", {"token": token}, headers=JSON)
    assert response.status_code == 200 and response.json()["removed"] == 1
    assert alice.uids("Drafts") == []
    assert alice_client.post("/compose/draft/discard/", {"token": "nope"}).status_code == 404


def test_sending_removes_the_draft(alice_client: Client, alice: Persona) -> None:
    token, _ = start(alice_client)
    _save(alice_client, form_data(token, alice.address, to="bob@example.org", subject="x"))
    response = alice_client.post("/compose/", form_data(token, alice.address,
                                                        to="bob@example.org", subject="x"))
    assert response.status_code == 302
    assert alice.uids("Drafts") == []
    assert OutgoingMessage.objects.count() == 1


def test_resumed_reply_still_threads_and_marks_the_original(alice_client: Client,
                                                            alice: Persona) -> None:
    uid = alice.append(make_message(subject="Question", sender="jane@example.org",
                                    to=alice.address))
    token, page = start(alice_client, f"?reply=INBOX/{uid}")
    saved = _save(alice_client, form_data(token, alice.address, to=field_value(page, "to"),
                                          subject=field_value(page, "subject")))
    resumed_token, page = start(alice_client, f"?draft=Drafts/{saved['uid']}")
    response = alice_client.post("/compose/", form_data(
        resumed_token, alice.address, to=field_value(page, "to"),
        subject=field_value(page, "subject")))
    assert response.status_code == 302
    message = OutgoingMessage.objects.get()
    assert (message.origin_folder, message.origin_uid, message.origin_kind) == (
        "INBOX", uid, "reply")
    assert parse(bytes(message.raw))["In-Reply-To"]
    assert alice.uids("Drafts") == []


def test_only_messages_in_drafts_can_be_resumed(alice_client: Client, alice: Persona) -> None:
    uid = alice.append(make_message(subject="Not a draft"))
    assert alice_client.get(f"/compose/?draft=INBOX/{uid}").status_code == 404
    assert alice.uids("INBOX") == [uid]


@pytest.mark.parametrize("accept", [{}, JSON])
def test_invalid_draft_is_not_saved(alice_client: Client, alice: Persona,
                                    accept: dict[str, str]) -> None:
    token, _ = start(alice_client)
    response = alice_client.post("/compose/draft/", form_data(
        token, alice.address, to="bad@", subject="x"), headers=accept)
    assert response.status_code == 400
    assert alice.uids("Drafts") == []
    if not accept:
        assert re.search(rb"field-error", response.content)


def test_draft_of_another_mail_program_is_replaced_on_save(alice_client: Client,
                                                           alice: Persona) -> None:
    foreign = make_message(subject="From Thunderbird", sender=alice.address,
                           to="bob@example.org", text="half written")
    uid = alice.append(foreign, "Drafts", flags="\\Draft \\Seen")
    token, page = start(alice_client, f"?draft=Drafts/{uid}")
    assert field_value(page, "subject") == "From Thunderbird"
    assert textarea(page, "body").startswith("half written")
    saved = _save(alice_client, form_data(token, alice.address, to="bob@example.org",
                                          subject="Finished here"))
    assert alice.uids("Drafts") == [saved["uid"]] and saved["uid"] != uid


def test_html_draft_resumed_without_javascript_sends_the_text(alice_client: Client,
                                                              alice: Persona) -> None:
    token, _ = start(alice_client)
    saved = _save(alice_client, form_data(
        token, alice.address, to="bob@example.org", subject="Rich", format="html",
        body_html="<p>Hello <b>world</b></p><script>evil()</script>"))
    _token, page = start(alice_client, f"?draft=Drafts/{saved['uid']}")
    assert 'data-format="html"' in page
    assert 'name="format" value="plain"' in page  # what a browser without JS posts
    assert "&lt;b&gt;world&lt;/b&gt;" in page and "evil" not in page
    assert textarea(page, "body").strip() == "Hello world"


def test_discard_without_javascript_redirects(alice_client: Client, alice: Persona) -> None:
    token, _ = start(alice_client)
    _save(alice_client, form_data(token, alice.address, subject="Bye"))
    response = alice_client.post("/compose/draft/discard/", form_data(token, alice.address))
    assert response.status_code == 302 and response["Location"] == "/"
    assert alice.uids("Drafts") == []
    assert alice_client.get("/compose/draft/discard/").status_code == 405
