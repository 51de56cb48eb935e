"""No GET changes state: every route, asked with every action's parameters in the query,
leaves the mailbox, the database rows, the outbox and the session as they were.

Bookkeeping made on first use (the user's preferences row, the bounce scanner's bookmark) is
created before the snapshot. The one deliberate exception is IMAP ``\\Seen``: opening a
message marks it read (as every mail client does; the body, source and parts are fetched with
``BODY.PEEK``). It is checked to touch only the message that was opened.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.db.models import Model

from accounts.models import User
from tests.security.conftest import Mailbox, all_routes, drain, mailbox_state, without_seen
from webmail.compose.models import Contact
from webmail.mime.addresses import Address
from webmail.mime.compose import ComposeSpec, build_message
from webmail.outbox.models import OutgoingMessage
from webmail.outbox.services import outgoing_enqueue

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]

ACTIONS = ["delete", "move", "read", "unread", "flag", "unflag", "folder_create",
           "folder_rename", "folder_delete", "send", "discard", "cancel", "retry", "remove"]


def snapshot() -> dict[str, list[tuple[object, ...]]]:
    """Every row of every model (sessions and their last-use fields left out)."""
    out: dict[str, list[tuple[object, ...]]] = {}
    for model in apps.get_models():
        label = model._meta.label
        if label == "sessions.Session":
            continue
        fields = [f.attname for f in model._meta.concrete_fields
                  if f.attname not in ("last_login", "updated", "last_seen", "last_used")]
        out[label] = sorted(
            (tuple(repr(v) for v in row) for row in
             model._default_manager.values_list(*fields)), key=repr)
    return out


def _outgoing(user: User, monkeypatch: pytest.MonkeyPatch) -> OutgoingMessage:
    monkeypatch.setattr("webmail.outbox.services.publish_deliver",
                        lambda pk, countdown=None: True)
    built = build_message(ComposeSpec(
        from_=Address("", user.username), to=[Address("", "t-bob-get@example.test")],
        subject="Queued", text="Hello.\n"))
    return outgoing_enqueue(user=user, from_email=user.username, built=built,
                            smtp_password="secret")


def test_no_get_changes_anything(mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    client = mailbox.client
    client.get("/settings/")  # rows made on first use (preferences) ...
    client.get("/mail/INBOX/")  # ... and the bounce scanner's bookmark of what it has read
    user = User.objects.get(username=mailbox.persona.address)
    contact = Contact.objects.create(owner=user, name="Bob", email="bob@example.test")
    outgoing = _outgoing(user, monkeypatch)
    before_mail, before_rows = mailbox_state(mailbox.persona), snapshot()
    second = next(uid for uid, _f in before_mail["INBOX"] if uid != mailbox.uid)

    for route in all_routes():
        pk: Model = contact if route.template.startswith("/contacts/") else outgoing
        path = route.path(uid=mailbox.uid, pk=pk.pk)
        actions = ACTIONS if not path.startswith("/admin/") else ["delete"]
        for action in actions:
            query = urlencode({"action": action, "uid": [mailbox.uid, second],
                               "target": "Trash", "confirm": "1", "name": "New",
                               "to": "t-mallory@example.test", "post": "yes"}, doseq=True)
            response = client.get(f"{path}?{query}")
            assert response.status_code < 500, f"GET {path}?{query}: {response.status_code}"
            drain(response)

    after_mail = mailbox_state(mailbox.persona)
    assert without_seen(after_mail) == without_seen(before_mail)
    seen = {uid for uid, flags in after_mail["INBOX"] if "\\Seen" in flags}
    assert seen <= {mailbox.uid}  # only the opened message
    after_rows = snapshot()
    changed = {label: (rows, after_rows.get(label)) for label, rows in before_rows.items()
               if after_rows.get(label) != rows}
    assert not changed, changed
    assert client.get("/mail/INBOX/").status_code == 200  # still signed in (no GET logout)
