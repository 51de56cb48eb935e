"""Recipient suggestions: contacts and addresses written to, the user's own only."""

from __future__ import annotations

from django.test import Client

from accounts.models import User
from tests.compose.helpers import form_data, start
from tests.conftest import Persona
from webmail.compose.models import Contact


def _results(client: Client, q: str) -> list[dict[str, str]]:
    response = client.get("/compose/autocomplete/", {"q": q})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    return list(response.json()["results"])


def test_contacts_and_written_to_addresses(alice_client: Client, alice: Persona) -> None:
    owner = User.objects.get(username=alice.address)
    Contact.objects.create(owner=owner, name="Jane <Doe>", email="jane@example.org")
    Contact.objects.create(owner=owner, name="Other", email="other@example.org")
    token, _ = start(alice_client)
    assert alice_client.post("/compose/", form_data(
        token, alice.address, to="jack@example.org, JANE@example.org",
        subject="x")).status_code == 302

    results = _results(alice_client, "ja")
    assert [(r["email"], r["source"]) for r in results] == [
        ("jane@example.org", "contact"), ("jack@example.org", "sent")]
    assert results[0]["label"] == "Jane <Doe> <jane@example.org>"
    assert [r["email"] for r in _results(alice_client, "doe")] == ["jane@example.org"]
    assert _results(alice_client, "") == []
    assert _results(alice_client, "zzz") == []


def test_suggestions_never_cross_users(alice_client: Client, alice: Persona,
                                       mallory_client: Client) -> None:
    owner = User.objects.get(username=alice.address)
    Contact.objects.create(owner=owner, name="Secret", email="secret@example.org")
    assert _results(mallory_client, "secret") == []
    assert alice_client.post("/compose/autocomplete/", {"q": "s"}).status_code == 405
