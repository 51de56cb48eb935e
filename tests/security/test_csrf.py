"""CSRF: no view is exempt, and every route refuses a POST without a valid token.

The client is signed in for real (Dovecot), so a POST that got past the CSRF check would act;
after the attempts the mailbox and the database rows are what they were.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client

from tests.conftest import Persona, sign_in
from tests.security.conftest import Mailbox, all_routes, all_views, mailbox_state

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]

# What a forged form would send to each kind of endpoint: all the field names the app uses.
FORGED = {"action": "delete", "uid": "1", "target": "Trash", "confirm": "1", "name": "x",
          "to": "t-mallory@example.test", "subject": "forged", "body": "forged",
          "email": "forged@example.test", "password": "secret", "username": "x"}


def rows() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()
            if m._meta.label != "sessions.Session"}


def test_no_view_is_csrf_exempt() -> None:
    exempt = [v for v in all_views() if getattr(v, "csrf_exempt", False)]
    assert exempt == []


def test_every_route_refuses_a_post_without_a_token(mailbox: Mailbox) -> None:
    client = mailbox.client
    client.handler.enforce_csrf_checks = True
    client.get("/settings/")  # rows made on first use (preferences) are not the POSTs' doing
    before_mail, before_rows = mailbox_state(mailbox.persona), rows()
    for route in all_routes():
        path = route.path(uid=mailbox.uid, pk=1)
        data = dict(FORGED, uid=str(mailbox.uid))
        response = client.post(path, data)
        assert response.status_code == 403, f"{path} ({route.view}): {response.status_code}"
        assert b"CSRF" in response.content, path
        wrong = client.post(path, dict(data, csrfmiddlewaretoken="x" * 64))
        assert wrong.status_code == 403, f"{path} with a wrong token: {wrong.status_code}"
    assert mailbox_state(mailbox.persona) == before_mail
    assert rows() == before_rows


def test_a_token_of_another_session_is_refused(mailbox: Mailbox, mallory: Persona) -> None:
    other = sign_in(Client(), mallory)
    other.get("/mail/INBOX/")
    foreign_token = other.cookies["csrftoken"].value
    client = mailbox.client
    client.handler.enforce_csrf_checks = True
    before = mailbox_state(mailbox.persona)
    response = client.post(f"/mail/INBOX/{mailbox.uid}/",
                           {"action": "delete", "csrfmiddlewaretoken": foreign_token})
    assert response.status_code == 403
    assert mailbox_state(mailbox.persona) == before


def test_the_same_post_with_the_page_token_acts(mailbox: Mailbox) -> None:
    """The control: the refusals above are the CSRF check, not a broken form."""
    client = mailbox.client
    client.handler.enforce_csrf_checks = True
    client.get("/mail/INBOX/")
    token = client.cookies["csrftoken"].value
    response = client.post(f"/mail/INBOX/{mailbox.uid}/",
                           {"action": "flag", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    flags = dict(mailbox_state(mailbox.persona)["INBOX"])[mailbox.uid]
    assert "\\Flagged" in flags
