"""Fuzzing the path from bytes on the server to markup in the browser.

``tests/mime`` and ``tests/sanitize`` test each module; this follows a message through all of
them, as the message view does: arbitrary bytes and generated MIME trees (nesting, broken
boundaries, odd charsets and transfer encodings, hostile file names, HTML bodies made of tag
soup) → ``parse_message`` → ``sanitize_html`` (both remote policies) or ``text_to_html`` →
an HTML5 parser. Nothing may raise but our own ``MimeError`` where it is documented
(``part_bytes``), and the parsed output may hold no script element, no event-handler
attribute and no script-capable URL.
"""

from __future__ import annotations

import base64
import quopri
import re

import html5lib
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from webmail.mime.parse import MimeError, parse_message, part_bytes, structure
from webmail.mime.render import text_to_html
from webmail.sanitize import RemotePolicy, sanitize_html

SETTINGS = settings(max_examples=250, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
URL_ATTRS = {"href", "src", "action", "formaction", "background", "poster", "data", "srcset",
             "xlink:href", "ping", "lowsrc", "dynsrc", "codebase", "cite"}
SCRIPT_URL = re.compile(r"^(?:javascript|vbscript|livescript|mocha|data|blob):")
DATA_IMAGE = re.compile(r"^data:image/(?:png|gif|jpe?g|webp)[;,]")
CONTROL = re.compile(r"[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028\u2029\u205f\u3000\ufeff]")

# Pieces of hostile markup (the corpus's families, in small parts hypothesis recombines).
HTML_PIECES = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>", "<math><mi xlink:href=javascript:alert(1)>x",
    "<a href=javascript:alert(1)>x</a>", "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    "<a href=' javascript:alert(1)'>", "<iframe srcdoc='<script>alert(1)</script>'>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<style>@import 'http://127.0.0.1:9/';</style>", "<style></style><img src=x onerror=alert(1)>",
    "<template><script>alert(1)</script></template>", "<select><template><style>",
    "<form><button formaction=javascript:alert(1)>", "<base href=javascript:/>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>", "<!--", "-->", "<![CDATA[",
    "]]>", "<table><td>", "</p>", "<p>", "<svg><style><img src=x onerror=alert(1)></style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "<xmp>", "</xmp>",
    "<object data=data:text/html,x>", "<embed src=javascript:alert(1)>", "<body onload=alert(1)>",
    "<div style=\"background:url(javascript:alert(1))\">", "<img src=cid:part@x>",
    "<a href=http://example.org/ target=_self>", "<details open ontoggle=alert(1)>", "&lt;",
    "<img src=\"data:text/html;base64,PHNjcmlwdD4=\">", "text", " ", "\n", "\"", "'", "=", ">",
    "<", "</", "<svg><animate attributeName=href values=javascript:alert(1)>",
    "<svg><a><rect width=9 height=9/></a><set attributeName=href to=javascript:alert(1)>",
]
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "utf-7", "utf-16", "iso-2022-jp", "gb2312",
            "koi8-r", "", "x-unknown", "unknown-8bit", "utf8", '"utf-8"']
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "BASE64", "x-uuencode", "binary",
             "bogus", ""]
LEAF_TYPES = ["text/html", "text/html", "text/html", "text/plain", "text/plain", "text/enriched",
              "image/svg+xml", "image/png", "application/octet-stream", "text/calendar",
              "message/delivery-status", "text/x-unknown", "application/xhtml+xml", "",
              "text/html; format=flowed"]
SUBTYPES = ["mixed", "alternative", "related", "signed", "report; report-type=delivery-status",
            "digest", "x-unknown"]
FILENAMES = ['filename="a.pdf"', "filename*=utf-8''%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
             'filename="=?utf-8?q?=3Cscript=3E.html?="', 'name="\u202egpj.exe"',
             "filename*0=\"a\"; filename*1=\"b.html\"", 'filename="../../etc/passwd"', ""]


@st.composite
def html_body(draw: st.DrawFn) -> str:
    return "".join(draw(st.lists(st.sampled_from(HTML_PIECES), max_size=12)))


