"""DSN, bounce and MDN parsing against the expectations of the corpus INDEX.tsv."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.mime.corpus import MIME_ROWS, read
from webmail.mime.bounce import parse_bounce
from webmail.mime.dsn import DsnReport, parse_dsn, parse_mdn

FIELDS = ("final_recipient", "action", "status", "diagnostic_code")
DSN_ROWS = {row["file"]: row for row in MIME_ROWS if row["expected_basis"] == "dsn-fields"}
SISIMAI_ROWS = {row["file"]: row for row in MIME_ROWS if row["expected_basis"] == "sisimai"}
UNDECODABLE = [row["file"] for row in MIME_ROWS if row["expected_basis"] == "undecodable"]
NOT_BOUNCES = [row["file"] for row in MIME_ROWS if not row["expected_basis"]]

# The sisimai rows the text heuristics reproduce exactly (all four columns). The one missing,
# bounce-lhost-zoho-01.eml, gets recipient, action and status right; sisimai's diagnostic there
# also takes in a sentence of the notification's introduction.
SISIMAI_EXACT = [
    "bounce-flanker-gmail-invalid-address.eml",
    "bounce-flanker-gmail-no-dns.eml",
    "bounce-lhost-domino-01.eml",
    "bounce-lhost-exim-01.eml",
    "bounce-lhost-exim-02.eml",
    "bounce-lhost-exim-59.eml",
    "bounce-lhost-gmail-04.eml",
    "bounce-lhost-gmail-08.eml",
    "bounce-lhost-googleworkspace-01.eml",
    "bounce-lhost-mailru-03.eml",
    "bounce-lhost-office365-02.eml",
    "bounce-lhost-opensmtpd-02.eml",
    "bounce-lhost-qmail-01.eml",
    "bounce-lhost-qmail-06.eml",
    "bounce-lhost-qmail-14.eml",
    "bounce-lhost-yahoo-01.eml",
]


def columns(report: DsnReport | None) -> dict[str, str]:
    assert report is not None
    return {name: " | ".join(getattr(r, name) for r in report.recipients) for name in FIELDS}


def expected(row: dict[str, str]) -> dict[str, str]:
    return {name: row[name] for name in FIELDS}


def test_the_corpus_has_the_rows_these_tests_expect() -> None:
    assert len(DSN_ROWS) == 26 and len(SISIMAI_ROWS) == 17 and len(UNDECODABLE) == 1
    assert set(SISIMAI_EXACT) <= set(SISIMAI_ROWS)


@pytest.mark.parametrize("name", sorted(DSN_ROWS))
def test_dsn_fields_exactly(name: str) -> None:
    row = DSN_ROWS[name]
    assert columns(parse_dsn(read(name))) == expected(row)
    report = parse_bounce(read(name))
    assert report is not None and report.source == "dsn"
    assert columns(report) == expected(row)


@pytest.mark.parametrize("name", SISIMAI_EXACT)
def test_plain_text_bounces_exactly(name: str) -> None:
    assert parse_dsn(read(name)) is None or name == "bounce-lhost-googleworkspace-01.eml"
    report = parse_bounce(read(name))
    assert report is not None and report.source == "text"
    assert columns(report) == expected(SISIMAI_ROWS[name])


def test_plain_text_bounce_score_does_not_regress() -> None:
    exact = sum(
        1
        for name, row in SISIMAI_ROWS.items()
        if (report := parse_bounce(read(name))) is not None and columns(report) == expected(row)
    )
    assert exact >= len(SISIMAI_EXACT)


def test_zoho_bounce_gets_recipient_action_and_status() -> None:
    row = SISIMAI_ROWS["bounce-lhost-zoho-01.eml"]
    got = columns(parse_bounce(read("bounce-lhost-zoho-01.eml")))
    for name in ("final_recipient", "action", "status"):
        assert got[name] == row[name]
    assert got["diagnostic_code"] in row["diagnostic_code"]


@pytest.mark.parametrize("name", UNDECODABLE)
def test_undecodable_bounce_is_none(name: str) -> None:
    assert parse_dsn(read(name)) is None
    assert parse_bounce(read(name)) is None


@pytest.mark.parametrize("name", NOT_BOUNCES)
def test_not_bounces_are_not_read_as_bounces(name: str) -> None:
    """Auto-replies, abuse reports, read receipts, bounce look-alikes and ordinary mail."""
    assert parse_bounce(read(name)) is None


def test_report_level_fields_and_the_returned_message() -> None:
    report = parse_dsn(read("bounce-lhost-sendmail-25.eml"))
    assert report is not None
    assert report.reporting_mta == "aneyakoji.example.jp"
    assert report.arrival_date == datetime(
        2015, 6, 15, 5, 46, 14, tzinfo=timezone(timedelta(hours=9))
    )
    assert report.recipients[0].remote_mta == "mx.example.org"
    assert report.original_message_id == "<D69C17C3-6073-4B65-BD2C-52F3AE169C0F@example.jp>"
    assert report.original_subject == "test for bounce(🐈🐈)"
    headers_only = parse_dsn(read("bounce-rfc3464-07.eml"))  # text/rfc822-headers
    assert headers_only is not None
    assert headers_only.original_message_id == "<000000000000000@list.example.jp>"
    qmail = parse_bounce(read("bounce-lhost-qmail-01.eml"))  # returned inline in the text
    assert qmail is not None
    assert qmail.original_message_id == "<000000000.9999999999999.JavaMail.postmaster@mailhub>"


DSN_TEMPLATE = """From: MAILER-DAEMON@mx.example.org
To: ann@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Sorry.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Original-Envelope-Id: out+2B42-7
Arrival-Date: Tue, 2 Jun 2026 09:15:00 +0200

