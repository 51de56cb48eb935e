"""Every message of the shared MIME corpus parses, quickly, into something showable, and the
part numbers agree with what Dovecot says for the same bytes."""

from __future__ import annotations

import json
import time
import unicodedata
from pathlib import Path

import pytest

from tests.mime.corpus import MIME_FILES, XSS, read, rows
from webmail.mime.bounce import parse_bounce
from webmail.mime.dsn import parse_dsn, parse_mdn
from webmail.mime.parse import ParsedMessage, parse_message, part_bytes, structure

# Recorded by tests/mime/make_dovecot_sections.py from Dovecot 2.3.19 BODYSTRUCTURE.
DOVECOT = json.loads((Path(__file__).parent / "data" / "dovecot_sections.json").read_text())

# Broken MIME where Python's parser and Dovecot's split the parts differently. Our numbering is
# still self-consistent (every section we show downloads with part_bytes), but it is not the
# server's for these messages: fetching BODY[section] from IMAP would give another part.
KNOWN_DIVERGENCES = {
    "cpython-msg_39.eml": "inner multiparts reuse the outer boundary: Dovecot gives the innermost "
    "boundary priority, Python ends the inner multipart at once",
    "mailparser-mail_malformed_1.eml": "the multipart/alternative reuses the outer boundary "
    "(same cause; Python loses the last part into the epilogue)",
    "constructed-boundary-prefix-nesting.eml": "'--XYZabc' is a delimiter for Dovecot (prefix "
    "match) but not for Python (RFC 2046: the whole line)",
}


@pytest.mark.parametrize("name", MIME_FILES)
def test_corpus_message_parses_quickly_into_something_showable(name: str) -> None:
    raw = read(name)
    started = time.monotonic()
    parsed = parse_message(raw)
    assert time.monotonic() - started < 10, "parsing must stay far below a request timeout"
    assert isinstance(parsed, ParsedMessage)
    assert (
        parsed.html is not None
        or parsed.text is not None
        or parsed.attachments
        or (parsed.warnings)
    )
    for header_name, value in parsed.headers:
        assert "\n" not in value and "\r" not in value and "\n" not in header_name
    for attachment in parsed.attachments:
        assert attachment.filename and len(attachment.filename) <= 150
        assert "/" not in attachment.filename and "\\" not in attachment.filename
        assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in attachment.filename)
        data, ctype, filename = part_bytes(raw, attachment.part_id)
        assert len(data) == attachment.size
        assert ctype == attachment.content_type
        assert filename == attachment.filename
    sections = {section for section, _ in structure(raw)}
    assert set(parsed.inline_parts.values()) <= sections


@pytest.mark.parametrize("name", MIME_FILES)
def test_corpus_report_parsers_never_raise(name: str) -> None:
    raw = read(name)
    parse_dsn(raw)
    parse_mdn(raw)
    parse_bounce(raw)


@pytest.mark.parametrize("name", MIME_FILES)
def test_sections_are_the_ones_dovecot_gives(name: str) -> None:
    raw = read(name)
    parsed = parse_message(raw)
    ours = [section for section, _ in structure(raw)]
    dovecot = [section for section, _ in DOVECOT[name]]
    if name in KNOWN_DIVERGENCES:
        assert ours != dovecot, "this divergence is fixed: remove it from KNOWN_DIVERGENCES"
        for section in ours:
            part_bytes(raw, section)
        return
    if any("levels deep" in w or "parts; only" in w for w in parsed.warnings):
        dovecot = dovecot[: len(ours)]  # a limit cut our walk short: the first parts agree
        assert len(ours) >= 30
    assert ours == dovecot


def test_the_dovecot_record_covers_the_whole_corpus() -> None:
    assert set(DOVECOT) == set(MIME_FILES)


XSS_FILES = [row["file"] for row in rows(XSS)]


@pytest.mark.parametrize("name", XSS_FILES)
def test_hostile_corpus_parses(name: str) -> None:
    """The XSS corpus is hostile in headers, filenames and structure too."""
    raw = read(name, XSS)
    parsed = parse_message(raw)
    for attachment in parsed.attachments:
        assert "/" not in attachment.filename and "\\" not in attachment.filename
        assert part_bytes(raw, attachment.part_id)[1] == attachment.content_type
    assert parse_bounce(raw) is None or parsed.is_dsn
