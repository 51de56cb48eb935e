"""The message view's links to other parts: delivery chips of a sent message, and
"Add sender to contacts". Through the real Dovecot."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.conftest import Persona, make_message
from webmail.compose.models import Contact
from webmail.outbox.models import OutgoingMessage, OutgoingRecipient, RecipientState

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def test_sent_message_shows_per_recipient_delivery(alice_client: Client, alice: Persona
                                                   ) -> None:
    raw = make_message(subject="Status report", sender=alice.address,
                       to="ok@remote.test, gone@remote.test")
    message_id = next(line.split(":", 1)[1].strip() for line in raw.decode().splitlines()
                      if line.lower().startswith("message-id:"))
    user = User.objects.get(username=alice.address)
    outgoing = OutgoingMessage.objects.create(
        user=user, from_email=alice.address, envelope_from=alice.address,
        message_id=message_id, raw=raw, size=len(raw), subject="Status report")
    OutgoingRecipient.objects.create(message=outgoing, address="ok@remote.test",
                                     state=RecipientState.DELIVERED, smtp_code=250)
    OutgoingRecipient.objects.create(
        message=outgoing, address="gone@remote.test", state=RecipientState.BOUNCED,
        smtp_code=550, enhanced_status="5.1.1", diagnostic="550 5.1.1 mailbox does not exist")
    uid = alice.append(raw, folder="Sent")
    page = alice_client.get(f"/mail/Sent/{uid}/").content.decode()
    assert 'class="delivery-chips"' in page
    assert "chip-bounced" in page and "chip-delivered" in page
    assert "mailbox does not exist" in page  # the server's words, on the chip
    assert f'href="/outbox/{outgoing.pk}/"' in page


def test_other_users_delivery_is_never_shown(alice_client: Client, alice: Persona,
                                             mallory: Persona) -> None:
    raw = make_message(subject="Mine", sender=alice.address, to="x@remote.test")
    message_id = next(line.split(":", 1)[1].strip() for line in raw.decode().splitlines()
                      if line.lower().startswith("message-id:"))
    other = User.objects.create(username=mallory.address)
    OutgoingMessage.objects.create(user=other, from_email=mallory.address,
                                   envelope_from=mallory.address, message_id=message_id,
                                   raw=raw, size=len(raw), subject="Mine")
    uid = alice.append(raw)
    assert 'class="delivery-chips"' not in alice_client.get(f"/mail/INBOX/{uid}/").content.decode()


def test_add_sender_to_contacts_from_the_message(alice_client: Client, alice: Persona) -> None:
    uid = alice.append(make_message(subject="Hi", sender="Dora Example <dora@example.org>"))
    page = alice_client.get(f"/mail/INBOX/{uid}/").content.decode()
    assert 'action="/contacts/add-from/"' in page and 'value="dora@example.org"' in page
    response = alice_client.post("/contacts/add-from/", {
        "name": "Dora Example", "email": "dora@example.org", "next": f"/mail/INBOX/{uid}/"})
    assert response.status_code == 302 and response["Location"] == f"/mail/INBOX/{uid}/"
    user = User.objects.get(username=alice.address)
    assert Contact.objects.filter(owner=user, email="dora@example.org", name="Dora Example"
                                  ).exists()
    # Once a contact, the offer is gone.
    assert 'action="/contacts/add-from/"' not in alice_client.get(
        f"/mail/INBOX/{uid}/").content.decode()