Final-Recipient: rfc822; <bob@example.net>
Original-Recipient: rfc822;Bob@Example.NET
Action: Delayed
Status: 4.4.1 (connection timed out)
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 451 4.4.1 try
    again   later
Will-Retry-Until: Wed, 3 Jun 2026 09:15:00 +0200
Final-Recipient: rfc822;cy@example.net
Action: failed
Status: 5.1.1

--b
Content-Type: text/rfc822-headers

Message-ID: <out-42@example.org>
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=

--b--
"""


def test_constructed_dsn_with_every_field() -> None:
    report = parse_dsn(DSN_TEMPLATE.replace("\n", "\r\n").encode())
    assert report is not None
    assert report.original_envelope_id == "out+42-7"  # xtext decoded
    assert report.arrival_date == datetime(2026, 6, 2, 9, 15, tzinfo=timezone(timedelta(hours=2)))
    assert report.original_message_id == "<out-42@example.org>"
    assert report.original_subject == "Grüße"
    first, second = report.recipients
    assert (first.final_recipient, first.original_recipient) == (
        "bob@example.net",
        "Bob@Example.NET",
    )
    assert (first.action, first.status, first.remote_mta) == ("delayed", "4.4.1", "mx.example.net")
    assert first.diagnostic_code == "smtp; 451 4.4.1 try again later"
    assert (second.final_recipient, second.action, second.status) == (
        "cy@example.net",
        "failed",
        "5.1.1",
    )


def test_mdn() -> None:
    displayed = parse_mdn(read("constructed-mdn-displayed-thunderbird.eml"))
    assert displayed is not None
    assert (displayed.disposition, displayed.original_message_id) == (
        "displayed",
        "<tnef1@mime-corpus.invalid>",
    )
    assert displayed.disposition_mode == "manual-action/mdn-sent-manually"
    assert displayed.final_recipient == "rcpt@example.test"
    deleted = parse_mdn(read("constructed-mdn-deleted-auto.eml"))
    assert deleted is not None and deleted.disposition == "deleted"
    rfc3798 = parse_mdn(read("flanker-disposition-notification.eml"))
    assert rfc3798 is not None
    assert rfc3798.original_message_id == "<199509192301.23456@example.org>"
    assert parse_mdn(read("bounce-lhost-postfix-02.eml")) is None
    assert parse_dsn(read("constructed-mdn-displayed-thunderbird.eml")) is None
