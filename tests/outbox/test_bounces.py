"""Bounces after acceptance: DSN matching (ENVID, else Message-ID), idempotence, isolation
between users, and the INBOX scan against Dovecot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import Domain, User
from tests.conftest import Persona, make_message
from tests.outbox.conftest import PASSWORD, Published, build, new_user
from tests.outbox.smtpserver import ScriptedServer
from webmail.devserver.dsn import DsnRecipient, build_dsn
from webmail.imap.gateway import ImapStore
from webmail.mailconn import mail_store_for
from webmail.outbox import services
from webmail.outbox.bounces import (
    bounce_mailbox_poll,
    bounce_scan_inbox,
    dsn_ingest,
    verp_token,
)
from webmail.outbox.delivery import outgoing_deliver
from webmail.outbox.models import (
    BounceReport,
    BounceScanMark,
    OutgoingMessage,
    OutgoingRecipient,
    RecipientState,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def sent(user: User, *to: str) -> OutgoingMessage:
    """A message whose recipients the submission server accepted."""
    message = services.outgoing_enqueue(user=user, from_email=user.username,
                                        built=build(user.username, to=to),
                                        smtp_password=PASSWORD)
    message.recipients.update(state=RecipientState.ACCEPTED, smtp_code=250)
    return message


def dsn(message: OutgoingMessage, address: str, *, action: str = "failed",
        status: str = "5.1.1", envid: str | None = "ours",
        diagnostic: str = "550 5.1.1 <x>: mailbox does not exist") -> bytes:
    original = bytes(message.raw)
    return build_dsn(
        recipients=[DsnRecipient(final_recipient=address, action=action, status=status,
                                 diagnostic=diagnostic, remote_mta="mx.remote.test")],
        original=original, to=message.from_email, reporting_mta="mx.example.test",
        arrival=NOW, date=NOW,
        envid=message.envelope_id if envid == "ours" else envid)


def state_of(message: OutgoingMessage, address: str) -> OutgoingRecipient:
    return message.recipients.get(address=address)


def test_a_failure_dsn_bounces_the_recipient_matched_by_envid(published: Published) -> None:
    user = new_user()
    message = sent(user, "a@remote.test", "b@remote.test")

    reports = dsn_ingest(user=user, raw=dsn(message, "a@remote.test"), source="INBOX/1/7")

    (report,) = reports
    assert report.applied and report.message_id == message.pk
    assert (report.action, report.status) == ("failed", "5.1.1")
    bounced = state_of(message, "a@remote.test")
    assert bounced.state == RecipientState.BOUNCED
    assert (bounced.smtp_code, bounced.enhanced_status) == (550, "5.1.1")
    assert bounced.diagnostic == "550 5.1.1 <x>: mailbox does not exist"
    assert bounced.remote_mta == "mx.remote.test"
    assert state_of(message, "b@remote.test").state == RecipientState.ACCEPTED


def test_the_same_dsn_twice_changes_nothing_twice(published: Published) -> None:
    user = new_user()
    message = sent(user, "a@remote.test")
    raw = dsn(message, "a@remote.test", action="delayed", status="4.4.1",
              diagnostic="451 4.4.1 try later")
    first = dsn_ingest(user=user, raw=raw, source="x")
    updated = state_of(message, "a@remote.test").updated
    second = dsn_ingest(user=user, raw=raw, source="x")
    assert [r.pk for r in first] == [r.pk for r in second]
    assert BounceReport.objects.count() == 1
    rcpt = state_of(message, "a@remote.test")
    assert rcpt.state == RecipientState.DELAYED
    assert rcpt.updated == updated


def test_delay_then_delivery_then_a_late_delay_does_not_move_back(published: Published) -> None:
    user = new_user()
    message = sent(user, "a@remote.test")
    dsn_ingest(user=user, raw=dsn(message, "a@remote.test", action="delayed", status="4.4.1"),
               source="x")
    assert state_of(message, "a@remote.test").state == RecipientState.DELAYED
    dsn_ingest(user=user, raw=dsn(message, "a@remote.test", action="delivered", status="2.0.0",
                                  diagnostic="250 ok"), source="x")
    assert state_of(message, "a@remote.test").state == RecipientState.DELIVERED
    late = dsn_ingest(user=user, raw=dsn(message, "a@remote.test", action="delayed",
                                         status="4.4.7", diagnostic="451 late"), source="x")
    assert state_of(message, "a@remote.test").state == RecipientState.DELIVERED
    assert not late[0].applied


def test_without_envid_the_returned_message_id_matches(published: Published) -> None:
    user = new_user()
    message = sent(user, "a@remote.test")
    dsn_ingest(user=user, raw=dsn(message, "a@remote.test", envid=None), source="x")
    assert state_of(message, "a@remote.test").state == RecipientState.BOUNCED


def test_a_wrong_envid_is_not_rescued_by_the_message_id(published: Published) -> None:
    # A recipient knows the Message-ID; only the mail servers know the ENVID.
    user = new_user()
    message = sent(user, "a@remote.test")
    (report,) = dsn_ingest(user=user, raw=dsn(message, "a@remote.test", envid="forged"),
                           source="x")
    assert report.message is None and not report.applied
    assert state_of(message, "a@remote.test").state == RecipientState.ACCEPTED


def test_another_users_report_cannot_touch_my_rows(published: Published) -> None:
    alice, mallory = new_user("t-alice"), new_user("t-mallory")
    message = sent(alice, "a@remote.test")
    raw = dsn(message, "a@remote.test")  # carries alice's real ENVID
    (report,) = dsn_ingest(user=mallory, raw=raw, source="x")
    assert report.message is None and not report.applied
    assert state_of(message, "a@remote.test").state == RecipientState.ACCEPTED


def test_unknown_is_resolved_by_a_report(published: Published) -> None:
    user = new_user()
    message = sent(user, "a@remote.test")
    message.recipients.update(state=RecipientState.UNKNOWN)
    dsn_ingest(user=user, raw=dsn(message, "a@remote.test", action="delivered",
                                  status="2.0.0", diagnostic="250 ok"), source="x")
    assert state_of(message, "a@remote.test").state == RecipientState.DELIVERED


def test_ordinary_mail_is_not_a_report() -> None:
    user = new_user()
    assert dsn_ingest(user=user, raw=make_message(), source="x") == []
    assert not BounceReport.objects.exists()


class CountingStore:
    """The real store, counting the full-message fetches."""

    def __init__(self, store: ImapStore) -> None:
        self.store = store
        self.fetched: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def fetch_message(self, folder: str, uid: int) -> bytes:
        self.fetched.append(uid)
        return self.store.fetch_message(folder, uid)


def scan(persona: Persona, user: User) -> tuple[Sequence[BounceReport], list[int]]:
    with mail_store_for(persona.address, persona.password) as store:
        counting = CountingStore(store)
        reports = bounce_scan_inbox(store=counting, user=user)
        return reports, counting.fetched


def test_scan_inbox_matches_new_reports_once(alice: Persona, published: Published) -> None:
    user = User.objects.create(username=alice.address)
    message = sent(user, "a@remote.test", "b@remote.test")
    alice.append(make_message(to=alice.address, subject="lunch?"))
    report_uid = alice.append(dsn(message, "a@remote.test"))

    reports, fetched = scan(alice, user)

    assert [r.final_recipient for r in reports] == ["a@remote.test"]
    assert fetched == [report_uid]  # the ordinary message was not downloaded
    assert state_of(message, "a@remote.test").state == RecipientState.BOUNCED
    assert reports[0].source.endswith(f"/{report_uid}")
    # nothing new: nothing fetched, nothing stored again
    assert scan(alice, user) == ([], [])
    later = alice.append(dsn(message, "b@remote.test", action="delayed", status="4.4.1"))
    reports, fetched = scan(alice, user)
    assert fetched == [later]
    assert state_of(message, "b@remote.test").state == RecipientState.DELAYED
    (mark,) = BounceScanMark.objects.filter(user=user)
    assert mark.last_uid == later


def test_scan_skips_the_download_when_nothing_awaits_a_report(alice: Persona) -> None:
    user = User.objects.create(username=alice.address)
    other = new_user()
    message = sent(other, "a@remote.test")  # someone else's message
    uid = alice.append(dsn(message, "a@remote.test"))
    reports, fetched = scan(alice, user)
    assert (reports, fetched) == ([], [])
    assert BounceScanMark.objects.get(user=user).last_uid == uid


# --- VERP and the shared bounce mailbox ------------------------------------------------------

def test_verp_return_path_carries_the_envelope_id(
        smtp_server: ScriptedServer, route_smtp: Callable[..., Domain],
        published: Published) -> None:
    route_smtp("example.test", smtp_server.port)
    with override_settings(WEBMAIL_BOUNCE_ADDRESS="Bounces@example.test"):
        message = sent(new_user(), "a@remote.test")
        assert message.envelope_from == f"Bounces+{message.envelope_id}@example.test"
        assert verp_token(message.envelope_from) == message.envelope_id
        assert verp_token(f"bounces+{message.envelope_id}@EXAMPLE.test") == message.envelope_id
        assert verp_token(f"other+{message.envelope_id}@example.test") == ""
        assert verp_token("bounces+not-a-token@example.test") == ""
        message.recipients.update(state=RecipientState.QUEUED)
        outgoing_deliver(message.pk)
    (txn,) = smtp_server.handler.transactions
    assert txn.mail_from == message.envelope_from


def test_bounce_mailbox_poll_routes_reports_to_their_owners(
        new_persona: Callable[[str], Persona], published: Published) -> None:
    bounces = new_persona("t-bounces")
    alice, bob = new_user("t-alice"), new_user("t-bob")
    with override_settings(WEBMAIL_BOUNCE_ADDRESS=bounces.address):
        to_alice = sent(alice, "a@remote.test")
        to_bob = sent(bob, "b@remote.test")
        bounces.append(dsn(to_alice, "a@remote.test"))
        # no ENVID in this one: the VERP address it was delivered to names the message
        no_envid = dsn(to_bob, "b@remote.test", envid=None)
        bounces.append(b"Delivered-To: " + to_bob.envelope_from.encode() + b"\r\n" + no_envid)
        bounces.append(dsn(to_alice, "a@remote.test", envid="f" * 32))  # a forgery
        bounces.append(make_message(to=bounces.address))
        with mail_store_for(bounces.address, bounces.password) as store:
            reports = bounce_mailbox_poll(store=store)
            assert bounce_mailbox_poll(store=store) == []  # all \Seen now
    assert sorted((r.user_id, r.final_recipient) for r in reports) == sorted(
        [(alice.pk, "a@remote.test"), (bob.pk, "b@remote.test")])
    assert state_of(to_alice, "a@remote.test").state == RecipientState.BOUNCED
    assert state_of(to_bob, "b@remote.test").state == RecipientState.BOUNCED
    assert all("\\Seen" in bounces.flags(uid) for uid in bounces.uids())


def test_the_poll_task_needs_the_bounce_password() -> None:
    from webmail.outbox.tasks import bounce_mailbox_poll_task

    with override_settings(WEBMAIL_BOUNCE_ADDRESS=""):
        assert bounce_mailbox_poll_task() == 0
    with override_settings(WEBMAIL_BOUNCE_ADDRESS="bounces@example.test",
                           WEBMAIL_BOUNCE_PASSWORD=""):
        assert bounce_mailbox_poll_task() == 0


def test_a_plain_text_bounce_without_dsn_part_is_matched_by_message_id() -> None:
    """Exim-style bounce text (no message/delivery-status part) quoting our Message-ID."""
    user = new_user()
    message = sent(user, "kijitora@remote.test")
    text = (
        f"From: Mail Delivery System <Mailer-Daemon@mx.remote.test>\r\n"
        f"To: {user.username}\r\n"
        f"Subject: Mail delivery failed: returning message to sender\r\n"
        f"Content-Type: text/plain\r\n\r\n"
        f"This message was created automatically by mail delivery software.\r\n\r\n"
        f"A message that you sent could not be delivered to one or more of its\r\n"
        f"recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  kijitora@remote.test\r\n"
        f"    SMTP error from remote mail server after RCPT TO:<kijitora@remote.test>:\r\n"
        f"    host mx.remote.test [192.0.2.153]: 550 5.1.1 <kijitora@remote.test>... "
        f"User Unknown\r\n\r\n"
        f"------ This is a copy of the message, including all the headers. ------\r\n\r\n"
        f"Message-ID: {message.message_id}\r\n"
        f"From: {user.username}\r\n"
        f"Subject: hello\r\n\r\nbody\r\n"
    ).encode()
    reports = dsn_ingest(user=user, raw=text, source="test")
    assert len(reports) == 1
    recipient = message.recipients.get()
    assert recipient.state == RecipientState.BOUNCED
    assert "5.1.1" in (recipient.enhanced_status or recipient.diagnostic)
