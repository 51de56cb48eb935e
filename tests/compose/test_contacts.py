"""The address book over HTTP: CRUD, search, add-from, vCard import/export, authorization."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import User
from tests.conftest import Persona
from webmail.compose.models import Contact
from webmail.compose.vcard import cards_parse


def _owner(persona: Persona) -> User:
    return User.objects.get(username=persona.address)


def test_add_edit_search_delete(alice_client: Client, alice: Persona) -> None:
    response = alice_client.post("/contacts/new/", {
        "name": "Bob <Builder>", "email": "Bob@Example.TEST", "phone": "+1 555",
        "notes": "<script>alert(1)</script>"})
    assert response.status_code == 302
    contact = Contact.objects.get(owner=_owner(alice))
    assert contact.email == "bob@example.test"

    page = alice_client.get("/contacts/", {"q": "builder"})
    assert page.status_code == 200
    assert b"Bob &lt;Builder&gt;" in page.content and b"<Builder>" not in page.content
    assert b"bob@example.test" in alice_client.get("/contacts/", {"q": "555"}).content
    assert b"bob@example.test" not in alice_client.get("/contacts/", {"q": "zzz"}).content

    edit = alice_client.get(f"/contacts/{contact.pk}/")
    assert edit.status_code == 200 and b"&lt;script&gt;" in edit.content
    response = alice_client.post(f"/contacts/{contact.pk}/", {
        "name": "Robert", "email": "robert@example.test", "phone": "", "notes": ""})
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.name, contact.email) == ("Robert", "robert@example.test")

    assert alice_client.get(f"/contacts/{contact.pk}/delete/").status_code == 405
    assert alice_client.post(f"/contacts/{contact.pk}/delete/").status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_invalid_and_duplicate_addresses_are_refused(alice_client: Client,
                                                     alice: Persona) -> None:
    for bad in ["not an address", "foo@", "a@b.test, c@d.test", "x@-bad-.test"]:
        response = alice_client.post("/contacts/new/", {"name": "X", "email": bad})
        assert response.status_code == 400, bad
        assert b"field-error" in response.content
    assert alice_client.post("/contacts/new/", {"email": "dup@example.test"}).status_code == 302
    response = alice_client.post("/contacts/new/", {"email": "DUP@example.test"})
    assert response.status_code == 400
    assert b"already in your contacts" in response.content
    response = alice_client.post("/contacts/new/", {"name": "Evil\r\nBcc: x", "email": "e@x.test"})
    assert response.status_code == 400
    assert Contact.objects.filter(owner=_owner(alice)).count() == 1


def test_idn_and_quoted_local_part_accepted(alice_client: Client, alice: Persona) -> None:
    for address in ["jürgen@bücher.example", '"john doe"@example.test']:
        assert alice_client.post("/contacts/new/", {"email": address}).status_code == 302
    emails = set(Contact.objects.filter(owner=_owner(alice)).values_list("email", flat=True))
    assert emails == {"jürgen@bücher.example", '"john doe"@example.test'}


def test_add_from_creates_once_and_redirects_only_locally(alice_client: Client,
                                                          alice: Persona) -> None:
    response = alice_client.post("/contacts/add-from/", {
        "name": "Carol", "email": "carol@example.test", "next": "/mail/INBOX/3/"})
    assert response.status_code == 302 and response["Location"] == "/mail/INBOX/3/"
    response = alice_client.post("/contacts/add-from/", {
        "name": "Other", "email": "CAROL@example.test", "next": "https://evil.example/"})
    assert response["Location"] == "/contacts/"
    contact = Contact.objects.get(owner=_owner(alice))
    assert (contact.name, contact.email) == ("Carol", "carol@example.test")
    assert alice_client.get("/contacts/add-from/").status_code == 405
    alice_client.post("/contacts/add-from/", {"name": "", "email": "garbage"})
    assert Contact.objects.filter(owner=_owner(alice)).count() == 1


def test_vcard_import_merges_and_export_round_trips(alice_client: Client,
                                                    alice: Persona) -> None:
    Contact.objects.create(owner=_owner(alice), name="", email="known@example.test")
    vcf = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Known Person\r\nEMAIL:Known@example.test\r\n"
        "TEL:42\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë Ünicode\r\nEMAIL:zoe@example.test\r\n"
        "NOTE:a\\, b\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nEMAIL:not-an-address\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nobody\r\nEND:VCARD\r\n"
    ).encode()
    response = alice_client.post("/contacts/import/", {
        "file": SimpleUploadedFile("book.vcf", vcf, content_type="text/vcard")})
    assert response.status_code == 302
    page = alice_client.get("/contacts/")
    assert "1 added, 1 updated, 2 without a valid address skipped" in page.content.decode()
    known = Contact.objects.get(owner=_owner(alice), email="known@example.test")
    assert (known.name, known.phone) == ("Known Person", "42")

    export = alice_client.get("/contacts/export.vcf")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/vcard")
    assert "attachment" in export["Content-Disposition"]
    cards, _ = cards_parse(export.content)
    assert {(c.name, c.email, c.phone, c.notes) for c in cards} == {
        ("Known Person", "known@example.test", "42", ""),
        ("Zoë Ünicode", "zoe@example.test", "", "a, b"),
    }


def test_import_refuses_garbage(alice_client: Client) -> None:
    response = alice_client.post("/contacts/import/", {
        "file": SimpleUploadedFile("x.vcf", b"\x89PNG not a card")})
    assert response.status_code == 400
    assert b"not a vCard file" in response.content
    assert Contact.objects.count() == 0


def test_another_users_contact_is_404_everywhere(alice_client: Client, alice: Persona,
                                                 mallory_client: Client) -> None:
    contact = Contact.objects.create(owner=_owner(alice), name="Secret Friend",
                                     email="friend@example.test")
    assert mallory_client.get(f"/contacts/{contact.pk}/").status_code == 404
    assert mallory_client.post(f"/contacts/{contact.pk}/", {
        "email": "stolen@example.test"}).status_code == 404
    assert mallory_client.post(f"/contacts/{contact.pk}/delete/").status_code == 404
    assert b"Secret Friend" not in mallory_client.get("/contacts/", {"q": "friend"}).content
    assert b"friend@example.test" not in mallory_client.get("/contacts/export.vcf").content
    contact.refresh_from_db()
    assert contact.email == "friend@example.test"
    assert alice_client.get(f"/contacts/{contact.pk}/").status_code == 200


def test_signed_out_is_sent_to_login(client: Client, db: None) -> None:
    response = client.get("/contacts/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post("/contacts/add-from/", {"email": "a@b.test"}).status_code == 302
    assert Contact.objects.count() == 0


def test_pages_carry_no_inline_script_or_style(alice_client: Client) -> None:
    for url in ["/contacts/", "/contacts/new/", "/contacts/import/"]:
        body = alice_client.get(url).content.decode()
        assert "<script>" not in body and " style=" not in body and "onclick" not in body
