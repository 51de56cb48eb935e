# ruff: noqa: E501  (sample mail text reads better unwrapped)
"""A believable mailbox for the screenshots and the journeys: a dozen messages from a small
team (some unread, one flagged, one with an attachment, one HTML newsletter), a Sent copy, and
outbox rows in the states people meet (delivered, accepted, deferred, bounced)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from tests.conftest import Persona

NEWSLETTER = """<!doctype html><html><body style="margin:0;background:#f3efe6">
<table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table width="560" cellpadding="24" style="background:#ffffff;font-family:Georgia,serif;color:#2b2b2b">
<tr><td style="background:#1d3557;color:#f1faee"><h1 style="margin:0;font-size:26px">The Harbour Weekly</h1>
<p style="margin:4px 0 0;color:#a8dadc">Issue 42 · news from the team</p></td></tr>
<tr><td><h2 style="color:#e63946;margin-top:0">New office hours</h2>
<p>From next Monday the office opens at <b>8:30</b>. The coffee machine has been repaired
and now makes a decent flat white.</p>
<h2 style="color:#457b9d">Welcome, Priya!</h2>
<p>Priya joins the support team from Lisbon. Say hello in the kitchen on Thursday.</p>
<p style="text-align:center"><a href="https://example.org/weekly/42"
style="background:#e63946;color:#fff;padding:10px 18px;text-decoration:none;border-radius:4px">
Read the full issue</a></p></td></tr></table></td></tr></table></body></html>"""

MESSAGES: list[dict[str, Any]] = [
    {"key": "old1", "from": "Tomás Ortega <tomas@example.org>", "subject": "Minutes of the planning meeting",
     "text": "Hi all,\n\nattached are the minutes. Next meeting on the 14th.\n\nTomás", "hours": 150, "seen": True},
    {"key": "old2", "from": "IT Service Desk <helpdesk@example.org>", "subject": "Scheduled maintenance on Saturday",
     "text": "The file server will be offline on Saturday from 08:00 to 10:00.", "hours": 120, "seen": True},
    {"key": "old3", "from": "Grace Hopper <grace@example.org>", "subject": "Re: Compiler talk slides",
     "text": "Thanks, the slides look great. One small typo on page 4.", "hours": 97, "seen": True,
     "answered": True},
    {"key": "newsletter", "from": "The Harbour Weekly <weekly@example.org>",
     "subject": "Issue 42: new office hours, welcome Priya", "text": "New office hours.",
     "html": NEWSLETTER, "hours": 75, "seen": True},
    {"key": "invoice", "from": "Accounts <accounts@example.org>", "subject": "Invoice 2024-118 for October",
     "text": "Please find the invoice attached.\n\nKind regards,\nAccounts", "hours": 50,
     "seen": True, "attach": ("invoice-2024-118.pdf", "application/pdf", b"%PDF-1.4\n% sample\n")},
    {"key": "trip", "from": "Ada Lovelace <ada@example.org>", "subject": "Train tickets for the Berlin trip",
     "text": "I booked the 9:12 train, coach 7. See you at the station!", "hours": 30,
     "seen": True, "flagged": True},
    {"key": "review", "from": "Linus Berg <linus@example.org>", "subject": "Code review: delivery states",
     "text": "Left a few comments on the outbox change. Mostly naming.", "hours": 20, "seen": True},
    {"key": "lunch", "from": "Margaret Hamilton <margaret@example.org>", "subject": "Lunch on Friday?",
     "text": "Shall we try the new Vietnamese place on Friday at 12:30?\n\nMargaret", "hours": 6},
    {"key": "report", "from": "Katherine Johnson <katherine@example.org>",
     "subject": "Quarterly report — draft for your comments",
     "text": ("Hello,\n\nhere is the draft of the quarterly report. The numbers for September are "
              "still provisional; I will update them on Monday.\n\n"
              "Highlights:\n- 12% more active users than last quarter\n"
              "- delivery problems down to 0.3%\n- two new teams on board\n\n"
              "Could you read section 3 before Wednesday?\n\nThanks,\nKatherine"),
     "hours": 3, "attach": ("quarterly-report-draft.pdf", "application/pdf", b"%PDF-1.4\n% draft\n")},
    {"key": "deploy", "from": "Build Bot <ci@example.org>", "subject": "Deploy finished: webmail 1.8.2",
     "text": "The deploy to production finished in 3 min 12 s.", "hours": 1},
    {"key": "coffee", "from": "Dorothy Vaughan <dorothy@example.org>", "subject": "Coffee machine fixed ☕",
     "text": "It works again. Be gentle with it.", "hours": 0.5},
]


def build(item: dict[str, Any], to: str, now: datetime) -> tuple[bytes, datetime]:
    when = now - timedelta(hours=float(item["hours"]))
    msg = EmailMessage()
    msg["From"] = item["from"]
    msg["To"] = to
    msg["Subject"] = item["subject"]
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(item["text"])
    if item.get("html"):
        msg.add_alternative(item["html"], subtype="html")
    if item.get("attach"):
        name, ctype, data = item["attach"]
        main, sub = ctype.split("/", 1)
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes(), when


def fill_mailbox(persona: Persona) -> dict[str, int]:
    """Append the sample messages to the persona's INBOX; their UIDs by key."""
    now = datetime.now(UTC)
    uids: dict[str, int] = {}
    for item in MESSAGES:
        raw, when = build(item, persona.address, now)
        flags = " ".join(f for f, on in (("\\Seen", item.get("seen")),
                                         ("\\Flagged", item.get("flagged")),
                                         ("\\Answered", item.get("answered"))) if on)
        uids[item["key"]] = persona.append(raw, "INBOX", flags=flags, when=when)
    return uids


def fill_outbox(user: Any, address: str) -> None:
    """Outbox rows in several delivery states (no worker involved)."""
    from webmail.outbox.models import OutgoingMessage, OutgoingRecipient

    rows = [
        ("Agenda for Monday", "finished", [("team@example.org", "delivered", "250 2.0.0 Ok")]),
        ("Re: Lunch on Friday?", "finished", [("margaret@example.org", "accepted",
                                                "250 2.0.0 Ok: queued as 4F2A1")]),
        ("Slides for the review", "deferred", [
            ("linus@example.org", "accepted", "250 2.0.0 Ok"),
            ("old-server@remote.test", "deferred", "451 4.7.1 Greylisted, try again later")]),
        ("Invitation: summer party", "finished", [
            ("grace@example.org", "delivered", "250 2.0.0 Ok"),
            ("nobody@remote.test", "bounced", "550 5.1.1 <nobody@remote.test>: user unknown")]),
    ]
    for subject, state, recipients in rows:
        message = OutgoingMessage.objects.create(
            user=user, from_email=address, envelope_from=address,
            message_id=f"<{uuid.uuid4().hex}@example.test>", envelope_id=uuid.uuid4().hex,
            subject=subject, raw=b"Subject: " + subject.encode() + b"\r\n\r\nHello\r\n",
            size=2048, state=state)
        for rcpt, rstate, words in recipients:
            code = int(words[:3])
            OutgoingRecipient.objects.create(message=message, address=rcpt, state=rstate,
                                             smtp_code=code, enhanced_status=words[4:9],
                                             diagnostic=words)
