"""Rotating SECRET_KEY as docs/operations.md says: nothing is lost silently.

With the old key in SECRET_KEY_FALLBACKS, sessions and the credentials stored for queued mail
still open. Without it, a session is signed out (the user signs in again) and a queued message
whose credential cannot be opened fails visibly, with a diagnostic, instead of being sent with
a wrong password or lost.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tests.conftest import Persona
from webmail.imap.types import Credentials, ServerAddress
from webmail.outbox import delivery
from webmail.outbox.models import OutgoingMessage, RecipientState
from webmail.outbox.smtp import Envelope, SubmitResult

pytestmark = pytest.mark.django_db

NEW_KEY = "rotated-" + secrets.token_urlsafe(48)


def _queue_a_message(client: Client, sender: Persona, to: Persona) -> OutgoingMessage:
    page = client.get("/compose/")
    assert page.status_code == 200
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert csrf
    response = client.post("/compose/", {
        "csrfmiddlewaretoken": csrf.group(1).decode(), "token": secrets.token_hex(16),
        "from_email": sender.address, "to": to.address, "cc": "", "bcc": "",
        "subject": "queued before the rotation", "format": "plain", "body": "Hello.",
        "body_html": "",
    })
    assert response.status_code == 302, response.content[:2000]
    # In this (non-transactional) test the publish-on-commit never fires: the row waits.
    return OutgoingMessage.objects.get(user__username=sender.address)


def test_a_session_survives_a_rotation_with_the_old_key_as_fallback(alice_client: Client
                                                                    ) -> None:
    old_key = settings.SECRET_KEY
    assert alice_client.get("/mail/INBOX/").status_code == 200
    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[old_key]):
        assert alice_client.get("/mail/INBOX/").status_code == 200
    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[]):
        response = alice_client.get("/mail/INBOX/")
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


@override_settings(WEBMAIL_SMTP_AUTH="user")
def test_queued_mail_keeps_its_credential_with_the_fallback_and_fails_visibly_without(
        alice_client: Client, alice: Persona, bob: Persona) -> None:
    old_key = settings.SECRET_KEY
    message = _queue_a_message(alice_client, alice, bob)
    assert message.credential and alice.password not in message.credential

    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[old_key]):
        assert delivery.stored_password(message) == alice.password

    def must_not_send(server: ServerAddress, envelope: Envelope, raw: bytes, *,
                      credentials: Credentials | None = None,
                      before_data: Callable[[], bool] | None = None) -> SubmitResult:
        raise AssertionError("sent although the credential could not be opened")

    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[]):
        assert delivery.stored_password(message) is None
        report = delivery.outgoing_deliver(message.pk, transport=must_not_send)
    assert report.claimed
    recipient = message.recipients.get()
    assert recipient.state == RecipientState.FAILED
    assert "no usable stored credential" in recipient.diagnostic
    # The user sees it in the outbox (signed in again under the key that is current now).
    page = alice_client.get(f"/outbox/{message.pk}/")
    assert page.status_code == 200
    assert b"no usable stored credential" in page.content
