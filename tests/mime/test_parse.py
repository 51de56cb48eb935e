# ruff: noqa: RUF001 - the test data is deliberately non-ASCII (dashes, fullwidth punctuation)
"""parse_message on chosen corpus files and on constructed messages: charsets, filenames,
limits, body choice, IMAP section numbering (RFC 3501 section 6.4.5) and part_bytes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.mime.corpus import read
from webmail.mime.addresses import Address
from webmail.mime.parse import PartNotFound, parse_message, part_bytes, structure


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


# --- charsets -------------------------------------------------------------------------------

CHARSET_TEXTS = {
    "constructed-charset-big5.eml": ("會議通知", "各位同仁：明天下午三點開會，請準時出席。"),
    "constructed-charset-euc-kr.eml": ("회의 안내", "안녕하세요. 회의 자료를 첨부합니다."),
    "constructed-charset-gb2312-base64.eml": ("销售报告", "您好！附件是本季度的销售报告，请查收。"),
    "constructed-charset-iso-2022-jp.eml": ("会議資料の送付", "来週の会議の件でご連絡しました。"),
    "constructed-charset-koi8-r.eml": ("Отчёт за май", "Добрый день! Отчёт во вложении."),
    "constructed-charset-missing-8bit-body.eml": ("No charset", "Grüße aus München – ça va?"),
    "constructed-charset-shift_jis-8bit.eml": ("見積書について", "添付の資料をご確認ください。"),
    "constructed-charset-unknown-8bit.eml": ("Grüße", "Grüße aus Köln"),
    "constructed-charset-windows-1252-8bit.eml": (
        "Rechnung – März",
        "€ 1’250.00 is attached – “thank you” for your business. Café naïve … ™",
    ),
    "mailparser-mail_test_12.eml": ("代开各地增值税发票", "你好！我公司可代开各类增值税发票"),
}


@pytest.mark.parametrize("name", sorted(CHARSET_TEXTS))
def test_charsets_decode_to_the_expected_text(name: str) -> None:
    subject, text = CHARSET_TEXTS[name]
    parsed = parse_message(read(name))
    assert parsed.subject == subject
    assert parsed.text is not None and text in parsed.text
    assert "\ufffd" not in parsed.text


def test_bogus_charset_labels_fall_back_instead_of_failing() -> None:
    parsed = parse_message(read("constructed-charset-bogus-names.eml"))
    assert parsed.text is not None
    for expected in (
        "Empty charset café",
        "user defined ü",
        "alias without dash ✓",
        "trailing space ✓",
        "DOS über été",
        "claims ascii: naïve",
    ):
        assert expected in parsed.text


def test_gbk_text_labelled_gb2312_or_gbk_decodes_as_gb18030() -> None:
    parsed = parse_message(read("constructed-charset-gb2312-base64.eml"))
    assert parsed.html is not None and "(GBK-only: 镕)" in parsed.html
    assert "\ufffd" not in parsed.html


def test_html_meta_charset_wins_when_the_mime_label_cannot_be_right() -> None:
    parsed = parse_message(read("constructed-charset-html-meta-conflict.eml"))
    assert parsed.html is not None and "Привет, мир" in parsed.html


def test_mime_label_wins_over_a_meta_that_does_not_fit() -> None:
    html = '<meta charset="iso-8859-1"><p>Grüße</p>'
    raw = crlf("Content-Type: text/html; charset=utf-8\n\n" + html + "\n")
    assert "Grüße" in (parse_message(raw).html or "")


def test_utf16_body() -> None:
    raw = (
        b"Content-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + __import__("base64").b64encode("Grüße 日本".encode("utf-16le"))
        + b"\r\n"
    )
    assert parse_message(raw).text == "Grüße 日本"


def test_raw_8bit_headers() -> None:
    parsed = parse_message(read("constructed-rfc2047-8bit-raw-headers.eml"))
    assert parsed.subject == "Größenänderung – 変更"
    assert parsed.from_ == (Address("Jürgen Müller", "jm@mime-corpus.invalid"),)
    assert [a.filename for a in parsed.attachments] == ["Übersicht März.pdf"]


def test_encoded_words() -> None:
    valid = parse_message(read("constructed-rfc2047-valid-mixed.eml"))
    assert valid.subject == "Déjà vu: 日本語の件名fin"
    assert [a.name for a in valid.to] == ["张伟", "Иванов"]
    broken = parse_message(read("constructed-rfc2047-malformed.eml"))
    assert broken.subject.startswith("Hello World | =?utf-8?B?!!invalid!!?=")
    assert "café" in broken.subject and "€ split multibyte" in broken.subject
    assert broken.from_ == (Address("Quoted Jürgen", "a@mime-corpus.invalid"),)


def test_display_names_with_commas_and_addresses() -> None:
    parsed = parse_message(read("mailparser-mail_test_18.eml"))
    assert parsed.from_ == (Address("LastßlName, FirstName", "comma.name@example.com"),)
    assert parsed.cc == (
        Address("", "simple@example.net"),
        Address('John "Johnny" Doe', "john.doe@example.com"),
    )
    odd = parse_message(read("mailparser-mail_test_19.eml"))
    assert odd.from_ == (Address("alice@example.com", "bob@example.com"),)
    assert odd.to == (
        Address("Charlie Brown", "charlie@example.com"),
        Address("", "dave@example.com"),
    )


# --- filenames ------------------------------------------------------------------------------


def test_rfc2231_filenames() -> None:
    parsed = parse_message(read("constructed-rfc2231-filenames.eml"))
    assert [a.filename for a in parsed.attachments] == [
        "Grüße aus Köln.txt",
        "日本語-part3.txt",
        "preferred-✓.txt",  # filename* wins over filename (RFC 2231)
        "only-in-content-type.bin",
        "Übersicht.pdf",
        "bad-\ufffd(-\ufffd.txt",
    ]
    assert [a.part_id for a in parsed.attachments] == ["2", "3", "4", "5", "6", "7"]


def test_long_rfc2231_filename_is_bounded_and_keeps_its_extension() -> None:
    (attachment,) = parse_message(read("constructed-rfc2231-long-filename-folded.eml")).attachments
    assert attachment.filename.startswith("Sehr langer Dateiname äöü Sehr")
    assert attachment.filename.endswith("….pdf") and len(attachment.filename) == 150


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('filename="../../etc/passwd"', "passwd"),
        ('filename="C:\\\\Windows\\\\evil.exe"', "evil.exe"),
        ("filename*=utf-8''a%E2%80%AEfdp.exe", "afdp.exe"),  # right-to-left override removed
        ('filename="tab\tthere\x01.txt"', "tab there.txt"),
        ('filename=".."', "attachment.bin"),
        ('filename="...hidden"', "hidden"),
    ],
)
def test_filenames_are_sanitised(header: str, expected: str) -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n"
        f"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; {header}\n"
        "\nxx\n--b--\n"
    )
    assert [a.filename for a in parse_message(raw).attachments] == [expected]


# --- limits ---------------------------------------------------------------------------------


def test_2000_parts_give_a_warning_and_the_first_parts() -> None:
    parsed = parse_message(read("constructed-multipart-2000-parts.eml"))
    assert any("500 parts" in w for w in parsed.warnings)
    assert parsed.text is not None and parsed.text.startswith("part 0")
    assert len(structure(read("constructed-multipart-2000-parts.eml"))) == 500


def test_150_levels_give_a_warning_not_an_error() -> None:
    parsed = parse_message(read("constructed-nesting-multipart-150.eml"))
    assert any("30 levels" in w for w in parsed.warnings)
    assert parsed.subject == "Deep nesting"


def test_deeper_than_the_stdlib_parser_can_go() -> None:
    deep_messages = b"Subject: deep\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"hi"
    parsed = parse_message(deep_messages)
    assert parsed.subject == "deep" and parsed.warnings
    deep_multiparts = b"Subject: deep\r\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(3000)
    )
    assert parse_message(deep_multiparts).subject == "deep"


def test_endless_enclosure_is_bounded_in_time() -> None:
    """Shaped like flanker's 2.9 MB enclosed-endless.eml: thousands of parts in an enclosed
    message."""
    part = (
        b"--BB\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + b"PGRpdj5oZWxsbyB3b3JsZCBoZWxsbyB3b3JsZCBoZWxsbyB3b3JsZDwvZGl2Pgo=\n" * 15
    )
    raw = (
        b"From: a@example.test\nSubject: endless\nContent-Type: multipart/mixed; boundary=AA\n\n"
        b"--AA\nContent-Type: text/plain\n\nHello\n--AA\nContent-Type: message/rfc822\n\n"
        b"Subject: inner\nContent-Type: multipart/alternative; boundary=BB\n\n"
        + part
        * (2_900_000 // len(part))
    )
    started = time.monotonic()
    parsed = parse_message(raw)
    assert time.monotonic() - started < 10
    assert parsed.text == "Hello"
    assert any("500 parts" in w for w in parsed.warnings)


def test_huge_headers_are_cut_with_warnings() -> None:
    parsed = parse_message(read("constructed-headers-huge-subject.eml"))
    assert len(parsed.subject) == 2001 and parsed.subject.endswith("…")
    assert any("subject" in w for w in parsed.warnings)
    assert all(len(value) <= 8 * 1024 + 1 for _, value in parsed.headers)


def test_many_header_lines_are_cut() -> None:
    raw = crlf("".join(f"Received: from host{i}\n" for i in range(5000)) + "Subject: s\n\nbody\n")
    parsed = parse_message(raw)
    assert len(parsed.headers) == 500
    assert parsed.subject == "s"
    assert any("5001 header lines" in w for w in parsed.warnings)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00" * 100,
        b"\xff\xfe\xfd",
        b"Subject: only",
        b"\r\n\r\n",
        b"--\r\n--\r\n",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b"From: <>\r\n\r\n" * 50,
    ],
)
def test_junk_bytes_never_raise(raw: bytes) -> None:
    parse_message(raw)


# --- headers --------------------------------------------------------------------------------


def test_threading_and_list_headers() -> None:
    raw = crlf(
        "From: Ann <ann@example.org>\nTo: bob@example.org\nSubject: Re: plans\n"
        "Message-ID:  <m2@example.org> \nIn-Reply-To: <m1@example.org> (comment)\n"
        "References: <m0@example.org>\n <m1@example.org>\n"
        "List-Unsubscribe: <mailto:leave@example.org>,\n <https://example.org/u?x=1>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\nDate: Tue, 2 Jun 2026 09:15:00 +0200\n"
        "\nhi\n"
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "<m2@example.org>"
    assert parsed.in_reply_to == "<m1@example.org>"
    assert parsed.references == ("<m0@example.org>", "<m1@example.org>")
    assert parsed.list_unsubscribe == ("mailto:leave@example.org", "https://example.org/u?x=1")
    assert parsed.list_unsubscribe_post
    assert parsed.date == datetime(2026, 6, 2, 9, 15, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 02 Jun 2026 09:15:00 -0000", datetime(2026, 6, 2, 9, 15, tzinfo=UTC)),
        ("not a date", None),
        ("Tue, 02 Jun 99999 09:15:00 +0000", None),
        ("", None),
    ],
)
def test_dates_are_aware_or_none(value: str, expected: datetime | None) -> None:
    parsed = parse_message(crlf(f"Date: {value}\n\nx\n"))
    assert parsed.date == expected
    assert parsed.date is None or parsed.date.tzinfo is not None


def test_report_flags() -> None:
    assert parse_message(read("bounce-lhost-postfix-02.eml")).is_dsn
    assert not parse_message(read("bounce-lhost-exim-01.eml")).is_dsn
    assert parse_message(read("constructed-mdn-displayed-thunderbird.eml")).is_mdn
    assert not parse_message(read("feedback-report-arf-01.eml")).is_dsn


# --- body choice ----------------------------------------------------------------------------


def test_alternative_gives_html_and_text() -> None:
    parsed = parse_message(read("flanker-8bitmime.eml"))
    assert parsed.html_section == "2" and parsed.text_section == "1"
    assert parsed.text is not None and parsed.text.startswith("Превел")


def test_related_root_and_cid_parts() -> None:
    parsed = parse_message(read("bounce-rfc3464-63.eml"))
    assert parsed.html_section == "1.1.2"
    assert dict(parsed.inline_parts) == {"icon.png": "1.2"}
    icon = next(a for a in parsed.attachments if a.part_id == "1.2")
    assert icon.is_inline and icon.content_id == "icon.png"
    delivery_status = next(a for a in parsed.attachments if a.part_id == "2")
    assert not delivery_status.is_inline


def test_related_start_parameter_picks_the_root() -> None:
    raw = crlf(
        'Content-Type: multipart/related; boundary=r; start="<root@x>"\n\n'
        "--r\nContent-Type: image/png\nContent-ID: <img@x>\n\nPNG\n"
        '--r\nContent-Type: text/html\nContent-ID: <root@x>\n\n<img src="cid:img@x">\n--r--\n'
    )
    parsed = parse_message(raw)
    assert parsed.html_section == "2"
    assert [(a.part_id, a.is_inline) for a in parsed.attachments] == [("1", True)]


def test_apple_mail_inline_image_between_html_parts() -> None:
    parsed = parse_message(read("constructed-apple-mail-related-mixed.eml"))
    assert parsed.text_section == "1"
    assert parsed.html is not None
    assert (
        parsed.html.index("See photo")
        < parsed.html.index('<img src="cid:')
        < parsed.html.index("(after image)")
    )
    (image,) = parsed.attachments
    assert image.part_id == "2.2" and image.is_inline
    assert set(parsed.inline_parts.values()) == {"2.2"}


def test_format_flowed_and_enriched() -> None:
    flowed = crlf(
        "Content-Type: text/plain; format=flowed; delsp=yes\n\n"
        "This is a long para \ngraph.\n> quoted soft \n> break\n-- \nsig\n"
    )
    assert parse_message(flowed).text == "This is a long paragraph.\n> quoted softbreak\n-- \nsig\n"
    enriched = crlf("Content-Type: text/enriched\n\n<bold>Hi</bold> <<you>\n\n\nbye\n")
    assert parse_message(enriched).text == "Hi <you>\n\nbye"


def test_message_that_is_only_an_enclosed_message_shows_its_body() -> None:
    parsed = parse_message(read("cpython-msg_46.eml"))
    assert parsed.text is not None and "Testing email forwarding" in parsed.text
    assert [(a.part_id, a.content_type) for a in parsed.attachments] == [("1", "message/rfc822")]


def test_forwarded_message_attachment_and_its_parts() -> None:
    parsed = parse_message(read("flanker-torture.eml"))
    by_id = {a.part_id: a for a in parsed.attachments}
    assert by_id["3"].content_type == "message/rfc822"
    assert by_id["3.1"].content_type == "audio/basic" and by_id["3.1"].in_message == "3"
    assert by_id["6.2.1"].content_type == "image/gif" and by_id["6.2.1"].in_message == "6"


# --- section numbering (RFC 3501 section 6.4.5) ---------------------------------------------

RFC3501_EXAMPLE = crlf(
    """Subject: the RFC 3501 example
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

