"""The message rows of a list page, rendered in Python.

A list page shows 50 rows, and through the template engine each row cost about 0.3 ms of
variable lookups, filters and translations (about two thirds of a warm list page's server
time). Here each row is one string built from values prepared once per page: the translated
labels, the date formats of the active language, today's date in the user's zone. Dates are
formatted through a small cache, as most rows of a page seen before repeat the same values.

The HTML is that of ``templates/mail/_list.html`` before (tests in tests/mail/test_rows.py):
every text from the message is escaped here, since the result is marked safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone, translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from webmail.imap.types import MessageSummary
from webmail.mail.views.common import folder_url

_ATTACHMENT_ICON = (
    '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">'
    '<path d="M10.5 4.5 5.7 9.3a1.4 1.4 0 0 0 2 2l5-5a2.8 2.8 0 0 0-4-4l-5.2 5.2a4.2 4.2 0 0 0 '
    '6 6l4.3-4.3" fill="none" stroke="currentColor" stroke-width="1.4" stroke-linecap="round"/>'
    '</svg>')


@dataclass(frozen=True)
class _Labels:
    """What every row of a page shares, translated and escaped once."""

    flagged: str
    answered: str
    attachment: str
    unread: str
    no_subject: str
    no_sender: str
    no_recipient: str
    select: str  # "Select “%(subject)s”", its placeholder filled per row


def _labels() -> _Labels:
    flagged = escape(gettext("Flagged"))
    answered = escape(gettext("Answered"))
    attachment = escape(gettext("Has attachments"))
    return _Labels(
        flagged=(f'<span class="mark flag" title="{flagged}"><span aria-hidden="true">★</span>'
                 f'<span class="visually-hidden">{flagged}</span></span>'),
        answered=(f'<span class="mark answered" title="{answered}"><span aria-hidden="true">'
                  f'↩</span><span class="visually-hidden">{answered}</span></span>'),
        attachment=(f'<span class="mark attachment" title="{attachment}">{_ATTACHMENT_ICON}'
                    f'<span class="visually-hidden">{attachment}</span></span>'),
        unread=f'<span class="visually-hidden">{escape(gettext("Unread"))}</span>',
        no_subject=gettext("(no subject)"),
        no_sender=gettext("(unknown sender)"),
        no_recipient=gettext("(no recipient)"),
        select=gettext("Select “%(subject)s”"),
    )


def _person(address: Any) -> str:
    return str(getattr(address, "name", "") or getattr(address, "email", "") or "")


def people(addresses: Iterable[Any] | None) -> str:
    """Names (else addresses) joined for a list column."""
    return ", ".join(p for p in (_person(a) for a in addresses or ()) if p)


def mail_size(value: int | None) -> str:
    """A compact size for a narrow column: "980 B", then Django's "15.5 KB", "2.1 MB"."""
    size = int(value or 0)
    if size < 1024:
        return gettext("%(size)d B") % {"size": size}
    return str(filesizeformat(size))


def short_date(local: datetime, today: date) -> str:
    """A list's date column: the time for today's mail, else the short date (``local`` and
    ``today`` in the user's zone, formats of the active language)."""
    if local.date() == today:
        return str(formats.time_format(local, "TIME_FORMAT"))
    return str(formats.date_format(local, "SHORT_DATE_FORMAT"))


def full_datetime(local: datetime) -> str:
    return str(formats.date_format(local, "DATETIME_FORMAT"))


@lru_cache(maxsize=8192)
def _date_cell(value: datetime, zone: str, language: str, today: date) -> str:
    """``<time>`` of one row: ISO in the user's zone, the full date as its title, and the time
    (today) or the short date (before) as its text. Cached per (value, zone, language, today):
    the zone and language are those active when it runs, which the key names."""
    local = timezone.localtime(value)
    return (f'<time datetime="{escape(local.isoformat())}" title="{escape(full_datetime(local))}">'
            f'{escape(short_date(local, today))}</time>')


def message_rows(rows: Sequence[MessageSummary], *, folder: str, item_query: str,
                 selectable: bool, current_uid: int | None,
                 shows_recipients: bool) -> SafeString:
    """The ``<tr>`` of each row (without the ``<tbody>``), ready to be put in the page."""
    labels = _labels()
    zone = timezone.get_current_timezone_name()
    language = translation.get_language() or ""
    today = timezone.localtime(timezone.now()).date()
    base = folder_url(folder)
    out: list[str] = []
    for m in rows:
        uid = int(m.uid)
        flags = m.flags
        seen = "\\Seen" in flags
        flagged = "\\Flagged" in flags
        current = uid == current_uid
        classes = "message-row"
        if not seen:
            classes += " unread"
        if flagged:
            classes += " flagged"
        if current:
            classes += " current"
        subject = escape(m.subject or labels.no_subject)
        out.append(f'<tr class="{classes}">')
        if selectable:
            label = escape(labels.select % {"subject": m.subject or labels.no_subject})
            out.append(f'<td class="col-select"><input type="checkbox" name="uid" value="{uid}"'
                       f' id="sel-{uid}" aria-label="{label}"></td>')
        marks = ""
        if flagged:
            marks += labels.flagged
        if "\\Answered" in flags:
            marks += labels.answered
        if m.has_attachments:
            marks += labels.attachment
        if not seen:
            marks += labels.unread
        who = (people(m.to) or labels.no_recipient if shows_recipients
               else people(m.sender) or labels.no_sender)
        href = escape(f"{base}{uid}/{item_query}")
        aria = ' aria-current="page"' if current else ""
        when = m.received or m.date
        cell = (_date_cell(when, zone, language, today) if when is not None
                else '<time datetime="" title=""></time>')
        out.append(
            f'<td class="col-flags">{marks}</td>'
            f'<td class="col-who">{escape(who)}</td>'
            f'<td class="col-subject"><a href="{href}"{aria}>{subject}</a></td>'
            f'<td class="col-date">{cell}</td>'
            f'<td class="col-size">{escape(mail_size(m.size))}</td></tr>\n')
    return mark_safe("".join(out))  # noqa: S308 - every message text above is escaped
