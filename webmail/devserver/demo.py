"""Demo users and their mailboxes for the development mail server.

``seed_demo`` creates alice@, bob@ and carol@example.test (passwords ``alice-demo`` etc.) and
fills their folders once; a marker file in the data directory makes re-running a no-op.
Alice's INBOX has about 120 messages (three pages of 50) in date order, so UID order and date
order agree, as on a real server that receives mail over time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from webmail.devserver import demo_mail as dm
from webmail.devserver.demo_mail import ALICE, BOB, CAROL, DANA, Mail, Person
from webmail.devserver.store import MailStore, StoredMessage

__all__ = ["DEMO_USERS", "FOLDERS", "MARKER", "build_demo_mail", "seed_demo", "seed_demo_sync"]

log = logging.getLogger("webmail.devserver.demo")

DEMO_USERS = {
    ALICE.address: "alice-demo",
    BOB.address: "bob-demo",
    CAROL.address: "carol-demo",
}
#: Created for every demo user, parents before children ("/" is pymap's delimiter).
FOLDERS = ("Drafts", "Sent", "Trash", "Junk", "Archive", "Projects", "Projects/Webmail")
MARKER = ".demo-seeded"

ERIK = Person("Erik Lund", "erik@example.test")
PRIYA = Person("Priya Raman", "priya@partner.example.org")
CI = Person("Build server", "ci@builds.example.test")
SHOP = Person("Northwind Outdoor", "orders@northwind.example.com")
CALENDAR = Person("Team calendar", "calendar@example.test")
LIST = Person("Webmail users list", "users@lists.example.org")
COLLEAGUES = (BOB, CAROL, DANA, ERIK, PRIYA)

_TOPICS = ["search page", "login throttling", "attachment previews", "folder sidebar",
           "outbox retries", "dark mode", "keyboard shortcuts", "mobile layout",
           "bounce display", "signature editor", "quota warnings", "address book import"]
_SUBJECTS = ["Quick question about the {t}", "{T}: status update", "Can you review the {t}?",
             "Ideas for the {t}", "Notes from today's call about the {t}", "Re: {T}",
             "Test results for the {t}", "Who owns the {t}?"]
_SENTENCES = [
    "I had another look at it this morning.",
    "The numbers from last week look better than expected.",
    "Could you check whether this still happens on your machine?",
    "Nothing urgent, but it would be good to decide before the freeze.",
    "I left some comments in the ticket.",
    "Erik thinks we can ship it behind a setting first.",
    "The tests pass locally but one is flaky in CI.",
    "Let us talk about it after the stand-up.",
    "I am out on Friday, so Monday would be best.",
    "The customer asked again, so it seems to matter to them.",
    "I wrote down three options; the second one is the simplest.",
    "Thanks for the quick fix yesterday!",
]
_EVENTS = ["Stand-up", "Design review", "1:1 with Bob", "Planning", "Support rotation handover",
           "Lunch and learn", "Release go/no-go"]


def _filler(rng: random.Random, n: int, when: datetime) -> tuple[Person, str, str]:
    kind = rng.choices(["colleague", "ci", "calendar", "shop", "list"], [6, 2, 1, 1, 1])[0]
    if kind == "ci":
        ok = rng.random() < 0.8
        subject = f"[webmail] Pipeline #{1200 + n} {'passed' if ok else 'failed'} on main"
        stages = "\n".join(f"  {stage:<10} {'ok' if ok or i < 2 else 'FAILED'}"
                           for i, stage in enumerate(["lint", "unit", "browser", "package"]))
        return CI, subject, f"Pipeline #{1200 + n} for commit {rng.getrandbits(28):07x}:\n\n"\
            f"{stages}\n\nDetails: https://builds.example.test/webmail/{1200 + n}\n"
    if kind == "calendar":
        event = rng.choice(_EVENTS)
        return CALENDAR, f"Reminder: {event} at {when.hour + 1:02d}:00", \
            f"{event} starts at {when.hour + 1:02d}:00 in room Kestrel.\n"
    if kind == "shop":
        order = 40000 + rng.randrange(9999)
        return SHOP, f"Your order {order} has shipped", (
            f"Good news: order {order} is on its way and should arrive within three days.\n"
            f"Track it at https://northwind.example.com/track/{order}\n")
    if kind == "list":
        return LIST, f"[webmail-users] Digest, Vol {n}, Issue {rng.randrange(1, 9)}", (
            "Today's topics:\n\n  1. Importing old mail (2 messages)\n  2. Sieve filters?\n"
            "  3. Re: Running behind a proxy\n\n(The digest text would follow here.)\n")
    sender = rng.choice(COLLEAGUES)
    topic = rng.choice(_TOPICS)
    subject = rng.choice(_SUBJECTS).format(t=topic, T=topic.capitalize())
    body = " ".join(rng.sample(_SENTENCES, rng.randrange(2, 5)))
    return sender, subject, f"Hi,\n\n{body}\n\n{sender.name.split()[0]}\n"


def _fillers(rng: random.Random, owner: Person, count: int, now: datetime, *, folder: str,
             min_age_days: float, max_age_days: float) -> list[StoredMessage]:
    out = []
    for n in range(count):
        age = timedelta(days=rng.uniform(min_age_days, max_age_days))
        when = (now - age).replace(hour=rng.randrange(7, 19), minute=rng.randrange(60))
        if when > now:
            when = now - timedelta(minutes=rng.randrange(5, 120))
        sender, subject, text = _filler(rng, n, when)
        msgid = f"demo-{folder.lower().replace('/', '-')}-{n}.{owner.address.split('@')[0]}" \
                f"@example.test"
        msg = dm.mail(Mail(sender, [owner], subject, when, msgid), text)
        recent = now - when < timedelta(days=2)
        flags = [] if rng.random() < (0.7 if recent else 0.12) else [dm.SEEN]
        if rng.random() < 0.06:
            flags.append(dm.FLAGGED)
        if sender in COLLEAGUES and dm.SEEN in flags and rng.random() < 0.2:
            flags.append(dm.ANSWERED)
        out.append(dm.stored(msg, when, folder, tuple(flags)))
    return out


def _days_ago(now: datetime, days: int, hour: int, minute: int = 0) -> datetime:
    return (now - timedelta(days=days)).replace(hour=hour, minute=minute, second=0, microsecond=0)


def build_demo_mail(now: datetime | None = None) -> dict[str, list[StoredMessage]]:
    """All demo messages per user address (not yet in date order)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(20240611)
    alice: list[StoredMessage] = []
    bob: list[StoredMessage] = []
    carol: list[StoredMessage] = []
    budget = dm.budget(_days_ago(now, 1, 8, 47))
    invite = dm.calendar_invite(_days_ago(now, 0, 7, 30) if now.hour >= 8 else now)
    thanks = dm.emoji_thanks(_days_ago(now, 5, 16, 20))
    alice += [dm.newsletter(_days_ago(now, 3, 6, 15)), budget, *dm.release_thread(
        _days_ago(now, 4, 9, 5)), dm.latin1_mail(_days_ago(now, 6, 11, 2)),
        *dm.japanese_mails(_days_ago(now, 7, 2, 40)), *dm.bounced_invitation(
        _days_ago(now, 8, 12, 10)), dm.review_notes(_days_ago(now, 2, 15, 33)), invite,
        dm.forwarded(_days_ago(now, 9, 10, 0)), thanks, dm.suspicious(_days_ago(now, 1, 3, 3))]
    thread = dm.offsite_thread(_days_ago(now, 2, 9, 12))
    alice += thread[ALICE.address]
    bob += thread[BOB.address]
    alice += _fillers(rng, ALICE, 104, now, folder="INBOX", min_age_days=0.1, max_age_days=30)
    alice += _fillers(rng, ALICE, 12, now, folder="Archive", min_age_days=40, max_age_days=120)
    alice += _fillers(rng, ALICE, 3, now, folder="Trash", min_age_days=3, max_age_days=20)
    alice += _fillers(rng, ALICE, 2, now, folder="Projects", min_age_days=5, max_age_days=25)
    alice += _fillers(rng, ALICE, 4, now, folder="Projects/Webmail", min_age_days=1,
                      max_age_days=14)
    spam = dm.mail(Mail(Person("Prize Office", "winner@lottery.example.net"), [ALICE],
                        "You have won 1,000,000 credits!!!", _days_ago(now, 4, 2, 2),
                        "win-1@lottery.example.net"), "Send us your bank details to claim.\n")
    alice.append(dm.stored(spam, _days_ago(now, 4, 2, 2), "Junk", ()))
    draft_when = _days_ago(now, 1, 17, 45)
    draft = dm.mail(Mail(ALICE, [BOB], "Proposal: hiking day in September", draft_when,
                         "draft-hike.alice@example.test"),
                    "Hi Bob,\n\nwhat do you think about a hiking day instead of the usual\n")
    alice.append(dm.stored(draft, draft_when, "Drafts", (dm.SEEN, dm.DRAFT)))
    bob += [_copy(budget), _copy(invite), _copy(thanks)]
    bob += _fillers(rng, BOB, 12, now, folder="INBOX", min_age_days=0.2, max_age_days=20)
    carol += [_copy(thanks), _copy(budget, "Sent", (dm.SEEN,)), _copy(invite, "Sent", (dm.SEEN,))]
    carol += _fillers(rng, CAROL, 10, now, folder="INBOX", min_age_days=0.2, max_age_days=20)
    return {ALICE.address: alice, BOB.address: bob, CAROL.address: carol}


