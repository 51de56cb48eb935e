"""The real test mail stack behaves as the other tests rely on (stdlib imaplib/smtplib only)."""

from __future__ import annotations

import imaplib
import smtplib
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage, Message

import pytest

from tests.infra import mailstack

pytestmark = [pytest.mark.dovecot, pytest.mark.postfix]


@pytest.fixture(autouse=True, scope="module")
def _stack_up() -> None:
    mailstack.require_up()


def _message(sender: str, to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content("Hello from the mail stack test.\n")
    return msg


def _subject_is(subject: str) -> Callable[[EmailMessage], bool]:
    return lambda message: message.get("Subject") == subject


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.1)


def test_new_address_is_unique_and_deliverable_shape() -> None:
    first, second = mailstack.new_address(), mailstack.new_address("t-alice")
    assert first != second
    assert first.startswith("t-") and first.endswith("@example.test")
    assert second.startswith("t-alice-")
    assert len(first.split("@")[0]) == len("t-") + 8
    with pytest.raises(ValueError):
        mailstack.new_address("t x")


def test_maildir_path_layout() -> None:
    root = mailstack.MAIL_ROOT
    assert mailstack.maildir_path("T-AB@Example.Test") == (
        root / "example.test" / "t-ab" / "Maildir" / "INBOX" / ".maildir"
    )
    assert mailstack.maildir_path("t-ab@example.test", "a.b/c") == (
        root / "example.test" / "t-ab" / "Maildir" / "a.b" / "c" / ".maildir"
    )
    for folder in ("../x", "a//b", ""):
        with pytest.raises(ValueError):
            mailstack.maildir_path("t-ab@example.test", folder)


