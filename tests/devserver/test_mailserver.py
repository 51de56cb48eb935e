"""The development mail server end to end: stdlib imaplib and smtplib against the real process."""

from __future__ import annotations

import email
import imaplib
import re
import smtplib
import subprocess
import sys
import time
import uuid
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.devserver.conftest import REPO, DevMail, fetch_raw

ALICE = ("alice@example.test", "alice-demo")
BOB = ("bob@example.test", "bob-demo")


def _message(subject: str, sender: str = ALICE[0], to: str = BOB[0]) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content("Hello from the test.\n")
    return msg.as_bytes()


def _smtp(devmail: DevMail) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", devmail.smtp_port, timeout=10)
    client.ehlo("test.example.test")
    return client


def _report_part(msg: EmailMessage) -> str:
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            return part.as_string()
    raise AssertionError("no message/delivery-status part")


@pytest.mark.parametrize("user", [ALICE, BOB, ("carol@example.test", "carol-demo")])
def test_demo_users_log_in(devmail: DevMail, user: tuple[str, str]) -> None:
    client = devmail.imap(*user)
    typ, _ = client.select("INBOX")
    assert typ == "OK"
    client.logout()


def test_wrong_password_and_unknown_user_are_refused(devmail: DevMail) -> None:
    for user, password in [(ALICE[0], "bob-demo"), ("nobody@example.test", "x")]:
        client = imaplib.IMAP4("127.0.0.1", devmail.imap_port, timeout=10)
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.login(user, password)
        client.shutdown()


def test_alice_has_three_pages_of_inbox_and_all_folders(devmail: DevMail) -> None:
    client = devmail.imap(*ALICE)
    _, listing = client.list()
    names = {re.sub(rb'^\(.*?\) "/" ', b"", line).decode().strip('"') for line in listing
             if isinstance(line, bytes)}
    assert {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive", "Projects",
            "Projects/Webmail"} <= names
    _, status = client.status("INBOX", "(MESSAGES UNSEEN)")
    counts = dict(re.findall(rb"(MESSAGES|UNSEEN) (\d+)", status[0]))
    assert int(counts[b"MESSAGES"]) >= 120  # tests in this module may add more
    assert 0 < int(counts[b"UNSEEN"]) < 60
    _, status = client.status("Projects/Webmail", "(MESSAGES)")
    assert b"MESSAGES 4" in status[0]
    client.logout()


def test_inbox_uid_order_is_date_order(devmail: DevMail) -> None:
    """Servers without SORT page by UID, so the demo must arrive in date order."""
    client = devmail.imap(*ALICE)
    client.select("INBOX", readonly=True)
    _, data = client.uid("FETCH", "1:120", "(INTERNALDATE)")
    stamps = [time.mktime(stamp) for line in data if isinstance(line, bytes)
              if (stamp := imaplib.Internaldate2tuple(line)) is not None]
    assert len(stamps) == 120
    assert stamps == sorted(stamps)
    client.logout()


def test_seeded_messages_are_what_the_demo_promises(devmail: DevMail) -> None:
    client = devmail.imap(*ALICE)
    client.select("INBOX", readonly=True)
    _, hits = client.uid("SEARCH", "HEADER", "Message-ID", "spring-2024.news")
    news = email.message_from_bytes(fetch_raw(client, hits[0].split()[0]), policy=policy.default)
    html = next(p for p in news.walk() if p.get_content_type() == "text/html")
    image = next(p for p in news.walk() if p.get_content_type() == "image/png")
    assert "cid:logo@harbourcycling.example.org" in html.get_content()
    assert "https://harbourcycling.example.org/img/" in html.get_content()
    assert image["Content-ID"] == "<logo@harbourcycling.example.org>"
    _, hits = client.uid("SEARCH", "HEADER", "Content-Type", "multipart/report")
    assert hits[0].split(), "the seeded bounce report is missing"
    client.logout()


def test_mail_to_bob_arrives_in_his_inbox(devmail: DevMail) -> None:
    subject = f"hello bob {uuid.uuid4().hex[:8]}"
    with _smtp(devmail) as smtp:
        refused = smtp.sendmail(ALICE[0], [BOB[0]], _message(subject))
    assert refused == {}
    msg = devmail.wait_for(*BOB, lambda m: m["Subject"] == subject)
    assert msg["Return-Path"] == f"<{ALICE[0]}>"
    assert msg["Delivered-To"] == BOB[0]
    assert "Hello from the test." in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_unknown_local_user_is_refused_at_rcpt(devmail: DevMail) -> None:
    with _smtp(devmail) as smtp:
        smtp.mail(ALICE[0])
        code, reply = smtp.rcpt("nobody@example.test")
    assert code == 550
    assert reply.decode() == (
        "5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"
    )