def _encode(body: bytes, encoding: str, broken: bool) -> bytes:
    if encoding.lower() == "base64":
        out = base64.encodebytes(body)
        return out[: len(out) // 2] + b"!!" if broken else out
    if encoding == "quoted-printable":
        out = quopri.encodestring(body)
        return out + b"=Z" if broken else out
    return body


@st.composite
def mime_tree(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MIME entity (headers + body) as bytes, possibly broken on purpose."""
    if depth < 4 and draw(st.integers(0, 3)) == 0:
        subtype = draw(st.sampled_from(SUBTYPES))
        boundary = draw(st.sampled_from(["b", "b" * depth or "x", "=_z", "", "b b"]))
        children = draw(st.lists(mime_tree(depth + 1), max_size=4))
        head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
        parts = b"".join(b"--" + boundary.encode() + b"\r\n" + c + b"\r\n" for c in children)
        end = b"--" + boundary.encode() + b"--\r\n" if draw(st.booleans()) else b""
        return head + b"preamble\r\n" + parts + end
    ctype = draw(st.sampled_from(LEAF_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    if ctype == "message/rfc822" or (depth < 3 and draw(st.integers(0, 7)) == 0):
        inner = draw(mime_tree(depth + 1))
        return b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n" + inner
    text = draw(html_body()) if "html" in ctype or draw(st.booleans()) else draw(
        st.text(max_size=200))
    try:
        body = text.encode(charset.strip('"') or "utf-8", "replace")
    except LookupError:
        body = text.encode("utf-8", "surrogatepass")
    headers = f"Content-Type: {ctype}; charset={charset}\r\n" if ctype else ""
    if encoding:
        headers += f"Content-Transfer-Encoding: {encoding}\r\n"
    filename = draw(st.sampled_from(FILENAMES)) if draw(st.integers(0, 2)) == 0 else ""
    if filename:
        disposition = draw(st.sampled_from(["attachment", "inline", "bogus"]))
        headers += f"Content-Disposition: {disposition}; {filename}\r\n"
    if draw(st.booleans()):
        headers += "Content-ID: <part@x>\r\n"
    return headers.encode() + b"\r\n" + _encode(body, encoding, draw(st.booleans()))


@st.composite
def message(draw: st.DrawFn) -> bytes:
    subject = draw(st.sampled_from([
        "Hello", "=?utf-8?b?PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==?=", "<img src=x onerror=1>",
        "=?utf-8?q?broken", "\u00e4\u00f6\u00fc".encode().decode("latin-1")]))
    sender = draw(st.sampled_from([
        "a@example.org", '"<svg onload=1>" <a@example.org>', "=?utf-8?q?=22=3E?= <a@b>", "",
        "undisclosed-recipients:;", "a@@b, <>"]))
    head = f"Subject: {subject}\r\nFrom: {sender}\r\nMIME-Version: 1.0\r\n".encode("utf-8",
                                                                                  "replace")
    return head + draw(mime_tree())


def html_problems(markup: str) -> list[str]:
    """What an HTML5 parser finds active in ``markup`` (as a body fragment of a document)."""
    root = html5lib.parse(markup, namespaceHTMLElements=False)
    problems = []
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        local = tag.rsplit("}", 1)[-1].lower()
        if local in ("script", "iframe", "object", "embed", "base", "frame", "form"):
            problems.append(f"<{local}>")
        for name, value in element.attrib.items():
            attr = name.rsplit("}", 1)[-1].lower()
            if attr.startswith("on"):
                problems.append(f"{attr} on <{local}>")
            if attr in URL_ATTRS or name.endswith("}href"):
                url = CONTROL.sub("", value).lower()
                if SCRIPT_URL.match(url) and not (attr == "src" and DATA_IMAGE.match(url)):
                    problems.append(f"{attr}={value[:40]!r} on <{local}>")
    return problems


def check(raw: bytes) -> None:
    parsed = parse_message(raw)  # documented never to raise
    structure(raw)
    event(f"html body: {parsed.html is not None}, attachments: {bool(parsed.attachments)}")
    for attachment in parsed.attachments:
        try:
            part_bytes(raw, attachment.part_id)
        except MimeError:
            pass  # our own error (PartNotFound) is the documented outcome
    if parsed.html is not None:
        cids = {cid: f"/mail/INBOX/1/part/{section}/?inline=1"
                for cid, section in parsed.inline_parts.items()}
        for policy in RemotePolicy:
            out = sanitize_html(parsed.html, policy=policy, cid_map=cids).html
            assert html_problems(out) == [], out
    if parsed.text is not None:
        out = text_to_html(parsed.text)
        assert html_problems(out) == [], out


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_after_mime_headers(tail: bytes) -> None:
    check(b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
          + tail)


@settings(SETTINGS, max_examples=600)
@given(message())
def test_generated_mime_trees(raw: bytes) -> None:
    check(raw)


def test_the_check_sees_what_it_looks_for() -> None:
    assert html_problems("<p>fine <a href='https://example.org/'>x</a></p>") == []
    assert html_problems("<svg><script>1</script></svg>") == ["<script>"]
    assert html_problems("<img src=x onerror=1>") == ["onerror on <img>"]
    assert html_problems("<a href=' java\tscript:1'>x</a>")
    assert html_problems("<img src='data:image/png;base64,AA'>") == []
