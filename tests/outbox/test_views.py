"""The outbox pages: what alice sees, what mallory cannot, POST-only actions with CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.template.loader import render_to_string
from django.test import Client

from accounts.models import Domain, User
from tests.conftest import Persona
from tests.outbox.conftest import PASSWORD, Published, build
from tests.outbox.smtpserver import ScriptedServer
from webmail.outbox import services
from webmail.outbox.delivery import outgoing_deliver
from webmail.outbox.models import MessageState, OutgoingMessage
from webmail.outbox.selectors import delivery_for_message_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_message(alice_client: Client, alice: Persona, smtp_server: ScriptedServer,
                   route_smtp: Callable[..., Domain], published: Published) -> OutgoingMessage:
    """Sent once: one recipient accepted, one refused with 550, one deferred with 451."""
    route_smtp("example.test", smtp_server.port)
    smtp_server.script.rcpt = {
        "gone@remote.test": "550 5.1.1 mailbox does not exist",
        "later@remote.test": "451 4.3.0 try again later"}.get
    user = User.objects.get(username=alice.address)
    message = services.outgoing_enqueue(
        user=user, from_email=user.username, smtp_password=PASSWORD,
        built=build(user.username, to=("ok@remote.test", "gone@remote.test",
                                       "later@remote.test"), subject="Quarterly <report>"))
    outgoing_deliver(message.pk)
    return message


def no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert " style=" not in html and "<style" not in html, "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_list_shows_each_recipients_state(alice_client: Client,
                                          alices_message: OutgoingMessage) -> None:
    response = alice_client.get("/outbox/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Quarterly &lt;report&gt;" in html  # escaped
    assert f'href="/outbox/{alices_message.pk}/"' in html
    assert 'class="chip chip-accepted"' in html
    assert 'class="chip chip-bounced"' in html
    assert 'class="chip chip-deferred"' in html
    no_inline_code(html)


def test_detail_shows_the_servers_words_and_actions(alice_client: Client,
                                                    alices_message: OutgoingMessage) -> None:
    response = alice_client.get(f"/outbox/{alices_message.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "550 5.1.1 mailbox does not exist, said mx.scripted.test" in html
    assert "451 4.3.0 try again later" in html
    assert "Attempt 1" in html
    assert f'action="/outbox/{alices_message.pk}/retry/"' in html
    assert f'action="/outbox/{alices_message.pk}/cancel/"' in html
    assert "csrfmiddlewaretoken" in html
    no_inline_code(html)


def test_mallory_gets_404_everywhere(mallory_client: Client,
                                     alices_message: OutgoingMessage) -> None:
    pk = alices_message.pk
    assert mallory_client.get(f"/outbox/{pk}/").status_code == 404
    assert mallory_client.post(f"/outbox/{pk}/cancel/").status_code == 404
    assert mallory_client.post(f"/outbox/{pk}/retry/").status_code == 404
    listing = mallory_client.get("/outbox/").content.decode()
    assert "Quarterly" not in listing
    alices_message.refresh_from_db()
    assert alices_message.state == MessageState.DEFERRED


def test_cancel_is_post_only(alice_client: Client, alices_message: OutgoingMessage) -> None:
    pk = alices_message.pk
    assert alice_client.get(f"/outbox/{pk}/cancel/").status_code == 405
    response = alice_client.post(f"/outbox/{pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/outbox/{pk}/"
    alices_message.refresh_from_db()
    assert alices_message.state == MessageState.CANCELLED
    states = dict(alices_message.recipients.values_list("address", "state"))
    assert states == {"ok@remote.test": "accepted", "gone@remote.test": "bounced",
                      "later@remote.test": "cancelled"}
    # cancelled: no more actions offered, and a second cancel explains itself
    html = alice_client.get(f"/outbox/{pk}/").content.decode()
    assert "/cancel/" not in html
    follow = alice_client.post(f"/outbox/{pk}/cancel/", follow=True).content.decode()
    assert "cannot be cancelled" in follow


def test_retry_now(alice_client: Client, alices_message: OutgoingMessage,
                   published: Published) -> None:
    response = alice_client.post(f"/outbox/{alices_message.pk}/retry/")
    assert response.status_code == 302
    alices_message.refresh_from_db()
    assert alices_message.next_attempt_at is not None
    assert alices_message.published_at == alices_message.next_attempt_at


def test_actions_need_the_csrf_token(alice: Persona, alices_message: OutgoingMessage) -> None:
    client = Client(enforce_csrf_checks=True)
    client.post("/login/", {"username": alice.address, "password": alice.password})
    assert client.post(f"/outbox/{alices_message.pk}/cancel/").status_code == 403
    alices_message.refresh_from_db()
    assert alices_message.state == MessageState.DEFERRED


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    response = client.get("/outbox/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_unknown_id_is_404(alice_client: Client) -> None:
    assert alice_client.get("/outbox/999999/").status_code == 404


def test_delivery_chips_for_a_sent_message(alice: Persona, alice_client: Client,
                                           mallory: Persona, mallory_client: Client,
                                           alices_message: OutgoingMessage) -> None:
    alice_user = User.objects.get(username=alice.address)
    mallory_user = User.objects.get(username=mallory.address)
    delivery = delivery_for_message_id(alice_user, alices_message.message_id)
    assert delivery is not None
    assert {r.address: r.state for r in delivery.recipients} == {
        "ok@remote.test": "accepted", "gone@remote.test": "bounced",
        "later@remote.test": "deferred"}
    assert delivery_for_message_id(alice_user, alices_message.message_id.strip("<>"))
    assert delivery_for_message_id(mallory_user, alices_message.message_id) is None
    html = render_to_string("outbox/_delivery_chips.html", {"delivery": delivery})
    assert 'class="chip chip-bounced"' in html
    assert f'href="/outbox/{alices_message.pk}/"' in html
    assert render_to_string("outbox/_delivery_chips.html", {"delivery": None}).strip() == ""
