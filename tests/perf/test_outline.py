"""A large message's parts are learnt from its outline (headers and structure, no contents):
the outline must show a MIME parser exactly the parts of the whole message (real Dovecot)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Persona
from webmail.imap.errors import ImapProtocolError
from webmail.imap.gateway import ImapStore
from webmail.imap.types import Credentials, ServerAddress
from webmail.mime.parse import parse_message

pytestmark = pytest.mark.dovecot

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("WEBMAIL_CORPORA", REPO.parent / "shared" / "corpora")) / "mime"


def _parts(raw: bytes) -> list[tuple[str, str, str, str]]:
    return [(a.part_id, a.filename, a.content_type, a.content_id)
            for a in parse_message(raw).attachments]


def test_outline_shows_the_same_parts_as_the_whole_message(alice: Persona) -> None:
    files = sorted(CORPUS.glob("*.eml"))
    assert len(files) > 100, CORPUS
    uids = {f.name: alice.append(f.read_bytes()) for f in files}
    outlined = counted = sized = 0
    with ImapStore.open(ServerAddress("127.0.0.1", 10143),
                        Credentials(alice.address, alice.password)) as store:
        for name, uid in uids.items():
            whole = store.fetch_message("INBOX", uid)
            try:
                outline, sizes = store.fetch_outline("INBOX", uid)
            except ImapProtocolError:
                continue  # a structure it cannot rebuild: the caller fetches the whole message
            outlined += 1
            assert _parts(outline) == _parts(whole), name
            assert len(outline) <= len(whole) + 2048, name
            for section, *_rest in _parts(whole):
                counted += 1
                sized += section in sizes  # Dovecot and our parser may disagree on odd MIME
    assert outlined >= 0.85 * len(files)
    assert sized >= 0.95 * counted
