"""The demo data: what the mailboxes hold, the generated files, and seeding only once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import itertools
import re
import struct
import tempfile
import zlib
from collections import Counter
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from webmail.devserver.demo import DEMO_USERS, MARKER, build_demo_mail, seed_demo
from webmail.devserver.demo_assets import logo_png, simple_pdf
from webmail.devserver.store import MailStore, StoredMessage

NOW = datetime(2024, 6, 11, 14, 0, tzinfo=UTC)
ALICE = "alice@example.test"


@pytest.fixture(scope="module")
def demo() -> dict[str, list[StoredMessage]]:
    return build_demo_mail(NOW)


def _parse(stored: StoredMessage) -> EmailMessage:
    msg = email.message_from_bytes(stored.data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _by_subject(messages: list[StoredMessage], needle: str) -> list[EmailMessage]:
    return [m for m in map(_parse, messages) if needle in str(m["Subject"])]


def test_every_user_gets_mail_and_alice_three_pages(demo: dict[str, list[StoredMessage]]) -> None:
    assert set(demo) == set(DEMO_USERS)
    folders = Counter(m.folder for m in demo[ALICE])
    assert folders["INBOX"] == 120
    assert {"Drafts", "Sent", "Trash", "Junk", "Archive", "Projects/Webmail"} <= set(folders)
    flags = Counter(f for m in demo[ALICE] if m.folder == "INBOX" for f in m.flags)
    assert 60 < flags["\\Seen"] < 115  # some unread
    assert flags["\\Flagged"] >= 3 and flags["\\Answered"] >= 2
    days = {m.when.date() for m in demo[ALICE] if m.when and m.folder == "INBOX"}
    assert len(days) >= 20  # spread over weeks, so sorting and paging show something
    assert all(m.when and m.when <= NOW for user in demo.values() for m in user)


def test_messages_are_crlf_and_parse_without_defects(demo: dict[str, list[StoredMessage]]) -> None:
    for stored in (m for user in demo.values() for m in user):
        assert b"\n" not in stored.data.replace(b"\r\n", b"")
        msg = _parse(stored)
        assert msg["Message-ID"] and msg["Date"] and msg["From"]
        assert not [d for part in msg.walk() for d in part.defects], msg["Subject"]


def test_thread_between_alice_and_bob(demo: dict[str, list[StoredMessage]]) -> None:
    both = _by_subject(demo[ALICE], "team offsite")
    assert len(both) == 4  # two received, two in Sent
    by_id = {m["Message-ID"]: m for m in both}
    chain = sorted(both, key=lambda m: len(str(m.get("References", "")).split()))
    for parent, child in itertools.pairwise(chain):
        assert child["In-Reply-To"] == parent["Message-ID"]
        assert str(child["References"]).split()[-1] == parent["Message-ID"]
    assert len(by_id) == 4
    assert len(_by_subject(demo["bob@example.test"], "team offsite")) == 4


def test_newsletter_has_inline_cid_image_and_blocked_remote_content(
        demo: dict[str, list[StoredMessage]]) -> None:
    (news,) = _by_subject(demo[ALICE], "Spring rides")
    html = next(p for p in news.walk() if p.get_content_type() == "text/html").get_content()
    image = next(p for p in news.walk() if p.get_content_type() == "image/png")
    cid = str(image["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in html
    assert re.search(r'<img src="https://[^"]+\.jpg"', html)
    assert "<table" in html and "style=" in html
    assert image.get_content() == logo_png()


def test_attachments_legacy_charsets_and_bounce(demo: dict[str, list[StoredMessage]]) -> None:
    (budget,) = _by_subject(demo[ALICE], "Q3 budget")
    kinds = {p.get_content_type(): p for p in budget.iter_attachments()}
    assert set(kinds) == {"application/pdf", "text/csv"}
    assert kinds["application/pdf"].get_content().startswith(b"%PDF-1.4")
    raw = b"\r\n".join(m.data for m in demo[ALICE])
    assert b"charset=ISO-8859-1" in raw and b"=?iso-8859-1?q?Gr=FC=DFe" in raw
    assert b"charset=ISO-2022-JP" in raw and b"charset=Shift_JIS" in raw
    (latin,) = _by_subject(demo[ALICE], "München")
    assert "schöne Woche" in latin.get_content()
    (jis,) = _by_subject(demo[ALICE], "議事録")
    assert "議事録を作成しました" in jis.get_content()
    (bounce,) = _by_subject(demo[ALICE], "Undelivered Mail")
    assert bounce.get_content_type() == "multipart/report"
    (sent,) = [m for m in map(_parse, demo[ALICE]) if m["Subject"] == "Lunch on Friday?"]
    assert str(sent["Message-ID"]) in bounce.as_string()


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def test_generated_png_is_valid() -> None:
    chunks = _png_chunks(logo_png(48))
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (48, 48)
    assert len(zlib.decompress(chunks[1][1])) == 48 * (1 + 3 * 48)


def test_generated_pdf_has_a_correct_xref_table() -> None:
    pdf = simple_pdf("Title (draft)", ["line one"])
    start = int(pdf.rsplit(b"startxref\n", 1)[1].split()[0])
    assert pdf[start:].startswith(b"xref\n")
    offsets = re.findall(rb"(\d{10}) 00000 n", pdf[start:])
    for number, offset in enumerate(offsets, start=1):
        assert pdf[int(offset):].startswith(b"%d 0 obj" % number)
    assert rb"(Title \(draft\)) Tj" in pdf
    assert pdf.endswith(b"%%EOF\n")


def _file_count(base: Path) -> int:
    return sum(1 for p in (base / "maildirs").rglob("*") if p.parent.name in ("new", "cur"))


def test_seeding_runs_once_and_restarts_a_half_done_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # MailStore may point tempfile and FQDN at its own values; undo that after the test.
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    monkeypatch.setenv("FQDN", "devmail.example.test")

    async def seed_async(now: datetime) -> bool:
        return await seed_demo(MailStore(tmp_path), now=now)

    def seed(now: datetime) -> bool:
        # A thread of its own: a browser test earlier in this process (Playwright's sync API)
        # may leave an event loop running in the main thread, where asyncio.run refuses.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, seed_async(now)).result()

    assert seed(NOW) is True
    total = _file_count(tmp_path)
    assert total == sum(len(v) for v in build_demo_mail(NOW).values())
    assert seed(NOW) is False
    assert _file_count(tmp_path) == total
    (tmp_path / MARKER).unlink()  # as if the first run had died half-way
    assert seed(NOW) is True
    assert _file_count(tmp_path) == total
    users = (tmp_path / "pymap-etc-passwd").read_text()
    shadow = (tmp_path / "pymap-etc-shadow").read_text()
    assert users.count("@example.test:x:") == 3
    assert "alice-demo" not in shadow and "$pbkdf2-sha256$" in shadow
