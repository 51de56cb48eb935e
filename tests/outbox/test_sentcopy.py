"""The Sent copy against Dovecot: once, with Bcc, flags on the original, idempotent."""

from __future__ import annotations

import imaplib

import pytest

from accounts.models import User
from tests.conftest import Persona, make_message
from tests.infra import mailstack
from tests.outbox.conftest import PASSWORD, Published, build
from webmail import crypto
from webmail.outbox import services
from webmail.outbox.models import MessageState, OutgoingMessage, RecipientState
from webmail.outbox.sentcopy import outgoing_sent_copy

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]


def accepted(persona: Persona, *, origin: tuple[str, int, str] | None = None,
             password: str = PASSWORD, **kwargs: object) -> OutgoingMessage:
    user, _ = User.objects.get_or_create(username=persona.address)
    message = services.outgoing_enqueue(
        user=user, from_email=persona.address, smtp_password=password, origin=origin,
        built=build(persona.address, **kwargs))  # type: ignore[arg-type]
    message.recipients.update(state=RecipientState.ACCEPTED)
    OutgoingMessage.objects.filter(pk=message.pk).update(
        state=MessageState.FINISHED, sent_copy_wanted=True)
    return message


def sent_ids(persona: Persona, folder: str = "Sent") -> list[str]:
    return [str(m.get("Message-ID")) for m in mailstack.fetch_messages(persona.address, folder)]


def test_stored_once_with_bcc_and_seen(alice: Persona, published: Published) -> None:
    message = accepted(alice, to=("a@remote.test",), bcc=("hidden@remote.test",))
    assert b"hidden@remote.test" not in bytes(message.raw)

    assert outgoing_sent_copy(message.pk) == "stored"

    (copy,) = mailstack.fetch_messages(alice.address, "Sent")
    assert copy["Message-ID"] == message.message_id
    assert copy["Bcc"] == "hidden@remote.test"
    conn = mailstack.imap_login(alice.address)
    try:
        conn.select(mailstack.quote_mailbox("Sent"), readonly=True)
        _typ, data = conn.fetch("1", "(FLAGS)")
        assert "\\Seen" in str(data[0])
    finally:
        conn.logout()
    message.refresh_from_db()
    assert message.sent_copy_done
    assert message.credential == ""  # finished, copy stored: nothing needs it any more
    # a redelivered task does nothing
    assert outgoing_sent_copy(message.pk) == "skipped"
    assert sent_ids(alice) == [message.message_id]


def test_already_there_is_not_appended_again(alice: Persona, published: Published) -> None:
    message = accepted(alice)
    outgoing_sent_copy(message.pk)
    # as if the first run died after APPEND, before it recorded that (credential still kept)
    OutgoingMessage.objects.filter(pk=message.pk).update(
        sent_copy_done=False, credential=crypto.encrypt(PASSWORD, purpose="outbox-smtp"))
    assert outgoing_sent_copy(message.pk) == "present"
    assert sent_ids(alice) == [message.message_id]


def test_reply_and_forward_flag_the_original(alice: Persona, published: Published) -> None:
    first = alice.append(make_message(to=alice.address))
    second = alice.append(make_message(to=alice.address))
    outgoing_sent_copy(accepted(alice, origin=("INBOX", first, "reply")).pk)
    outgoing_sent_copy(accepted(alice, origin=("INBOX", second, "forward")).pk)
    assert "\\Answered" in alice.flags(first)
    assert "$Forwarded" in alice.flags(second)
    assert "$Forwarded" not in alice.flags(first)


def test_a_vanished_original_does_not_stop_the_copy(alice: Persona,
                                                    published: Published) -> None:
    message = accepted(alice, origin=("INBOX", 424242, "reply"))
    assert outgoing_sent_copy(message.pk) == "stored"
    assert sent_ids(alice) == [message.message_id]


def test_sent_folder_is_found_by_special_use(alice: Persona, published: Published) -> None:
    # A Sent folder under another name carries \Sent: that one is used.
    conn = mailstack.imap_login(alice.address)
    try:
        typ, _ = conn.create(mailstack.quote_mailbox("Gesendet"))
        assert typ == "OK"
    finally:
        conn.logout()
    message = accepted(alice)
    outgoing_sent_copy(message.pk)
    assert sent_ids(alice, "Sent") == [message.message_id]  # Dovecot's \Sent is "Sent"
    assert sent_ids(alice, "Gesendet") == []


def test_a_refused_credential_gives_up_and_wipes(alice: Persona, published: Published) -> None:
    message = accepted(alice, password="wrong-password")
    assert outgoing_sent_copy(message.pk) == "skipped"
    message.refresh_from_db()
    assert not message.sent_copy_done
    assert "refused" in message.sent_copy_error
    assert message.credential == ""
    with pytest.raises(imaplib.IMAP4.error):
        mailstack.imap_login(alice.address, "wrong-password")
