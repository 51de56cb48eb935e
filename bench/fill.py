"""Fill a benchmark folder on the test Dovecot with N messages, fast, or reuse it.

    .venv/bin/python bench/fill.py [--messages 100000] [--address bench-mailbox-100000@example.test]

Message files are written straight into the folder's Maildir (``cur/``, owned by ``vmail``,
flags in the file name, INTERNALDATE as the file's mtime, sizes in ``S=``/``W=`` so Dovecot
need not read them to learn them); one SELECT then lets Dovecot index them, and one SORT per
criterion fills its cache the way a mailbox that is in daily use would have it. A folder that
already holds exactly N messages is reused. The last three messages are the specimens of
``bench.specimens`` (small, 1 MB newsletter, 20 MB attachment).

Needs the test mail stack (``tests/infra/mailstack.sh start``) and write access to its Maildirs
(root, as in CI).
"""

from __future__ import annotations

import argparse
import os
import pwd
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import imapclient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.specimens import mailbox_message, timeline  # noqa: E402
from bench.specimens import specimens as make_specimens  # noqa: E402
from tests.infra import mailstack  # noqa: E402


@dataclass(frozen=True)
class Filled:
    address: str
    messages: int
    reused: bool
    seconds: float
    specimen_uids: dict[str, int]


def connect(address: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(mailstack.HOST, port=mailstack.IMAP_PORT, ssl=False,
                                   timeout=600)
    client.login(address, mailstack.PASSWORD)
    return client


def message_count(address: str) -> int:
    client = connect(address)
    try:
        return int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])
    finally:
        client.logout()


def _flags(rng: random.Random, age_rank: float) -> str:
    seen = rng.random() < (0.97 if age_rank < 0.98 else 0.6)  # recent mail is less read
    flags = ""
    if rng.random() < 0.03:
        flags += "F"
    if seen and rng.random() < 0.1:
        flags += "R"
    if seen:
        flags += "S"
    return flags


def write_maildir(address: str, count: int, seed: int = 1, specimens: bool = True,
                  attachment_bytes: int = 20 * 1024 * 1024) -> None:
    """Replace the user's INBOX with ``count`` generated messages written as Maildir files
    (the last three the specimens, unless ``specimens`` is false)."""
    maildir = mailstack.maildir_path(address)
    user_root = maildir.parents[2]  # .../<domain>/<user>
    vmail = pwd.getpwnam("vmail")
    if user_root.exists():
        shutil.rmtree(user_root)
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for path in [user_root, *user_root.rglob("*")]:
        os.chown(path, vmail.pw_uid, vmail.pw_gid)
    rng = random.Random(seed)
    regular = count - 3 if specimens else count
    times = timeline(count, seed=seed)
    cur = maildir / "cur"
    fd_flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    items = ((t, mailbox_message(rng, i, t, address)) for i, t in enumerate(times[:regular]))
    made = make_specimens(address, times[-1], attachment_bytes) if specimens else []
    extra = zip(times[regular:], (raw for _, raw in made), strict=True)
    for i, (when, raw) in enumerate([*items, *extra]):
        ts = when.timestamp()
        vsize = len(raw) + raw.count(b"\n")
        flags = _flags(rng, i / count) if i < regular else ""
        name = (f"{int(ts)}.M{int(ts % 1 * 1e6)}P{i}.bench,S={len(raw)},W={vsize}:2,{flags}")
        fd = os.open(cur / name, fd_flags, 0o600)
        try:
            os.write(fd, raw)
            os.fchown(fd, vmail.pw_uid, vmail.pw_gid)
        finally:
            os.close(fd)
        os.utime(cur / name, (ts, ts))


def index_and_warm(address: str, count: int) -> dict[str, int]:
    """SELECT (Dovecot indexes the new files) and sort once by each key; returns the UIDs of
    the specimens."""
    client = connect(address)
    try:
        info = client.select_folder("INBOX")
        exists = int(info[b"EXISTS"])
        if exists != count:
            raise SystemExit(f"Dovecot indexed {exists} messages, expected {count}")
        for criterion in ("ARRIVAL", "DISPLAYFROM", "DATE", "SUBJECT", "SIZE"):
            client.sort([criterion], ["ALL"])
        return specimen_uids(client)
    finally:
        client.logout()


def specimen_uids(client: imapclient.IMAPClient) -> dict[str, int]:
    """UIDs of the specimens (the newest messages, tagged ``X-Bench-Kind``)."""
    uidnext = int(client.folder_status("INBOX", [b"UIDNEXT"])[b"UIDNEXT"])
    client.select_folder("INBOX", readonly=True)
    low = max(1, uidnext - 20)
    data = client.fetch(list(range(low, uidnext)),
                        [b"BODY.PEEK[HEADER.FIELDS (X-BENCH-KIND)]"])
    found: dict[str, int] = {}
    for uid, item in data.items():
        text = next(iter(v for k, v in item.items() if k.startswith(b"BODY[")), b"")
        value = text.decode("ascii", "replace").partition(":")[2].strip()
        if value:
            found[value] = int(uid)
    missing = {"small", "newsletter", "attachment"} - found.keys()
    if missing:
        raise SystemExit(f"specimens not found in the folder: {sorted(missing)}")
    return found


def fill(address: str, count: int, *, force: bool = False,
         attachment_bytes: int = 20 * 1024 * 1024) -> Filled:
    """Make sure ``address``'s INBOX holds ``count`` benchmark messages; returns what it did."""
    mailstack.require_up()
    started = time.perf_counter()
    have = message_count(address)  # also makes Dovecot create the Maildir
    if have == count and not force:
        client = connect(address)
        try:
            uids = specimen_uids(client)
        finally:
            client.logout()
        return Filled(address, count, True, time.perf_counter() - started, uids)
    write_maildir(address, count, attachment_bytes=attachment_bytes)
    uids = index_and_warm(address, count)
    return Filled(address, count, False, time.perf_counter() - started, uids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--address", default="")
    parser.add_argument("--force", action="store_true", help="rebuild even if the count fits")
    args = parser.parse_args()
    address = args.address or f"bench-mailbox-{args.messages}@{mailstack.DOMAIN}"
    result = fill(address, args.messages, force=args.force)
    verb = "reused" if result.reused else "filled"
    print(f"{verb} {address}: {result.messages} messages in {result.seconds:.1f} s; "
          f"specimens {result.specimen_uids}")


if __name__ == "__main__":
    main()