def test_slow_domain_is_a_temporary_failure(devmail: DevMail) -> None:
    with _smtp(devmail) as smtp:
        smtp.mail(ALICE[0])
        code, reply = smtp.rcpt("someone@slow.test")
    assert code == 451
    assert reply.startswith(b"4.4.1 ")


def test_other_domains_are_accepted_and_dropped(devmail: DevMail) -> None:
    with _smtp(devmail) as smtp:
        assert smtp.sendmail(ALICE[0], ["friend@elsewhere.example"], _message("dropped")) == {}


def test_dsn_extension_is_offered(devmail: DevMail) -> None:
    with _smtp(devmail) as smtp:
        assert smtp.has_extn("dsn")
        assert smtp.has_extn("smtputf8")
        assert smtp.has_extn("8bitmime")


def test_bounce_test_produces_a_dsn_for_the_sender(devmail: DevMail) -> None:
    subject = f"will bounce {uuid.uuid4().hex[:8]}"
    silent = f"no report wanted {uuid.uuid4().hex[:8]}"
    with _smtp(devmail) as smtp:
        # ENVID is case-sensitive xtext: "+2B" is "+".
        assert smtp.sendmail(
            ALICE[0], ["olivia@bounce.test"], _message(subject, to="olivia@bounce.test"),
            mail_options=["ENVID=Out-42+2Bx", "RET=HDRS"],
            rcpt_options=["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;olivia@bounce.test"],
        ) == {}
        assert smtp.sendmail(ALICE[0], ["nora@bounce.test"], _message(silent),
                             rcpt_options=["NOTIFY=NEVER"]) == {}
    dsn = devmail.wait_for(*ALICE, lambda m: subject in m.as_string()
                           and m.get_content_type() == "multipart/report")
    assert dsn.get_param("report-type") == "delivery-status"
    status = _report_part(dsn)
    assert "Original-Envelope-Id: Out-42+x" in status
    assert "Final-Recipient: rfc822; olivia@bounce.test" in status
    assert "Original-Recipient: rfc822;olivia@bounce.test" in status
    assert "Action: failed" in status
    assert "Status: 5.1.1" in status
    assert "Remote-MTA: dns; mx.bounce.test" in status
    assert re.search(r"Diagnostic-Code: smtp;\s+550 5\.1\.1 <olivia@bounce.test>", status)
    headers = next(p for p in dsn.walk() if p.get_content_type() == "text/rfc822-headers")
    assert f"Subject: {subject}" in headers.get_content()
    # NOTIFY=NEVER: its report would have been written at the same time; there is none.
    client = devmail.imap(*ALICE)
    client.select("INBOX", readonly=True)
    _, hits = client.uid("SEARCH", "BODY", f'"{silent}"')
    assert hits == [b""]
    client.logout()


def test_notify_success_and_delay_reports(devmail: DevMail) -> None:
    subject = f"report me {uuid.uuid4().hex[:8]}"
    with _smtp(devmail) as smtp:
        assert smtp.sendmail(ALICE[0], [BOB[0], "late@delay.test"], _message(subject),
                             mail_options=["RET=FULL"],
                             rcpt_options=["NOTIFY=SUCCESS,DELAY"]) == {}
    for action in ("delivered", "delayed"):
        def is_report(msg: EmailMessage, action: str = action) -> bool:
            return subject in msg.as_string() and f"Action: {action}" in msg.as_string()

        dsn = devmail.wait_for(*ALICE, is_report)
        returned = [p for p in dsn.walk() if p.get_content_type() == "message/rfc822"]
        assert returned, "RET=FULL returns the whole message"


def test_bad_dsn_parameters_are_refused(devmail: DevMail) -> None:
    with _smtp(devmail) as smtp:
        assert smtp.docmd("MAIL", "FROM:<alice@example.test> RET=SOME")[0] == 501
        assert smtp.docmd("MAIL", "FROM:<alice@example.test> ENVID=a+0D+0Ab")[0] == 501
        assert smtp.docmd("MAIL", "FROM:<alice@example.test> XFOO=1")[0] == 555
        assert smtp.docmd("MAIL", "FROM:<>")[0] == 250  # the null sender of bounces
        assert smtp.docmd("RCPT", "TO:<bob@example.test> NOTIFY=NEVER,SUCCESS")[0] == 501
        assert smtp.docmd("RCPT", "TO:<bob@example.test> NOTIFY=FAILURE")[0] == 250


def test_a_taken_port_is_a_clear_error(devmail: DevMail, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webmail.devserver.mailserver", "--dir", str(tmp_path),
         "--imap-port", str(devmail.imap_port), "--smtp-port", str(devmail.smtp_port)],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=False,
    )
    assert done.returncode == 2
    assert f"IMAP port 127.0.0.1:{devmail.imap_port} is already in use" in done.stderr
