"""The list rows rendered in Python (webmail.mail.rows) against the template markup they
replaced, kept here as the reference: same HTML, up to whitespace, in every case."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from webmail.imap.types import MessageSummary
from webmail.mail.rows import message_rows
from webmail.mime.addresses import Address

# The row markup of templates/mail/_list.html before the rows moved to Python.
REFERENCE = Template((Path(__file__).parent / "reference_rows.html").read_text())


def _squash(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


def _rows() -> list[MessageSummary]:
    now = timezone.now()
    old = datetime(2021, 2, 3, 23, 30, tzinfo=UTC)
    return [
        MessageSummary(uid=7, subject="Hello <b>&\"world\"</b>",
                       sender=(Address("Ann O'Neil", "ann@x.test"),),
                       to=(Address("", "bob@y.test"), Address("Cid", "cid@y.test")), date=old,
                       size=900, flags=frozenset(), has_attachments=True, received=now),
        MessageSummary(uid=8, subject="", sender=(), to=(), date=old, size=15_500,
                       flags=frozenset({"\\Seen", "\\Flagged", "\\Answered"}),
                       has_attachments=False),
        MessageSummary(uid=9, subject="<script>alert(1)</script>",
                       sender=(Address("", "z@z.test"),),
                       to=(), date=None, size=3_000_000, flags=frozenset({"\\Seen"}),
                       has_attachments=False, received=now - timedelta(days=400)),
        MessageSummary(uid=10, subject="no dates", sender=(Address("Dee", ""),), to=(),
                       date=None, size=0, flags=frozenset({"\\Flagged"}), has_attachments=True),
    ]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Pacific/Auckland"])
@pytest.mark.parametrize(("selectable", "current_uid", "shows_recipients"), [
    (True, None, False), (False, 8, False), (True, 9, True)])
def test_rows_match_the_template_markup(language: str, zone: str, selectable: bool,
                                        current_uid: int | None,
                                        shows_recipients: bool) -> None:
    rows = _rows()
    query = "?sort=from&dir=asc&q=a%26b"
    with translation.override(language), timezone.override(zone):
        expected = REFERENCE.render(Context({
            "rows": rows, "folder": "Ordner/ä b", "item_query": query, "selectable": selectable,
            "current_uid": current_uid, "shows_recipients": shows_recipients}))
        got = message_rows(rows, folder="Ordner/ä b", item_query=query, selectable=selectable,
                           current_uid=current_uid, shows_recipients=shows_recipients)
    assert _squash(got) == _squash(expected)
    assert "<script>" not in got and "&lt;script&gt;" in got


def test_date_cells_follow_the_active_zone_and_language() -> None:
    when = datetime(2021, 2, 3, 23, 30, tzinfo=UTC)
    row = MessageSummary(uid=1, subject="s", sender=(), to=(), date=when, size=1,
                         flags=frozenset(), has_attachments=False)

    def cell(language: str, zone: str) -> str:
        with translation.override(language), timezone.override(zone):
            html = message_rows([row], folder="INBOX", item_query="", selectable=False,
                                current_uid=None, shows_recipients=False)
        found = re.search(r"<time [^>]*>[^<]*</time>", html)
        assert found
        return found.group(0)

    assert 'datetime="2021-02-03T23:30:00+00:00"' in cell("en", "UTC")
    berlin = cell("en", "Europe/Berlin")
    assert 'datetime="2021-02-04T00:30:00+01:00"' in berlin
    assert cell("de", "Europe/Berlin") != berlin  # German formats, not the cached English ones
    assert cell("en", "UTC") != berlin
