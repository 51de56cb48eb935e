"""Property tests: no input makes the parsers or renderers raise, and no text input makes
build_message write a header line it did not mean to."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mime.test_render import assert_only_our_markup
from webmail.mime.addresses import Address, parse_address_list
from webmail.mime.bounce import parse_bounce
from webmail.mime.compose import Attachment, ComposeError, ComposeSpec, build_message
from webmail.mime.dsn import parse_dsn, parse_mdn
from webmail.mime.headers import clean_line, decode_header_value
from webmail.mime.parse import ParsedMessage, PartNotFound, parse_message, part_bytes, structure
from webmail.mime.render import html_to_text, quote_for_reply, text_to_html, unflow

FAST = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_parse(raw: bytes) -> ParsedMessage:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)
    for attachment in parsed.attachments:
        data, ctype, _ = part_bytes(raw, attachment.part_id)
        assert len(data) == attachment.size and ctype == attachment.content_type
    sections = [section for section, _ in structure(raw)]
    assert len(sections) == len(set(sections))
    assert all(re.fullmatch(r"[1-9][0-9]*(\.[1-9][0-9]*)*", s) for s in sections)
    parse_dsn(raw)
    parse_mdn(raw)
    parse_bounce(raw)
    return parsed


@FAST
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check_parse(raw)


@FAST
@given(st.binary(max_size=500), st.text(alphabet="0123456789.", max_size=8))
def test_part_bytes_raises_only_part_not_found(raw: bytes, section: str) -> None:
    try:
        part_bytes(raw, section)
    except PartNotFound:
        pass


# --- generated MIME trees -------------------------------------------------------------------

TRICKY_VALUES = st.sampled_from(
    [
        "",
        "=?utf-8?B?w7w=?=",
        "=?x-unknown?Q?a=FF?=",
        "=?utf-8?Q?broken",
        '"quoted"',
        "a;b=c",
        "(comment)",
        "\u202e",
        "Grüße",
        "a\tb",
        "x" * 300,
        "<>",
        "@",
        ",,,",
        "\\",
    ]
) | st.text(max_size=30).map(lambda t: t.replace("\r", "").replace("\n", ""))
CHARSETS = st.sampled_from(
    [
        "utf-8",
        "us-ascii",
        "iso-8859-1",
        "windows-1252",
        "gb2312",
        "shift_jis",
        "iso-2022-jp",
        "utf-16le",
        "utf-7",
        "",
        "unknown-8bit",
        "x-user-defined",
        "bogus",
        '"utf-8 "',
    ]
)
ENCODINGS = st.sampled_from(
    ["", "7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "x-gzip64", "BASE64"]
)
LEAF_TYPES = st.sampled_from(
    [
        "text/plain",
        "text/html",
        "text/enriched",
        "text/calendar",
        "image/png",
        "text/rfc822-headers",
        "application/octet-stream",
        "message/delivery-status",
        "message/global",
        "text",
        "foo/bar",
        "message/disposition-notification",
    ]
)


@st.composite
def leaves(draw: st.DrawFn) -> bytes:
    headers = [f"Content-Type: {draw(LEAF_TYPES)}; charset={draw(CHARSETS)}"]
    if draw(st.booleans()):
        headers.append(f"Content-Transfer-Encoding: {draw(ENCODINGS)}")
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["attachment", "inline", "weird"]))
        headers.append(f'Content-Disposition: {kind}; filename="{draw(TRICKY_VALUES)}"')
    if draw(st.booleans()):
        headers.append(f"Content-ID: <{draw(TRICKY_VALUES)}>")
    if draw(st.booleans()):
        headers.append(f"X-Odd: {draw(TRICKY_VALUES)}")
    body = draw(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + body


def multipart(children: list[bytes], subtype: str, boundary: str, close: bool) -> bytes:
    out = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\npreamble\r\n'.encode()
    for child in children:
        out += f"--{boundary}\r\n".encode() + child + b"\r\n"
    return out + (f"--{boundary}--\r\nepilogue\r\n".encode() if close else b"")


def enclosed(child: bytes, subject: str) -> bytes:
    return f"Content-Type: message/rfc822\r\n\r\nSubject: {subject}\r\n".encode() + child


def trees() -> st.SearchStrategy[bytes]:
    subtypes = st.sampled_from(
        ["mixed", "alternative", "related", "digest", "report", "signed", "x-unknown"]
    )
    boundaries = st.sampled_from(["b", "b1", "b-inner", "=_x", "b b", ""])
    return st.recursive(
        leaves(),
        lambda children: (
            st.builds(
                multipart, st.lists(children, max_size=4), subtypes, boundaries, st.booleans()
            )
            | st.builds(enclosed, children, TRICKY_VALUES)
        ),
        max_leaves=10,
    )


@FAST
@given(trees(), st.sampled_from([b"\r\n", b"\n", b"\r"]), TRICKY_VALUES, TRICKY_VALUES)
def test_generated_mime_trees(body: bytes, eol: bytes, subject: str, name: str) -> None:
    head = f"From: {name} <a@example.org>\r\nTo: {name}\r\nSubject: {subject}\r\n"
    raw = (head.encode("utf-8") + body).replace(b"\r\n", eol)
    check_parse(raw)


# --- renderers ------------------------------------------------------------------------------

MARKUPISH = st.lists(
    st.sampled_from(
        [*"<>/\"'=&;!-[]?ab :\n", "http://x.y/", "mailto:", "javascript:", "<![", "<!--", "&#x"]
    ),
    max_size=80,
).map("".join)


@FAST
@given(st.text(max_size=300) | MARKUPISH)
def test_text_to_html_only_ever_makes_its_own_markup(text: str) -> None:
    assert_only_our_markup(text_to_html(text))
    assert_only_our_markup(text_to_html(text, flowed=True, delsp=True))
    unflow(text)
    quote_for_reply(text, "a", None)


@FAST
@given(st.text(max_size=300) | MARKUPISH)
def test_html_to_text_never_raises(markup: str) -> None:
    assert isinstance(html_to_text(markup), str)


@FAST
@given(st.binary(max_size=300) | st.text(max_size=200))
def test_header_decoding_gives_one_clean_line(value: bytes | str) -> None:
    decoded = decode_header_value(value)
    assert "\n" not in decoded and "\r" not in decoded and decoded == decoded.strip()


@FAST
@given(st.text(max_size=200))
def test_address_list_never_raises(text: str) -> None:
    addresses, _ = parse_address_list(text)
    assert all("@" in a.email for a in addresses)


# --- build_message never writes a header it did not mean to ---------------------------------

ANY_TEXT = (
    st.text(max_size=120)
    | TRICKY_VALUES
    | st.sampled_from(
        ["a\r\nBcc: x@example.org", "\u2028", "x\x00", "=?utf-8?q?a?=", " lead", "trail ", "é" * 80]
    )
)


@FAST
@given(subject=ANY_TEXT, name=ANY_TEXT, filename=ANY_TEXT, priority=ANY_TEXT, body=ANY_TEXT)
def test_build_message_raises_or_writes_clean_headers(
    subject: str, name: str, filename: str, priority: str, body: str
) -> None:
    spec = ComposeSpec(
        from_=Address(name, "ann@example.org"),
        to=(Address(name, "bob@example.org"),),
        subject=subject,
        text=body,
        attachments=(Attachment(filename, "text/plain", b"x"),),
        extra_headers=(("X-Priority", priority),),
        message_id="<m@example.org>",
    )
    try:
        built = build_message(spec)
    except ComposeError:
        return
    head = built.raw.partition(b"\r\n\r\n")[0]
    assert b"\n" not in head.replace(b"\r\n", b"") and b"\r" not in head.replace(b"\r\n", b"")
    names = {
        line.split(b":", 1)[0].lower()
        for line in head.split(b"\r\n")
        if line[:1] not in (b" ", b"\t")
    }
    assert names == {
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"x-priority",
        b"mime-version",
        b"content-type",
    }
    parsed = parse_message(built.raw)
    assert parsed.to[0].email == "bob@example.org"
    if "=?" not in subject:
        assert parsed.subject == clean_line(subject)
    if "=?" not in name:
        assert parsed.from_[0].name == clean_line(name)
