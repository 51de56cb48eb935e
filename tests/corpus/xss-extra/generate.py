"""Writes the project's own hostile messages (``NNN-ID.eml``) and ``INDEX.tsv`` in this folder.

Same format as the shared corpus (``shared/corpora/xss``, see its README): CRLF line endings,
fixed Date, ``Message-ID: <ID@xss-extra.invalid>``, ``X-XSS-Corpus-Id: ID``; script execution
calls ``window.__xss('ID')``, loads and navigations hit port 9 (``127.0.0.1:9`` or the name
``xss-canary.test``, which the browser tests resolve to 127.0.0.1). The vectors aim at this
app's own surfaces that the shared corpus covers less: every place a header or file name is
echoed (page title, attribute values, compose fields), the ``?inline=1`` part route, the
private-address filter of "show remote images", same-origin requests from a body, and
``target=_top``. ``fires_raw_chromium`` is checked by ``tests/browser/test_extra_corpus.py``.

Run: ``.venv/bin/python tests/corpus/xss-extra/generate.py`` (deterministic output).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATE = "Mon, 01 Jun 2026 12:00:00 +0000"
CANARY = "http://127.0.0.1:9/xss/"
COLUMNS = ["file", "id", "vector_kind", "source", "payload_location", "envelope",
           "interaction", "fires_raw_chromium", "notes"]


@dataclass(frozen=True)
class Vector:
    id: str
    kind: str
    location: str
    envelope: str
    interaction: str
    fires: str
    notes: str
    headers: tuple[tuple[str, str], ...]
    body: str  # everything after the top-level headers' Content-Type (CRLF added)
    content_type: str


def _mixed(ident: str, parts: list[str]) -> tuple[str, str]:
    boundary = f"=_xss_extra_{ident}"
    body = "This is a multi-part message in MIME format.\n"
    for part in parts:
        body += f"--{boundary}\n{part.rstrip()}\n"
    body += f"--{boundary}--\n"
    return f'multipart/mixed; boundary="{boundary}"', body


def _related(ident: str, parts: list[str]) -> tuple[str, str]:
    ctype, body = _mixed(ident, parts)
    return ctype.replace("multipart/mixed", 'multipart/related; type="text/html"'), body


def _b64(data: str) -> str:
    encoded = base64.b64encode(data.encode("utf-8")).decode("ascii")
    return "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def _html_part(html: str) -> str:
    return ("Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            + html + "\n")


def _encoded_words(text: str, size: int = 60) -> str:
    """RFC 2047 Q-encoded words, folded; they decode to ``text`` with no added spaces."""
    def q(chunk: str) -> str:
        out = ""
        for byte in chunk.encode("utf-8"):
            ch = chr(byte)
            out += ch if ch.isalnum() else f"={byte:02X}"
        return f"=?utf-8?q?{out}?="

    words = [q(text[i:i + size]) for i in range(0, len(text), size)]
    return "\n ".join(words)


def vectors() -> list[Vector]:
    out: list[Vector] = []

    def add(ident: str, kind: str, location: str, envelope: str, fires: str, notes: str, *,
            ctype: str, body: str, headers: tuple[tuple[str, str], ...] = (),
            interaction: str = "none") -> None:
        out.append(Vector(ident, kind, location, envelope, interaction, fires, notes, headers,
                          body, ctype))

    benign = "<p>Hello, please see below.</p>"

    ident = "x-subject-title-script"
    add(ident, "header-subject", "header Subject", "raw", "yes (marker)",
        "echoed into <title>, the mailbox row, the message heading and compose's subject "
        "field; fires when put into <title> unescaped",
        ctype="text/html; charset=utf-8", body=benign,
        headers=(("Subject", f"</title><script>window.__xss('{ident}')</script>"),))

    ident = "x-subject-attribute-quotes"
    add(ident, "header-subject", "header Subject", "raw", "yes (marker)",
        "breaks out of a double-quoted attribute (compose <input value>, the mailbox "
        "checkbox aria-label); fires via autofocus/onfocus when echoed unescaped",
        ctype="text/html; charset=utf-8", body=benign,
        headers=(("Subject",
                  f'x" autofocus onfocus="window.__xss(/{ident}/.source)" a="'),))

    ident = "x-subject-truncation"
    add(ident, "header-subject", "header Subject (2,000+ characters, RFC 2047 words)", "raw",
        "yes (marker)",
        "the payload straddles the app's subject length limit (2,000 characters): cutting "
        "must happen before escaping, never after",
        ctype="text/html; charset=utf-8", body=benign,
        headers=(("Subject", _encoded_words(
            "A" * 1985 + f"<img src=x onerror=window.__xss('{ident}')>")),))

    ident = "x-from-reply-to-input"
    add(ident, "header-from", "header From, Reply-To", "raw", "yes (marker)",
        "display names land in compose's To field (reply) as an attribute value; both "
        "quote styles",
        ctype="text/html; charset=utf-8", body=benign,
        headers=(
            ("From", f'"\\"><img src=x onerror=window.__xss(/{ident}/.source)>" '
                     "<attacker@xss-extra.invalid>"),
            ("Reply-To", f"\"'><svg onload=window.__xss(/{ident}/.source)>\" "
                         "<reply@xss-extra.invalid>"),
        ))

    ident = "x-filename-markup"
    ctype, body = _mixed(ident, [
        "Content-Type: text/plain; charset=utf-8\n\nTwo attachments.\n",
        "Content-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; "
        "filename*=utf-8''%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%28%2F" + ident
        + "%2F.source%29%3E.txt\n\nfirst\n",
        "Content-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; "
        "filename=\"&lt;svg onload=window.__xss(/" + ident + "/.source)&gt;.txt\"\n\nsecond\n",
    ])
    add(ident, "attachment-filename", "attachment filename", "raw", "yes (marker)",
        "file names in the attachment list, the forward's attachment list and "
        "Content-Disposition; the second is entity-encoded (a double decode would revive it)",
        ctype=ctype, body=body)

    ident = "x-filename-header-injection"
    ctype, body = _mixed(ident, [
        "Content-Type: text/plain; charset=utf-8\n\nSee attachment.\n",
        "Content-Type: text/html; charset=utf-8\nContent-Disposition: attachment; "
        "filename*=utf-8''a%0D%0AContent-Type%3A%20text%2Fhtml%0D%0A%0D%0A%3Cscript%3E"
        "window.__xss%28%2F" + ident + "%2F.source%29%3C%2Fscript%3E.html\n"
        "Content-Transfer-Encoding: base64\n\n"
        + _b64(f"<script>window.__xss('{ident}')</script>") + "\n",
    ])
    add(ident, "attachment-header-injection", "attachment filename + content (text/html)",
        "attach", "yes (marker)",
        "CR/LF in the RFC 2231 file name must not split the download's response headers; "
        "the HTML part must download, never render (fires when opened with its type)",
        ctype=ctype, body=body)

    ident = "x-image-type-lies"
    ctype, body = _related(ident, [
        _html_part('<p>Logo: <img src="cid:logo@x"> and <img src="cid:chart@x"></p>'),
        "Content-Type: image/png; name=\"logo.png\"\nContent-ID: <logo@x>\n"
        "Content-Disposition: inline; filename=\"logo.png\"\nContent-Transfer-Encoding: base64\n\n"
        + _b64(f"<html><body><script>window.__xss('{ident}')</script></body></html>") + "\n",
        "Content-Type: IMAGE/GIF ; name=\"chart.gif\"\nContent-ID: <chart@x>\n"
        "Content-Disposition: attachment; filename=\"chart.gif\"\n\n"
        '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss(/' + ident
        + '/.source)"><script>window.__xss(/' + ident + '/.source)</script></svg>\n',
    ])
    add(ident, "content-type-sniffing", "attachment content (declared image/png, image/gif)",
        "raw", "yes (marker)",
        "HTML and SVG declared as raster images: the one type ?inline=1 serves inline; "
        "nosniff must keep them images (fires when served without a type and sniffed)",
        ctype=ctype, body=body)

    ident = "x-css-remote-properties"
    url = CANARY + ident
    css_props = [
        f"list-style-image:url({url}/list)", f"border-image:url({url}/border) 30 round",
        f"cursor:url({url}/cursor),auto", f"mask-image:url({url}/mask)",
        f"-webkit-mask-image:url({url}/wmask)", f"shape-outside:url({url}/shape)",
        f"filter:url({url}/filter#f)", f"background-image:image-set(url({url}/set) 1x)",
        f"background:-webkit-image-set(url({url}/wset) 1x)",
        f"background-image:\\75 rl({url}/escape)",
    ]
    html = (
        "<style>@font-face{font-family:xf;src:url(" + url + "/font)}"
        ".x::before{content:url(" + url + "/content)}"
        "@import url(" + url + "/import);p{font-family:xf}</style>"
        + "\n".join(f'<ul style="{p}"><li class="x">item {i}</li></ul>'
                     for i, p in enumerate(css_props))
        + "<p>text</p>"
    )
    add(ident, "css-remote-resource", "text/html body", "html-8bit", "yes (beacon)",
        "less common url()-taking CSS properties, image-set, @font-face, content:url(), "
        "a CSS escape; any of them loading is a remote fetch while images are blocked",
        ctype="text/html; charset=utf-8", body=html)

    ident = "x-html-remote-attributes"
    url = CANARY + ident
    html = "\n".join([
        f'<body background="{url}/body"><table background="{url}/table"><tr>',
        f'<td background="{url}/td">cell</td></tr></table>',
        f'<img srcset="{url}/srcset 1x" alt="a"><img loading="lazy" src="{url}/lazy">',
        f'<picture><source srcset="{url}/source"><img alt="p"></picture>',
        f'<video poster="{url}/poster"></video><input type="image" src="{url}/input">',
        f'<link rel="stylesheet" href="{url}/css"><link rel="prefetch" href="{url}/prefetch">',
        f'<img src="//127.0.0.1:9/xss/{ident}/protocol-relative">',
        f'<img src="http:\\\\127.0.0.1:9\\xss\\{ident}\\backslash">',
        f'<img src="http://0x7f.0.0.1:9/xss/{ident}/hex">',
        f'<img src="http://[::ffff:127.0.0.1]:9/xss/{ident}/v6">',
        f'<svg><image href="{url}/svg-image"/></svg></body>',
    ])
    add(ident, "remote-resource", "text/html body", "html-8bit", "yes (beacon)",
        "resource-loading attributes and URL spellings (protocol-relative, backslashes, hex "
        "and IPv6-mapped addresses)",
        ctype="text/html; charset=utf-8", body=html)

    ident = "x-remote-private-hosts"
    hosts = ["https://127.0.0.1:9", "https://localhost:9", "https://[::1]:9",
             "https://2130706433:9", "https://0177.0.0.1:9", "https://127.1:9",
             "https://0x7f000001:9", "https://127.000.000.001:9", "https://[::ffff:7f00:1]:9",
             "https://0.0.0.0:9"]
    html = "\n".join(f'<img src="{h}/xss/{ident}/{i}" alt="{i}">' for i, h in enumerate(hosts))
    html += f'<div style="background:url(https://127.0.0.1:9/xss/{ident}/css)">x</div>'
    add(ident, "remote-resource", "text/html body (remote content allowed)", "html-8bit",
        "yes (beacon)",
        "https images at spellings of loopback addresses: 'show remote images' must still "
        "never fetch from private addresses (the CSP's https: allows them, the sanitizer "
        "must not). A name that resolves to a private address cannot be caught this way "
        "(see docs/security.md)",
        ctype="text/html; charset=utf-8", body=html)

    ident = "x-same-origin-requests"
    html = ('<img src="/logout/" alt="1"><img src="../../../../logout/" alt="2">'
            '<img src="/mail/INBOX/?action=delete&amp;uid=1" alt="3">'
            '<div style="background:url(/compose/?to=x@y)">4</div>'
            '<img src="http://localhost/logout/" alt="5"><a href="/logout/">sign out</a>'
            '<form action="/logout/" method="post"><button>Continue</button></form>')
    add(ident, "same-origin-request", "text/html body", "html-8bit",
        "n/a (same-origin request vector)",
        "GET requests to the app itself from a body (the suite fails on any same-origin "
        "subresource but a part URL); no marker or beacon",
        ctype="text/html; charset=utf-8", body=html)

    ident = "x-link-target-top"
    html = (f'<base target="_top"><a href="http://xss-canary.test:9/xss/{ident}" '
            f'target="_top">Open your invoice</a>')
    add(ident, "link-target", "text/html body", "html-8bit", "yes (beacon)",
        "a link that would navigate the whole webmail tab (phishing look-alike page); must "
        "open a new tab without opener, never move the top frame",
        ctype="text/html; charset=utf-8", body=html, interaction="click:a")

    ident = "x-reply-textarea-breakout"
    html = (f"<p>Quote me: &lt;/textarea&gt;&lt;script&gt;window.__xss('{ident}')"
            f"&lt;/script&gt;&lt;img src=x onerror=window.__xss('{ident}')&gt;</p>")
    add(ident, "compose-quoting", "text/html body (its text quoted in a reply)", "html-8bit",
        "yes (marker)",
        "HTML-only mail: the reply quotes its text (entities decoded) inside compose's "
        "<textarea>; fires when that text is put into the textarea unescaped",
        ctype="text/html; charset=utf-8", body=html)

    ident = "x-cid-attribute-injection"
    ctype, body = _related(ident, [
        _html_part(f"<img src=\"cid:a&quot; onerror=&quot;window.__xss('{ident}')\">"
                   "<img src='cid:b\" onerror=\"window.__xss(/" + ident + "/.source)'>"),
        'Content-Type: image/gif\nContent-ID: <a" onerror="window.__xss(\'' + ident
        + '\')>\nContent-Transfer-Encoding: base64\n\n'
        "R0lGODlhAQABAAAAACw=\n",
        "Content-Type: image/gif\nContent-ID: <b\" onerror=\"window.__xss(/" + ident
        + "/.source)>\nContent-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n",
    ])
    add(ident, "cid-resource", "multipart/related Content-ID", "raw",
        "no (the raw rendering rewrites cid: to part URLs)",
        "quotes inside Content-IDs and cid: references: a cid-to-URL rewrite done with "
        "string replacement would break out of the src attribute",
        ctype=ctype, body=body)
    return out


def message(number: int, vector: Vector) -> tuple[str, bytes]:
    headers = dict(vector.headers)
    lines = [
        f"From: {headers.pop('From', 'XSS Extra <attacker@xss-extra.invalid>')}",
        "To: Victim <victim@example.test>",
        f"Subject: {headers.pop('Subject', f'[xss-extra] {vector.id}')}",
        f"Date: {DATE}",
        f"Message-ID: <{vector.id}@xss-extra.invalid>",
        f"X-XSS-Corpus-Id: {vector.id}",
        *(f"{k}: {v}" for k, v in headers.items()),
        "MIME-Version: 1.0",
        f"Content-Type: {vector.content_type}",
    ]
    if not vector.content_type.startswith("multipart/"):
        lines.append("Content-Transfer-Encoding: 8bit")
    text = "\n".join(lines) + "\n\n" + vector.body.rstrip("\n") + "\n"
    name = f"{number:03d}-{vector.id}.eml"
    return name, text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def main() -> None:
    rows = ["\t".join(COLUMNS)]
    for number, vector in enumerate(vectors(), start=1):
        name, raw = message(number, vector)
        (HERE / name).write_bytes(raw)
        rows.append("\t".join([name, vector.id, vector.kind, "webmail project (constructed)",
                               vector.location, vector.envelope, vector.interaction,
                               vector.fires, vector.notes]))
    (HERE / "INDEX.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
