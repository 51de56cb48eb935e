# ruff: noqa: RUF001 - the test data is deliberately non-ASCII (dashes, fullwidth punctuation)
"""build_message: round trips through parse_message, Bcc, IDN/SMTPUTF8, header injection,
and parse_address_list for the compose form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from webmail.mime.addresses import Address, parse_address_list
from webmail.mime.compose import (
    Attachment,
    BuiltMessage,
    ComposeError,
    ComposeSpec,
    InlinePart,
    build_message,
)
from webmail.mime.parse import parse_message, part_bytes

ANN = Address("Ann Example", "ann@example.org")
BOB = Address("Bob", "bob@example.org")
DATE = datetime(2026, 6, 2, 9, 15, tzinfo=timezone(timedelta(hours=2)))


def spec(**changes: object) -> ComposeSpec:
    values: dict[str, object] = {
        "from_": ANN,
        "to": (BOB,),
        "subject": "Hello",
        "text": "Hi Bob",
        "date": DATE,
        "message_id": "<fixed@example.org>",
    }
    values.update(changes)
    return ComposeSpec(**values)  # type: ignore[arg-type]


def header_block(built: BuiltMessage) -> bytes:
    return built.raw.partition(b"\r\n\r\n")[0]


def assert_wire_format(raw: bytes) -> None:
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in raw.replace(b"\r\n", b""), "bare CR"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_round_trip() -> None:
    built = build_message(
        spec(
            cc=(Address("Doe, Jane", "jane@example.org"),),
            reply_to=(Address("", "team@example.org"),),
            subject="Grüße – über alles",
            text="Line one\nLine two\n",
            html='<p>Line <b>one</b><img src="cid:logo@example.org"></p>',
            inline=(InlinePart("logo@example.org", "logo.png", "image/png", b"\x89PNG\r\n"),),
            attachments=(Attachment("Bericht März.pdf", "application/pdf", b"%PDF-1.4 " * 200),),
            in_reply_to="<parent@example.org>",
            references=("<root@example.org>", "<parent@example.org>"),
        )
    )
    assert_wire_format(built.raw)
    parsed = parse_message(built.raw)
    assert parsed.from_ == (ANN,)
    assert parsed.to == (BOB,)
    assert parsed.cc == (Address("Doe, Jane", "jane@example.org"),)
    assert parsed.reply_to == (Address("", "team@example.org"),)
    assert parsed.subject == "Grüße – über alles"
    assert parsed.text == "Line one\nLine two\n"
    assert parsed.html is not None and "<b>one</b>" in parsed.html
    assert parsed.message_id == built.message_id == "<fixed@example.org>"
    assert parsed.date == built.date == DATE
    assert parsed.in_reply_to == "<parent@example.org>"
    assert parsed.references == ("<root@example.org>", "<parent@example.org>")
    (logo, report) = parsed.attachments
    assert (logo.content_id, logo.is_inline, logo.content_type) == (
        "logo@example.org",
        True,
        "image/png",
    )
    assert parsed.inline_parts["logo@example.org"] == logo.part_id
    assert (report.filename, report.size) == ("Bericht März.pdf", 1800)
    assert part_bytes(built.raw, report.part_id)[0] == b"%PDF-1.4 " * 200
    assert part_bytes(built.raw, logo.part_id)[0] == b"\x89PNG\r\n"
    assert built.recipients == ("bob@example.org", "jane@example.org")
    assert built.envelope_from == "ann@example.org" and not built.smtputf8


def test_bcc_is_an_envelope_recipient_but_not_a_header() -> None:
    built = build_message(
        spec(
            cc=(BOB,), bcc=(Address("Secret", "secret@example.org"), Address("", "BOB@example.org"))
        )
    )
    assert built.recipients == ("bob@example.org", "secret@example.org")
    assert b"secret" not in built.raw.lower() and b"bcc" not in header_block(built).lower()
    assert parse_message(built.raw).bcc == ()


def test_html_only_gets_a_text_alternative() -> None:
    built = build_message(spec(text="", html="<p>Hello <b>there</b></p><ul><li>x</li></ul>"))
    parsed = parse_message(built.raw)
    assert parsed.text == "Hello there\n\n- x\n"
    assert parsed.html_section == "2" and parsed.text_section == "1"


@pytest.mark.parametrize(
    ("address", "envelope", "smtputf8"),
    [
        (Address("Jörg", "joerg@müller.de"), "joerg@xn--mller-kva.de", False),
        (Address("Jörg", "jörg@müller.de"), "jörg@müller.de", True),
        (Address("用户", "用户@例子.广告"), "用户@例子.广告", True),
    ],
)
def test_internationalised_addresses(address: Address, envelope: str, smtputf8: bool) -> None:
    built = build_message(spec(to=(address,)))
    assert built.recipients == (envelope,)
    assert built.smtputf8 is smtputf8
    assert_wire_format(built.raw)
    if not smtputf8:
        assert header_block(built).isascii()
    parsed = parse_message(built.raw)
    assert parsed.to == (Address(address.name, envelope),)


def test_internationalised_sender_switches_the_whole_message_to_smtputf8() -> None:
    built = build_message(spec(from_=Address("用户", "用户@例子.广告")))
    assert built.smtputf8 and built.envelope_from == "用户@例子.广告"
    assert "From: 用户 <用户@例子.广告>".encode() in built.raw


@pytest.mark.parametrize(
    "name",
    ["Doe, Jane", 'Jane "JJ" Doe', "back\\slash", "a;b:c<d>e@f", "=?utf-8?q?x?= fake", "Zoë"],
)
def test_display_names_with_specials_round_trip(name: str) -> None:
    built = build_message(spec(to=(Address(name, "jane@example.org"),)))
    parsed = parse_message(built.raw)
    if "=?" in name:  # the stdlib writes a literal encoded word unencoded: only its text survives
        assert parsed.to[0].email == "jane@example.org"
    else:
        assert parsed.to == (Address(name, "jane@example.org"),)


INJECTIONS = [
    "x\r\nBcc: victim@example.org",
    "x\nX-Evil: 1",
    "x\rX-Evil: 1",
    "x\x00y",
    "x\u2028Bcc: a@b.c",
    "x\x85y",
    "x\x0bX: y",
]


@pytest.mark.parametrize("evil", INJECTIONS)
@pytest.mark.parametrize(
    "field",
    [
        "subject",
        "from_name",
        "to_name",
        "to_email",
        "filename",
        "content_type",
        "in_reply_to",
        "references",
        "message_id",
        "extra_value",
        "msgid_domain",
        "cid",
    ],
)
def test_line_breaks_anywhere_in_headers_raise(field: str, evil: str) -> None:
    cases: dict[str, dict[str, object]] = {
        "subject": {"subject": evil},
        "from_name": {"from_": Address(evil, "ann@example.org")},
        "to_name": {"to": (Address(evil, "bob@example.org"),)},
        "to_email": {"to": (Address("", "bob@example.org" + evil),)},
        "filename": {"attachments": (Attachment(evil, "text/plain", b"x"),)},
        "content_type": {"attachments": (Attachment("a.txt", "text/plain" + evil, b"x"),)},
        "in_reply_to": {"in_reply_to": "<a@b>" + evil},
        "references": {"references": ("<a@b>" + evil,)},
        "message_id": {"message_id": "<a@b>" + evil},
        "extra_value": {"extra_headers": (("X-Priority", "1" + evil),)},
        "msgid_domain": {"message_id": "", "msgid_domain": "example.org" + evil},
        "cid": {
            "html": "<p>x</p>",
            "inline": (InlinePart("a@b" + evil, "a.png", "image/png", b"x"),),
        },
    }
    changes = cases[field]
    with pytest.raises(ComposeError):
        build_message(spec(**changes))


def test_header_values_cannot_add_header_fields() -> None:
    built = build_message(spec(subject="A: B " * 100, to=(Address("X-Injected: yes", BOB.email),)))
    names = [
        line.split(b":")[0].lower()
        for line in header_block(built).split(b"\r\n")
        if line[:1] not in (b" ", b"\t")
    ]
    assert b"x-injected" not in names
    assert set(built.header_names) == {n.decode() for n in names}


def test_extra_headers_are_an_allow_list() -> None:
    built = build_message(
        spec(
            extra_headers=(
                ("Disposition-Notification-To", "Ann <ann@example.org>"),
                ("X-Priority", "1"),
            )
        )
    )
    assert b"Disposition-Notification-To: ann@example.org\r\n" in built.raw
    assert b"X-Priority: 1\r\n" in built.raw
    with pytest.raises(ComposeError):
        build_message(spec(extra_headers=(("Bcc", "x@example.org"),)))
    with pytest.raises(ComposeError):
        build_message(spec(extra_headers=(("Disposition-Notification-To", "not an address"),)))


@pytest.mark.parametrize(
    "changes",
    [
        {"to": ()},
        {"to": (Address("", "foo@"),)},
        {"from_": Address("", "not-an-address")},
        {"message_id": "no-brackets@example.org"},
        {"in_reply_to": "<a b@c>"},
        {"date": datetime(2026, 6, 2, 9, 15)},
        {"inline": (InlinePart("x@y", "a.png", "image/png", b"x"),)},  # no HTML body
        {"subject": "x" * 999},
    ],
)
def test_invalid_specs_raise(changes: dict[str, object]) -> None:
    with pytest.raises(ComposeError):
        build_message(spec(**changes))


def test_generated_message_id_and_date() -> None:
    built = build_message(spec(message_id="", date=None, msgid_domain="mail.example.org"))
    assert re.fullmatch(r"<[A-Za-z0-9_-]{20,}@mail\.example\.org>", built.message_id)
    assert built.date.tzinfo is not None and abs(datetime.now(UTC) - built.date).seconds < 60
    assert parse_message(built.raw).message_id == built.message_id
    other = build_message(spec(message_id="", to=(Address("", "x@bücher.de"),)))
    assert other.message_id.endswith("@example.org>")  # the From domain


def test_long_lines_and_odd_attachments_are_encoded() -> None:
    built = build_message(
        spec(
            text="x" * 5000 + "\r\nbare\rcr",
            attachments=(
                Attachment("../../etc/passwd", 'application/x-evil; name="a"', b"\x00" * 10),
                Attachment("fwd.eml", "message/rfc822", b"Subject: inner\r\n\r\nbody\r\n"),
                Attachment("odd", "multipart/mixed", b"x"),
            ),
        )
    )
    assert_wire_format(built.raw)
    parsed = parse_message(built.raw)
    assert parsed.text == "x" * 5000 + "\nbare\ncr\n"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("passwd", "application/x-evil"),
        ("fwd.eml", "message/rfc822"),
        ("odd", "application/octet-stream"),
    ]


# --- parse_address_list ---------------------------------------------------------------------


def test_address_list_accepts_the_usual_forms() -> None:
    addresses, errors = parse_address_list(
        'ann@example.org, "Doe, Jane" <jane@example.org>; Bob <BOB@Example.ORG>\n'
        '"quoted local"@example.org, 用户@例子.广告, jörg@müller.de, <bare@example.org>, '
        '"O\'Brien \\"OB\\"" <ob@example.org>, lit@[192.0.2.1]'
    )
    assert errors == []
    assert addresses == [
        Address("", "ann@example.org"),
        Address("Doe, Jane", "jane@example.org"),
        Address("Bob", "BOB@example.org"),
        Address("", '"quoted local"@example.org'),
        Address("", "用户@例子.广告"),
        Address("", "jörg@müller.de"),
        Address("", "bare@example.org"),
        Address('O\'Brien "OB"', "ob@example.org"),
        Address("", "lit@[192.0.2.1]"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo@", "the domain after @ is missing"),
        ("@bar", "the part before @ is missing"),
        ("a b@c", "cannot contain spaces"),
        ("plainword", "the @ and domain are missing"),
        ("x@-bad-.org", "is not a valid domain name"),
        ("x@exa_mple.org", "is not a valid domain name"),
        ("a..b@example.org", "is not a valid part before @"),
        ("Ann <ann@example.org", "unbalanced < >"),
        ("Ann <ann@example.org> trailing", "unbalanced < >"),
        ('Ann "x <a@b.org>', "must be in double quotes"),
        ("x" * 65 + "@example.org", "longer than 64 bytes"),
        ("x@[300.1.1.1]", "not an IP address"),
    ],
)
def test_address_list_refuses_garbage_with_a_clear_message(text: str, message: str) -> None:
    addresses, errors = parse_address_list(f"ok@example.org, {text}")
    assert addresses == [Address("", "ok@example.org")]
    assert len(errors) == 1 and errors[0].startswith(f"“{text}”") and message in errors[0]


def test_address_list_ignores_empty_items() -> None:
    assert parse_address_list(" , ;\n\n") == ([], [])


def test_a_forwarded_delivery_report_part_is_attached_as_its_text() -> None:
    """Forwarding a bounce carries its message/delivery-status part; the email package cannot
    write that type from bytes (it crashed the build), so it goes as text/plain."""
    report = b"Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; x@y\r\n"
    built = build_message(spec(attachments=(
        Attachment("details.txt", "message/delivery-status", report),
        Attachment("global.txt", "message/global-delivery-status", report))))
    parsed = parse_message(built.raw)
    types = [a.content_type for a in parsed.attachments]
    assert types == ["text/plain", "text/plain"]
    assert part_bytes(built.raw, parsed.attachments[0].part_id)[0] == report


def test_html_with_related_images_is_valid_mime_with_matching_content_ids() -> None:
    from email import message_from_bytes, policy

    png = b"\x89PNG\r\n\x1a\nfake"
    built = build_message(spec(html='<p>x <img src="cid:a1@example.org"></p>',
                               inline=(InlinePart("a1@example.org", "a.png", "image/png", png),),
                               attachments=(Attachment("f.pdf", "application/pdf", b"%PDF"),)))
    mail = message_from_bytes(built.raw, policy=policy.default)
    assert [p.get_content_type() for p in mail.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "multipart/related",
        "text/html", "image/png", "application/pdf"]
    image = next(p for p in mail.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<a1@example.org>" and image.get_content() == png
    assert all(not p.defects for p in mail.walk())
