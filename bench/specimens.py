"""Messages the benchmarks read: a varied mailbox, a small message, a newsletter, an attachment.

Everything is generated from a seeded ``random.Random`` so two runs build the same folder.
Only the standard library is used (no project code), so the baseline never depends on the
thing it measures.
"""

from __future__ import annotations

import base64
import random
import textwrap
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

FIRST_NAMES = """Ada Alan Grace Linus Margaret Dennis Barbara Ken Frances Edsger Radia John Hedy
Tim Katherine Donald Sophie Guido Anita Niklaus Mary Bjarne Karen Brian Jean Leslie Shafi
Vint Joan Whitfield Adele Butler Lynn Yukihiro Annie Rasmus Carol Larry Fran""".split()
LAST_NAMES = """Lovelace Turing Hopper Torvalds Hamilton Ritchie Liskov Thompson Allen Dijkstra
Perlman McCarthy Lamarr Berners-Lee Johnson Knuth Wilson Rossum Borg Wirth Keller Stroustrup
Jones Kernighan Sammet Lamport Goldwasser Cerf Clarke Diffie Goldberg Lampson Conway Matsumoto
Easley Lerdorf Shaw Page Spärck""".split()
DOMAINS = """example.org example.net mail.example.com lists.example.org corp.example
university.example shop.example news.example""".split()
WORDS = """quarterly report meeting agenda invoice budget review release notes draft proposal
schedule update minutes travel conference deadline contract feedback summary roadmap
migration incident backup security patch holiday lunch project design sprint retro launch
hiring offer training survey results newsletter welcome reminder question answer follow-up
approval request server outage database invoice receipt order shipping""".split()


def sender(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    address = f"{first.lower()}.{last.lower().replace('ä', 'a')}@{rng.choice(DOMAINS)}"
    return f"{first} {last}", address


def _header_name(name: str) -> str:
    if name.isascii():
        return f'"{name}"'
    return "=?utf-8?b?" + base64.b64encode(name.encode()).decode() + "?="


def subject(rng: random.Random) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))).capitalize()
    prefix = rng.choice(["", "", "", "Re: ", "Fwd: ", "RE: "])
    return prefix + words


def paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def mailbox_message(rng: random.Random, index: int, when: datetime, to: str) -> bytes:
    """One message of the big folder: plain text mostly, some HTML alternatives, a few small
    attachments; sizes from a few hundred bytes to ~60 KB."""
    name, address = sender(rng)
    subj = subject(rng)
    roll = rng.random()
    body_words = int(rng.lognormvariate(4.5, 1.0)) + 5  # median ~90 words, long tail
    body_words = min(body_words, 8000)
    text = "\n\n".join(textwrap.fill(paragraph(rng, min(body_words, 60)), 72)
                       for _ in range(max(1, body_words // 60)))
    headers = [
        f"From: {_header_name(name)} <{address}>",
        f"To: <{to}>",
        f"Subject: {subj}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <bench-{index}-{rng.getrandbits(32):08x}@{address.split('@')[1]}>",
        "MIME-Version: 1.0",
    ]
    if roll < 0.75:
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
        body = text
    else:
        boundary = f"b{index:07d}{rng.getrandbits(24):06x}"
        kind = "alternative" if roll < 0.93 else "mixed"
        headers.append(f'Content-Type: multipart/{kind}; boundary="{boundary}"')
        html = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        parts = [
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n",
            f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n"
            f"<html><body>{html}</body></html>\n",
        ]
        if kind == "mixed":
            blob = base64.encodebytes(rng.randbytes(rng.randint(500, 40_000))).decode()
            parts[1] = (f"--{boundary}\nContent-Type: application/octet-stream\n"
                        f'Content-Disposition: attachment; filename="file{index}.bin"\n'
                        f"Content-Transfer-Encoding: base64\n\n{blob}")
        body = "".join(parts) + f"--{boundary}--\n"
    return ("\n".join(headers) + "\n\n" + body + "\n").encode("utf-8")


def small_message(to: str, when: datetime) -> bytes:
    return (
        f"From: \"Small Sender\" <small@example.org>\nTo: <{to}>\nSubject: bench small message\n"
        f"Date: {format_datetime(when)}\nMessage-ID: <bench-small@example.org>\n"
        "X-Bench-Kind: small\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
        "Hello,\n\nthis is a short message of a few lines.\n\nRegards,\nSmall\n"
    ).encode()


def newsletter_html(target_bytes: int = 1_000_000, seed: int = 7) -> str:
    """A newsletter the way marketing tools write them: nested layout tables, inline styles on
    nearly every element (a few dozen distinct ones, repeated), a <style> sheet, remote images,
    tracking links."""
    rng = random.Random(seed)
    styles = [
        "font-family:Helvetica,Arial,sans-serif;font-size:14px;line-height:21px;color:#333333;",
        "padding:12px 18px 12px 18px;background-color:#ffffff;border-bottom:1px solid #e5e5e5;",
        "font-family:Georgia,serif;font-size:22px;font-weight:bold;color:#111111;margin:0;",
        "display:block;width:100%;max-width:560px;height:auto;border:0;",
        "color:#0b6bcb;text-decoration:underline;",
        "background-color:#0b6bcb;border-radius:4px;padding:10px 16px;color:#ffffff;",
        "font-size:11px;color:#999999;text-align:center;padding:20px;",
    ]
    sheet = """
      body{margin:0;padding:0;background:#f4f4f4}
      .wrapper{width:100%;table-layout:fixed}
      @media only screen and (max-width:600px){.col{width:100%!important;display:block}}
      a.button:hover{background-color:#095aa8}
      .footer p{font-size:11px;color:#999}
    """
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Weekly digest</title>"
        f"<style type='text/css'>{sheet}</style></head>"
        "<body bgcolor='#f4f4f4' style='margin:0;padding:0'>"
        "<table class='wrapper' width='100%' cellpadding='0' cellspacing='0' border='0'>"
    ]
    size = sum(map(len, out))
    n = 0
    while size < target_bytes:
        n += 1
        s = rng.sample(styles, 4)
        block = (
            f"<tr><td align='center' style='{s[1]}'>"
            f"<table class='col' width='560' cellpadding='0' cellspacing='0' border='0'><tr>"
            f"<td style='{s[0]}'><h2 style='{styles[2]}'>{paragraph(rng, 6)}</h2>"
            f"<img src='https://cdn.news.example/img/{n}.jpg' width='560' alt='story {n}' "
            f"style='{styles[3]}'>"
            f"<p style='{styles[0]}'>{paragraph(rng, 60)} <b>{paragraph(rng, 5)}</b> "
            f"{paragraph(rng, 40)}</p>"
            f"<p style='{styles[0]}'><a href='https://click.news.example/t/{n}?u="
            f"{rng.getrandbits(64):016x}' style='{styles[4]}'>Read more</a> &middot; "
            f"<a class='button' href='https://click.news.example/s/{n}' style='{styles[5]}'>"
            f"Share</a></p></td></tr></table></td></tr>"
        )
        out.append(block)
        size += len(block)
    out.append(
        f"<tr><td class='footer' style='{styles[6]}'><p>You receive this because you asked to."
        " <a href='https://news.example/unsubscribe'>Unsubscribe</a></p>"
        "<img src='https://track.news.example/open.gif' width='1' height='1'></td></tr>"
        "</table></body></html>"
    )
    return "".join(out)


def newsletter_message(to: str, when: datetime, target_bytes: int = 1_000_000) -> bytes:
    html = newsletter_html(target_bytes)
    encoded = base64.encodebytes(html.encode("utf-8")).decode()
    return (
        f"From: \"News Digest\" <digest@news.example>\nTo: <{to}>\n"
        f"Subject: bench newsletter\nDate: {format_datetime(when)}\n"
        "Message-ID: <bench-newsletter@news.example>\nX-Bench-Kind: newsletter\n"
        "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n"
        f"Content-Transfer-Encoding: base64\n\n{encoded}"
    ).encode()


def attachment_message(to: str, when: datetime, size: int = 20 * 1024 * 1024) -> bytes:
    blob = random.Random(11).randbytes(size)
    encoded = base64.encodebytes(blob).decode()
    boundary = "bench-attachment-boundary"
    return (
        f"From: \"Big Sender\" <big@example.org>\nTo: <{to}>\nSubject: bench attachment\n"
        f"Date: {format_datetime(when)}\nMessage-ID: <bench-attachment@example.org>\n"
        "X-Bench-Kind: attachment\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
        f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\nThe file is attached.\n"
        f"--{boundary}\nContent-Type: application/octet-stream\n"
        'Content-Disposition: attachment; filename="data.bin"\n'
        f"Content-Transfer-Encoding: base64\n\n{encoded}--{boundary}--\n"
    ).encode()


SPECIMEN_KINDS = ("small", "newsletter", "attachment")


def specimens(to: str, newest: datetime,
              attachment_bytes: int = 20 * 1024 * 1024) -> list[tuple[str, bytes]]:
    """(kind, bytes) of the messages the view and download figures read, newest last."""
    return [
        ("small", small_message(to, newest - timedelta(seconds=3))),
        ("newsletter", newsletter_message(to, newest - timedelta(seconds=2))),
        ("attachment", attachment_message(to, newest - timedelta(seconds=1), attachment_bytes)),
    ]


def timeline(count: int, end: datetime | None = None, years: float = 5.0,
             seed: int = 1) -> list[datetime]:
    """``count`` arrival times over ``years`` up to ``end``, ascending, with jitter."""
    rng = random.Random(seed)
    end = end or datetime(2025, 6, 1, tzinfo=UTC)
    span = years * 365 * 86400
    start = end - timedelta(seconds=span)
    step = span / max(count, 1)
    return [start + timedelta(seconds=i * step + rng.uniform(0, step * 0.9))
            for i in range(count)]