def _copy(msg: StoredMessage, folder: str = "INBOX",
          flags: tuple[str, ...] = ()) -> StoredMessage:
    return StoredMessage(data=msg.data, flags=flags, when=msg.when, folder=folder)


async def seed_demo(store: MailStore, *, now: datetime | None = None) -> bool:
    """Create the demo users (always) and their mail (once). Returns True if mail was added.

    A seeding that stopped half-way (no marker file) is started over: the demo users'
    Maildirs are removed first, so re-running never duplicates messages.

    Raises:
        OSError: the data directory is not writable.
    """
    for address, password in DEMO_USERS.items():
        await store.add_user(address, password)
    marker = store.base_dir / MARKER
    if marker.exists():
        return False
    for address in DEMO_USERS:
        if store.maildir_path(address).exists():
            log.warning("removing the half-seeded demo mailbox of %s", address)
            shutil.rmtree(store.maildir_path(address))
    for address, messages in build_demo_mail(now).items():
        await store.create_folders(address, FOLDERS)
        in_order = sorted(messages, key=lambda m: m.when.timestamp() if m.when else 0.0)
        await store.append(address, in_order)
    marker.write_text("demo mail seeded; delete this directory to start over\n")
    log.info("demo mail seeded in %s", store.base_dir)
    return True


def seed_demo_sync(base_dir: Path) -> bool:
    """``seed_demo`` for synchronous callers (management commands). Same errors."""

    async def run() -> bool:
        return await seed_demo(MailStore(base_dir))

    return asyncio.run(run())
