"""Reply, reply-all, forward and draft prefills: pure tests over message bytes."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from webmail.compose.prefill import (
    RefError,
    address_field,
    draft_prefill,
    forward_prefill,
    make_ref,
    parse_ref,
    reply_prefill,
    reply_subject,
)
from webmail.mime.addresses import parse_address_list

ME = "me@example.test"
ALIAS = "team@example.test"


def _original(**headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", '"Doe, Jane" <jane@example.org>')
    msg["To"] = headers.pop("To", f"Me <{ME}>, Bob <bob@example.org>")
    msg["Subject"] = headers.pop("Subject", "Plans <for> Friday")
    msg["Message-ID"] = "<orig-1@example.org>"
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Line one\n> earlier quote\nLine three")
    return msg.as_bytes()


@pytest.mark.parametrize("value,expected", [
    ("INBOX/12", ("INBOX", 12)),
    ("Projects/2026/Q1/7", ("Projects/2026/Q1", 7)),
    ("Ünïcode folder/3", ("Ünïcode folder", 3)),
])
def test_parse_ref_reads_uid_from_the_right(value: str, expected: tuple[str, int]) -> None:
    assert parse_ref(value) == expected


@pytest.mark.parametrize("value", ["", "INBOX", "INBOX/", "/12", "INBOX/0", "INBOX/-1",
                                   "INBOX/1e3", "INBOX/99999999999", "INBOX/٣"])
def test_parse_ref_refuses_garbage(value: str) -> None:
    with pytest.raises(RefError):
        parse_ref(value)


def test_make_ref_encodes_everything() -> None:
    assert make_ref("A/B & C", 5) == "A%2FB%20%26%20C%2F5"


def test_address_field_round_trips_through_the_parser() -> None:
    text = address_field(parse_address_list(
        '"Doe, Jane" <jane@example.org>, "Q \\"x\\" Z" <q@example.org>, plain@example.org')[0])
    addresses, errors = parse_address_list(text)
    assert not errors
    assert [(a.name, a.email) for a in addresses] == [
        ("Doe, Jane", "jane@example.org"), ('Q "x" Z', "q@example.org"),
        ("", "plain@example.org")]


def test_reply_goes_to_sender_with_threading_and_quote() -> None:
    prefill = reply_prefill(_original(References="<root@example.org>"), folder="INBOX",
                            uid=4, own=[ME], reply_all=False, signature_for={ME: "Me\nCEO"})
    assert prefill.to == '"Doe, Jane" <jane@example.org>'
    assert prefill.cc == ""
    assert prefill.subject == "Re: Plans <for> Friday"
    assert prefill.state.in_reply_to == "<orig-1@example.org>"
    assert prefill.state.references == ["<root@example.org>", "<orig-1@example.org>"]
    assert prefill.state.origin == ("INBOX", 4, "reply")
    assert "> Line one\n>> earlier quote\n> Line three" in prefill.body
    assert "Doe, Jane" in prefill.body and "wrote:" in prefill.body
    assert prefill.body.index("-- \nMe\nCEO") < prefill.body.index("wrote:")


def test_reply_honours_reply_to() -> None:
    prefill = reply_prefill(_original(Reply_To="List <list@example.org>"), folder="INBOX",
                            uid=1, own=[ME], reply_all=False, signature_for={})
    assert prefill.to == "List <list@example.org>"


def test_reply_all_excludes_own_identities_and_dedupes() -> None:
    raw = _original(To=f"Me <{ME}>, Bob <bob@example.org>, {ALIAS}",
                    Cc="BOB@example.org, Carol <carol@example.org>, jane@example.org",
                    Reply_To="jane@example.org")
    prefill = reply_prefill(raw, folder="INBOX", uid=1, own=[ME, ALIAS], reply_all=True,
                            signature_for={})
    assert prefill.to == "jane@example.org, Bob <bob@example.org>"
    assert prefill.cc == "Carol <carol@example.org>"
    assert prefill.from_email == ME  # the first identity the original was addressed to


def test_reply_from_alias_picks_that_identity() -> None:
    raw = _original(To=f"Team <{ALIAS}>")
    prefill = reply_prefill(raw, folder="INBOX", uid=1, own=[ME, ALIAS], reply_all=False,
                            signature_for={ALIAS: "The team"})
    assert prefill.from_email == ALIAS
    assert "-- \nThe team" in prefill.body


def test_reply_to_own_sent_message_goes_to_its_recipients() -> None:
    raw = _original(From=ME, To="Bob <bob@example.org>")
    prefill = reply_prefill(raw, folder="Sent", uid=2, own=[ME], reply_all=False,
                            signature_for={})
    assert prefill.to == "Bob <bob@example.org>"


def test_reply_subject_is_not_stacked() -> None:
    assert reply_subject("Re: x") == "Re: x"
    assert reply_subject("AW: x") == "AW: x"
    assert reply_subject("x\r\n y") == "Re: x y"


def test_forward_carries_attachments_and_header_block() -> None:
    msg = EmailMessage()
    msg["From"] = "Jane <jane@example.org>"
    msg["To"] = ME
    msg["Subject"] = "Report"
    msg["Message-ID"] = "<fw-1@example.org>"
    msg.set_content("See attached.")
    msg.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="pdf",
                       filename="report.pdf")
    msg.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
    prefill = forward_prefill(msg.as_bytes(), folder="INBOX", uid=9, own=[ME],
                              signature_for={})
    assert prefill.subject == "Fwd: Report"
    assert prefill.to == ""
    assert "---------- Forwarded message ----------" in prefill.body
    assert "See attached." in prefill.body
    assert prefill.state.origin == ("INBOX", 9, "forward")
    assert prefill.state.in_reply_to == ""
    assert [(n, t) for n, t, _ in prefill.attachments] == [
        ("report.pdf", "application/pdf"), ("data.csv", "text/csv")]
    assert prefill.attachments[0][2] == b"%PDF-1.4 data"


def test_draft_prefill_reads_fields_token_and_origin() -> None:
    msg = EmailMessage()
    msg["From"] = ME
    msg["To"] = '"Doe, Jane" <jane@example.org>'
    msg["Bcc"] = "secret@example.org"
    msg["Subject"] = "Draft subject"
    msg["In-Reply-To"] = "<orig-1@example.org>"
    msg["References"] = "<orig-1@example.org>"
    msg["X-Webmail-Draft-Id"] = "0123456789abcdef0123456789abcdef"
    msg["X-Webmail-Origin"] = "reply 4 Projects%2FA"
    msg.set_content("plain version")
    msg.add_alternative('<p>Hi <b>there</b><script>x()</script></p>', subtype="html")
    prefill = draft_prefill(msg.as_bytes(), folder="Drafts", uid=3)
    assert prefill.to == '"Doe, Jane" <jane@example.org>'
    assert prefill.bcc == "secret@example.org"
    assert prefill.token == "0123456789abcdef0123456789abcdef"
    assert prefill.format == "html"
    assert "<b>there</b>" in prefill.body_html and "script" not in prefill.body_html
    assert prefill.state.origin == ("Projects/A", 4, "reply")
    assert prefill.state.in_reply_to == "<orig-1@example.org>"
    assert (prefill.state.draft_folder, prefill.state.draft_uid) == ("Drafts", 3)


def test_draft_prefill_ignores_a_malformed_token() -> None:
    msg = EmailMessage()
    msg["X-Webmail-Draft-Id"] = "../../etc"
    msg.set_content("x")
    assert draft_prefill(msg.as_bytes(), folder="Drafts", uid=1).token == ""
