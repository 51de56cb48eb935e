"""The RFC 3464 reports the development server writes, read back with the email package."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message

import pytest

from webmail.devserver.dsn import DsnRecipient, build_dsn, header_block, xtext_decode, xtext_encode

ORIGINAL = (
    b"From: alice@example.test\r\nTo: olivia@bounce.test\r\nSubject: Lunch\r\n"
    b"Message-ID: <lunch-1@example.test>\r\n\r\nAre you free on Friday?\r\n"
)
WHEN = datetime(2024, 6, 11, 9, 30, tzinfo=UTC)
FAILED = DsnRecipient("olivia@bounce.test", "failed", "5.1.1",
                      diagnostic="550 5.1.1 <olivia@bounce.test>: User unknown",
                      remote_mta="mx.bounce.test", original_recipient="rfc822;olivia@bounce.test")


def _parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_failure_report_has_the_three_parts_of_rfc_3464() -> None:
    msg = _parse(build_dsn(recipients=[FAILED], original=ORIGINAL, to="alice@example.test",
                           reporting_mta="devmail.example.test", arrival=WHEN, date=WHEN,
                           envid="outbox-17"))
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    blocks = parts[1].get_payload()
    assert isinstance(blocks, list)
    per_message, per_recipient = [block for block in blocks if isinstance(block, Message)]
    assert per_message["Reporting-MTA"] == "dns; devmail.example.test"
    assert per_message["Original-Envelope-Id"] == "outbox-17"
    assert per_recipient["Final-Recipient"] == "rfc822; olivia@bounce.test"
    assert per_recipient["Original-Recipient"] == "rfc822;olivia@bounce.test"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Remote-MTA"] == "dns; mx.bounce.test"
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 5.1.1 <olivia@bounce.test>: User unknown"
    returned = parts[2].get_content()
    assert "Message-ID: <lunch-1@example.test>" in returned
    assert "Are you free" not in returned  # headers only (RET=HDRS)


def test_ret_full_returns_the_whole_message_and_no_envid_means_no_field() -> None:
    delayed = DsnRecipient("late@delay.test", "delayed", "4.4.1", will_retry_until=WHEN)
    msg = _parse(build_dsn(recipients=[delayed], original=ORIGINAL, to="alice@example.test",
                           reporting_mta="devmail.example.test", arrival=WHEN, date=WHEN,
                           return_full=True))
    parts = list(msg.iter_parts())
    assert parts[2].get_content_type() == "message/rfc822"
    assert "Are you free" in parts[2].as_string()
    assert "Original-Envelope-Id" not in parts[1].as_string()
    assert "Will-Retry-Until:" in parts[1].as_string()
    assert msg["Subject"].startswith("Delayed Mail")


def test_one_report_is_about_one_action() -> None:
    delivered = DsnRecipient("bob@example.test", "delivered", "2.0.0")
    with pytest.raises(ValueError, match="one action"):
        build_dsn(recipients=[FAILED, delivered], original=ORIGINAL, to="a@example.test",
                  reporting_mta="h", arrival=WHEN, date=WHEN)
    with pytest.raises(ValueError, match="at least one"):
        build_dsn(recipients=[], original=ORIGINAL, to="a@example.test", reporting_mta="h",
                  arrival=WHEN, date=WHEN)


def test_header_block_stops_at_the_blank_line() -> None:
    assert header_block(ORIGINAL.replace(b"\r\n", b"\n")).endswith(b"<lunch-1@example.test>\r\n")
    assert b"Friday" not in header_block(ORIGINAL)


@pytest.mark.parametrize("plain", ["outbox-17", "a+b=c", "Mixed Case id!"])
def test_xtext_round_trip(plain: str) -> None:
    encoded = xtext_encode(plain)
    assert " " not in encoded and "=" not in encoded
    assert xtext_decode(encoded) == plain


@pytest.mark.parametrize("bad", ["a+0D+0Ab", "a+2", "x+zz", "caf\u00e9"])
def test_xtext_refuses_what_could_inject_or_is_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        xtext_decode(bad)
