"""Every page that borrows a pooled connection sees what other sessions did meanwhile (the
pool refreshes a reused connection when it lends it), and never the previous request's
counts. Through the whole stack, on Dovecot."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import Persona, make_message

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]


def test_reply_to_a_message_that_arrived_after_the_inbox_was_opened(
        alice: Persona, alice_client: Client) -> None:
    first = alice.append(make_message(subject="First"))
    assert alice_client.get("/mail/INBOX/").status_code == 200  # INBOX selected, pooled
    assert alice_client.get(f"/mail/INBOX/{first}/").status_code == 200
    later = alice.append(make_message(subject="Arrived later"))  # another session
    page = alice_client.get(f"/compose/?reply=INBOX/{later}")
    assert page.status_code == 200
    assert "Re: Arrived later" in page.content.decode()


def test_counts_are_fresh_on_the_next_page(alice: Persona, alice_client: Client) -> None:
    alice.append(make_message(subject="one"))
    assert "1 unread" in alice_client.get("/mail/INBOX/").content.decode()
    alice.append(make_message(subject="two"))
    alice_client.get("/compose/")  # a page that borrows the connection without the folder
    assert "2 unread" in alice_client.get("/mail/INBOX/").content.decode()
