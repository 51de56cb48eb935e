"""The FakeStore's own parts: BODY[section] numbering over the shared corpus."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from webmail.imap.fake import FakeStore, all_sections

REPO = Path(__file__).resolve().parents[2]
CORPORA = Path(os.environ.get("WEBMAIL_CORPORA") or REPO.parent / "shared" / "corpora")
# Section numbers Dovecot gives every part of the corpus (tests/mime/make_dovecot_sections.py)
SECTIONS = REPO / "tests" / "mime" / "data" / "dovecot_sections.json"
# Where the fake knowingly differs from Dovecot: its splitter follows RFC 2046 to the letter,
# while Dovecot's parser matches boundaries as prefixes and lets a nested multipart reuse its
# parent's boundary (innermost first). Only broken mail does either; the real server is what
# the corpus test of the mail pages (tests/mail/test_dovecot_pages.py) runs against.
KNOWN_DIVERGENT = {
    "constructed-boundary-prefix-nesting.eml",  # "--XYZabc" counts as a delimiter of "XYZ"
    "cpython-msg_39.eml",  # nested multiparts with one boundary
    "mailparser-mail_malformed_1.eml",  # the same
}


def test_every_dovecot_section_of_the_corpus_exists_in_the_fake() -> None:
    sections: dict[str, list[list[str]]] = json.loads(SECTIONS.read_text())
    assert len(sections) > 100
    missing = []
    for name, parts in sections.items():
        if name in KNOWN_DIVERGENT:
            continue
        raw = re.sub(rb"\r?\n", b"\r\n", (CORPORA / "mime" / name).read_bytes())
        found = all_sections(raw)
        missing += [f"{name} {section}" for section, _ctype in parts if section not in found]
    assert missing == []


def test_whole_message_range_and_missing_part() -> None:
    store = FakeStore()
    uid = store.append("INBOX", b"Subject: x\n\nbody\n")
    assert uid is not None
    assert store.fetch_part("INBOX", uid, "") == b"Subject: x\r\n\r\nbody\r\n"
    assert store.fetch_part("INBOX", uid, "", 3, 4) == b"ject"
    assert store.fetch_part("INBOX", uid, "7") == b""