part one
--outer
Content-Type: application/octet-stream

AAAA
--outer
Content-Type: message/rfc822

Subject: three
Content-Type: multipart/mixed; boundary=m3

--m3
Content-Type: text/plain

three-one
--m3
Content-Type: application/octet-stream

BBBB
--m3--
--outer
Content-Type: multipart/mixed; boundary=m4

--m4
Content-Type: image/gif

GIF
--m4
Content-Type: message/rfc822

Subject: four-two
Content-Type: multipart/mixed; boundary=m42

--m42
Content-Type: image/gif

GIF2
--m42
Content-Type: multipart/alternative; boundary=m422

--m422
Content-Type: text/plain

four-two-two-one
--m422
Content-Type: text/richtext

rich
--m422--
--m42--
--m4--
--outer--
"""
)


def test_rfc3501_example_numbering() -> None:
    assert structure(RFC3501_EXAMPLE) == (
        ("1", "text/plain"),
        ("2", "application/octet-stream"),
        ("3", "message/rfc822"),
        ("3.1", "text/plain"),
        ("3.2", "application/octet-stream"),
        ("4", "multipart/mixed"),
        ("4.1", "image/gif"),
        ("4.2", "message/rfc822"),
        ("4.2.1", "image/gif"),
        ("4.2.2", "multipart/alternative"),
        ("4.2.2.1", "text/plain"),
        ("4.2.2.2", "text/richtext"),
    )


def test_single_part_message_and_enclosed_single_part_message() -> None:
    assert structure(crlf("Subject: s\n\nbody\n")) == (("1", "text/plain"),)
    enclosed = crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n"
        "--b\nContent-Type: message/rfc822\n\nSubject: in\n\ninner body\n--b--\n"
    )
    assert structure(enclosed) == (
        ("1", "text/plain"),
        ("2", "message/rfc822"),
        ("2.1", "text/plain"),
    )
    # the line break before a delimiter belongs to the delimiter (RFC 2046 section 5.1.1)
    assert part_bytes(enclosed, "2.1")[0] == b"inner body"


def test_part_bytes() -> None:
    data, ctype, _ = part_bytes(RFC3501_EXAMPLE, "4.2.2.1")
    assert (data, ctype) == (b"four-two-two-one", "text/plain")
    message, ctype, filename = part_bytes(RFC3501_EXAMPLE, "3")
    assert ctype == "message/rfc822" and filename == "three.eml"
    assert parse_message(message).subject == "three"
    assert part_bytes(RFC3501_EXAMPLE, "2")[0] == b"AAAA"
    assert part_bytes(read("cpython-msg_07.eml"), "2")[0].startswith(b"GIF87a")


@pytest.mark.parametrize("section", ["", "0", "5", "1.1", "4.3", "x", "1..2", "-1", "4.2.2.3"])
def test_part_bytes_of_a_missing_section_raises_part_not_found(section: str) -> None:
    with pytest.raises(PartNotFound):
        part_bytes(RFC3501_EXAMPLE, section)


def test_part_bytes_reaches_parts_beyond_the_display_limit() -> None:
    raw = read("constructed-multipart-2000-parts.eml")
    assert part_bytes(raw, "1999")[0].strip() == b"part 1998"