def test_login_with_static_password_and_wrong_password_fails() -> None:
    address = mailstack.new_address()
    conn = mailstack.imap_login(address)
    try:
        typ, _ = conn.select("INBOX")
        assert typ == "OK"
    finally:
        conn.logout()

    conn = imaplib.IMAP4(mailstack.HOST, mailstack.IMAP_PORT, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED"):
            conn.login(address, "not-the-password")
    finally:
        conn.shutdown()


def test_capabilities_after_login() -> None:
    conn = mailstack.imap_login(mailstack.new_address())
    try:
        typ, data = conn.capability()
        assert typ == "OK"
        capabilities = set(data[0].decode().upper().split())
    finally:
        conn.logout()
    needed = {"SORT", "CONDSTORE", "QRESYNC", "SPECIAL-USE", "MOVE", "UIDPLUS", "ESEARCH", "IDLE"}
    assert needed <= capabilities, needed - capabilities


def test_special_use_folders_are_listed_and_subscribed() -> None:
    conn = mailstack.imap_login(mailstack.new_address())
    try:
        typ, listed = conn.list()
        assert typ == "OK"
        typ, subscribed = conn.lsub()
        assert typ == "OK"
    finally:
        conn.logout()
    lines = [line.decode() for line in listed if isinstance(line, bytes)]
    for name in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert any(f"\\{name}" in line and line.endswith(f'"/" {name}') for line in lines), lines
    assert any(line.endswith('"/" INBOX') for line in lines), lines
    subscribed_names = {
        line.decode().rsplit(" ", 1)[-1] for line in subscribed if isinstance(line, bytes)
    }
    assert {"Drafts", "Sent", "Trash", "Junk", "Archive"} <= subscribed_names


def test_folders_may_hold_dots_and_nest_with_slash() -> None:
    conn = mailstack.imap_login(mailstack.new_address())
    try:
        for name in ("Projects.2024", "Projects.2024/new", "cur"):
            typ, data = conn.create(mailstack.quote_mailbox(name))
            assert typ == "OK", (name, data)
        typ, listed = conn.list()
        names = {line.decode().split('"/" ', 1)[1] for line in listed if isinstance(line, bytes)}
    finally:
        conn.logout()
    assert {"Projects.2024", "Projects.2024/new", "cur"} <= names


def test_mail_through_postfix_arrives_in_dovecot() -> None:
    sender, recipient = mailstack.new_address(), mailstack.new_address()
    subject = f"delivery {uuid.uuid4().hex}"
    with smtplib.SMTP(mailstack.HOST, mailstack.SMTP_PORT, timeout=10) as smtp:
        refused = smtp.send_message(_message(sender, recipient, subject))
    assert refused == {}
    arrived = mailstack.wait_for_message(recipient, _subject_is(subject), timeout=30)
    assert arrived["From"] == sender
    assert arrived["Delivered-To"] == recipient
    assert arrived.get_content().strip() == "Hello from the mail stack test."
    maildir = mailstack.maildir_path(recipient)
    # Dovecot may move the file from new/ to cur/ between the two listings: count unique
    # Maildir base names (the part before the ":2," info), then read whichever copy exists.
    files = list((maildir / "new").iterdir()) + list((maildir / "cur").iterdir())
    assert len({f.name.split(":", 1)[0] for f in files}) == 1
    base = files[0].name.split(":", 1)[0]
    current = [f for d in ("cur", "new") for f in (maildir / d).glob(base + "*")]
    assert current and subject.encode() in current[0].read_bytes()


def test_unknown_local_user_is_refused_at_rcpt() -> None:
    sender = mailstack.new_address()
    with smtplib.SMTP(mailstack.HOST, mailstack.SMTP_PORT, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            smtp.sendmail(sender, ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n")
    code, reply = caught.value.recipients["nobody@example.test"]
    assert code == 550
    assert b"5.1.1" in reply


def test_submission_refuses_relay_without_auth() -> None:
    sender = mailstack.new_address()
    with smtplib.SMTP(mailstack.HOST, mailstack.SUBMISSION_PORT, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("auth")
        code, _ = smtp.mail(sender)
        assert code == 250
        code, reply = smtp.rcpt("someone@remote.test")
        assert code == 554, reply
        code, reply = smtp.rcpt(mailstack.new_address())
        assert code == 554, reply
        smtp.rset()


def test_submission_wrong_password_is_refused() -> None:
    with smtplib.SMTP(mailstack.HOST, mailstack.SUBMISSION_PORT, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(mailstack.new_address(), "not-the-password")


def test_submission_with_auth_relays_and_delivers() -> None:
    sender, recipient = mailstack.new_address(), mailstack.new_address()
    subject = f"submission {uuid.uuid4().hex}"
    with smtplib.SMTP(mailstack.HOST, mailstack.SUBMISSION_PORT, timeout=10) as smtp:
        smtp.login(sender, mailstack.PASSWORD)
        # Relaying is allowed once authenticated (checked without queueing anything).
        assert smtp.mail(sender)[0] == 250
        assert smtp.rcpt("someone@remote.test")[0] == 250
        smtp.rset()
        assert smtp.send_message(_message(sender, recipient, subject)) == {}
    mailstack.wait_for_message(recipient, _subject_is(subject), timeout=30)


def test_remote_domain_is_relayed_to_the_tests_server() -> None:
    sender = mailstack.new_address()
    target = f"{uuid.uuid4().hex[:8]}@{mailstack.REMOTE_DOMAIN}"
    subject = f"relay {uuid.uuid4().hex}"
    handler = mailstack.RecordingHandler()
    with mailstack.remote_smtp_server(handler):
        with smtplib.SMTP(mailstack.HOST, mailstack.SMTP_PORT, timeout=10) as smtp:
            assert smtp.send_message(_message(sender, target, subject)) == {}
        _wait(lambda: any(m["Subject"] == subject for m in handler.messages()))
    envelope = next(
        e
        for e, m in zip(handler.envelopes, handler.messages(), strict=True)
        if m["Subject"] == subject
    )
    assert envelope.mail_from == sender
    assert envelope.rcpt_tos == [target]


def test_refusal_by_remote_server_comes_back_as_dsn_with_envid() -> None:
    sender = mailstack.new_address()
    target = f"x-{uuid.uuid4().hex[:8]}@{mailstack.REMOTE_DOMAIN}"
    envid = f"abc123-{uuid.uuid4().hex[:8]}"
    subject = f"to be bounced {uuid.uuid4().hex}"

    def refuse_target(address: str) -> str | None:
        return f"550 5.1.1 <{address}>: no such user here" if address == target else None

    handler = mailstack.RecordingHandler(refuse_target)
    with mailstack.remote_smtp_server(handler):
        with smtplib.SMTP(mailstack.HOST, mailstack.SMTP_PORT, timeout=10) as smtp:
            refused = smtp.sendmail(
                sender,
                [target],
                _message(sender, target, subject).as_bytes(),
                mail_options=[f"ENVID={envid}", "RET=HDRS"],
                rcpt_options=["NOTIFY=FAILURE,DELAY"],
            )
        assert refused == {}
        dsn = mailstack.wait_for_message(
            sender, lambda m: m.get_content_type() == "multipart/report", timeout=60
        )
    assert target in handler.refused
    assert dsn.get_param("report-type") == "delivery-status"
    parts = list(dsn.iter_parts())
    status = next(p for p in parts if p.get_content_type() == "message/delivery-status")
    blocks = status.get_payload()
    assert isinstance(blocks, list)
    per_message, per_recipient = blocks[0], blocks[1]
    assert isinstance(per_message, Message) and isinstance(per_recipient, Message)
    assert per_message["Original-Envelope-Id"] == envid
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert target in str(per_recipient["Final-Recipient"])
    # RET=HDRS: the headers come back, the body does not.
    returned = next(p for p in parts if p.get_content_type() == "text/rfc822-headers")
    headers = returned.get_payload(decode=True) or b""
    assert subject.encode() in headers
    assert b"Hello from the mail stack test." not in headers


def test_the_poller_logs_in_again_when_its_session_goes_away(
        monkeypatch: pytest.MonkeyPatch) -> None:
    address = mailstack.new_address()
    subject = f"after a lost session {uuid.uuid4().hex}"
    with smtplib.SMTP(mailstack.HOST, mailstack.SMTP_PORT, timeout=10) as smtp:
        smtp.send_message(_message(address, address, subject))
    real = mailstack._fetch_since
    aborts = {"left": 2}

    def flaky(conn: imaplib.IMAP4, folder: str, last_uid: int) -> list[tuple[int, Message]]:
        if aborts["left"]:
            aborts["left"] -= 1
            conn.shutdown()  # as when Dovecot's process for this session dies
            raise imaplib.IMAP4.abort("socket error: EOF")
        return real(conn, folder, last_uid)  # type: ignore[return-value]

    monkeypatch.setattr(mailstack, "_fetch_since", flaky)
    found = mailstack.wait_for_message(address, _subject_is(subject), timeout=30)
    assert found["Subject"] == subject and aborts["left"] == 0
    aborts["left"] = 10  # a server that keeps dropping the session is an error, not a wait
    with pytest.raises(imaplib.IMAP4.abort):
        mailstack.wait_for_message(address, _subject_is("never"), timeout=30)
