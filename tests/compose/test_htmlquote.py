"""Rich-text replies and forwards: the original's sanitized HTML quoted, its inline images
carried as related parts under new Content-IDs. Pure tests over message bytes."""

from __future__ import annotations

import base64
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest

from tests.mime.corpus import read
from webmail.compose import htmlquote
from webmail.compose.prefill import draft_prefill, forward_prefill, reply_prefill
from webmail.compose.services import compose_spec
from webmail.compose.uploads import ComposeState
from webmail.mime.compose import ComposeSpec, build_message
from webmail.mime.parse import parse_message
from webmail.sanitize import sanitize_compose_html

ME = "me@example.test"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
GOOGLE = "bounce-rfc3464-63.eml"  # a real Gmail notice: HTML with a cid: icon in multipart/related


def _html_mail(html: str, *, images: dict[str, bytes] | None = None,
               attachments: list[tuple[str, bytes]] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jane <jane@example.org>"
    msg["To"] = ME
    msg["Subject"] = "Pictures"
    msg["Message-ID"] = "<pics-1@example.org>"
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    msg.set_content("text version")
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_body(("html",))
    assert html_part is not None
    for cid, data in (images or {}).items():
        html_part.add_related(data, "image", "png", cid=f"<{cid}>", filename=f"{cid[:5]}.png")
    for name, data in attachments or []:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def _cids(html: str) -> list[str]:
    return re.findall(r'src="cid:([^"]+)"', html)


def _reply(raw: bytes, **kwargs: Any) -> Any:
    return reply_prefill(raw, folder="INBOX", uid=7, own=[ME], reply_all=False,
                         signature_for={ME: "Me\nCEO"}, **kwargs)


def test_rich_reply_quotes_sanitized_html_in_a_cite_blockquote() -> None:
    raw = _html_mail('<p>Look <b>here</b>: <img src="cid:logo@jane" alt="logo"></p>',
                     images={"logo@jane": PNG})
    prefill = _reply(raw, rich=True)
    assert prefill.format == "html"
    html = prefill.body_html
    attribution = html.index('<div class="mail-attribution">On Mon, 02 Mar 2026 at 10:00, '
                             'Jane &lt;jane@example.org&gt; wrote:</div>')
    quote = html.index('<blockquote class="mail-quote" type="cite"')
    assert html.index("-- <br>Me<br>CEO") < attribution < quote < html.index("<b>here</b>")
    assert html.startswith("<div><br></div>")  # room to type above the quote
    assert sanitize_compose_html(html) == html
    # the image: a new Content-ID of our own, the same in the HTML and on the part
    (cid,) = _cids(html)
    assert cid != "logo@jane" and cid.endswith("@example.test")
    assert [(p.content_id, p.content_type, p.data) for p in prefill.inline] == [
        (cid, "image/png", PNG)]
    # the plain alternative keeps today's quote
    assert "> text version" in prefill.body and "wrote:" in prefill.body


def test_plain_reply_is_unchanged() -> None:
    raw = _html_mail('<p>Look <img src="cid:logo@jane"></p>', images={"logo@jane": PNG})
    prefill = _reply(raw)
    assert prefill.format == "plain" and prefill.body_html == "" and prefill.inline == []
    assert "> text version" in prefill.body


def test_rich_reply_to_a_text_message_quotes_its_text_as_html() -> None:
    msg = EmailMessage()
    msg["From"] = "jane@example.org"
    msg.set_content("One <two>\n> older")
    prefill = _reply(msg.as_bytes(), rich=True)
    assert prefill.format == "html"
    assert "One &lt;two&gt;" in prefill.body_html
    assert prefill.body_html.count('<blockquote class="mail-quote"') == 2  # ours + the older


HOSTILE = (
    '<style>body{background:url(https://evil.example/bg)}</style>'
    '<p id="x" onclick="alert(1)">Hi<script>alert(2)</script></p>'
    '<img src="https://tracker.example/p.gif"><img src=x onerror="alert(3)">'
    '<a href="javascript:alert(4)">click</a><svg><script>alert(5)</script></svg>'
    '<noscript><p title="</noscript><img src=x onerror=alert(6)>"></p></noscript>'
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(7)></style></table></math>'
    '<img src="cid:unknown@nowhere"><img src="cid:logo@jane" alt="ok">'
    '<div style="position:fixed;top:0;background-image:url(http://evil.example/x)">o</div>'
    '<form action="https://evil.example/"><input name=p></form>'
    '<iframe srcdoc="<script>alert(8)</script>"></iframe>'
)


@pytest.mark.parametrize("kind", ["reply", "forward"])
def test_hostile_html_is_sanitized_in_reply_and_forward(kind: str) -> None:
    raw = _html_mail(HOSTILE, images={"logo@jane": PNG})
    if kind == "reply":
        prefill = _reply(raw, rich=True)
    else:
        prefill = forward_prefill(raw, folder="INBOX", uid=7, own=[ME], signature_for={},
                                  rich=True)
    html = prefill.body_html
    assert sanitize_compose_html(html) == html
    lowered = html.lower()
    for bad in ("<script", "onclick", "onerror", "javascript:", "<style", "<svg", "<math",
                "<iframe", "<form", "<input", "evil.example", "tracker.example", "position",
                ' id="', "unknown@nowhere", "http:", "https:"):
        assert bad not in lowered, bad
    assert len(_cids(html)) == 1 and [p.content_id for p in prefill.inline] == _cids(html)
    assert html.count("src=") == 1  # the unknown cid: reference is gone, not left to load


def test_rich_forward_has_the_header_block_then_the_html_and_keeps_attachments() -> None:
    raw = _html_mail('<p>Chart: <img src="cid:chart@jane"></p>', images={"chart@jane": PNG},
                     attachments=[("report.pdf", b"%PDF-1.4 x")])
    prefill = forward_prefill(raw, folder="INBOX", uid=9, own=[ME], signature_for={},
                              rich=True)
    html = prefill.body_html
    header = html.index('<div class="mail-forward-header">---------- Forwarded message '
                        '----------<br>From: Jane &lt;jane@example.org&gt;<br>')
    assert "Subject: Pictures" in html
    assert header < html.index('<div class="mail-forwarded"><p>Chart:')
    assert "<blockquote" not in html  # a forward is not a quote
    assert [(n, t) for n, t, _ in prefill.attachments] == [("report.pdf", "application/pdf")]
    assert [p.content_id for p in prefill.inline] == _cids(html)
    assert prefill.state.origin == ("INBOX", 9, "forward")


def test_plain_forward_attaches_the_inline_images_instead_of_dropping_them() -> None:
    raw = _html_mail('<p><img src="cid:chart@jane"></p>', images={"chart@jane": PNG},
                     attachments=[("report.pdf", b"%PDF-1.4 x")])
    prefill = forward_prefill(raw, folder="INBOX", uid=9, own=[ME], signature_for={})
    assert prefill.format == "plain" and prefill.inline == []
    assert [(t, d) for _n, t, d in prefill.attachments] == [
        ("application/pdf", b"%PDF-1.4 x"), ("image/png", PNG)]


def test_inline_parts_the_editor_cannot_show_are_attached_to_a_forward() -> None:
    msg = EmailMessage()
    msg["From"] = "jane@example.org"
    msg.set_content("x")
    msg.add_alternative('<p><img src="cid:pic@j"></p>', subtype="html")
    html_part = msg.get_body(("html",))
    assert html_part is not None
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    html_part.add_related(svg, "image", "svg+xml", cid="<pic@j>", filename="pic.svg")
    prefill = forward_prefill(msg.as_bytes(), folder="INBOX", uid=1, own=[ME],
                              signature_for={}, rich=True)
    assert prefill.inline == [] and "src=" not in prefill.body_html
    assert [(n, t) for n, t, _ in prefill.attachments] == [("pic.svg", "image/svg+xml")]


def test_a_huge_quote_falls_back_to_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(htmlquote, "MAX_QUOTED_HTML", 100)
    raw = _html_mail("<p>" + "long " * 100 + '<img src="cid:logo@jane"></p>',
                     images={"logo@jane": PNG})
    prefill = _reply(raw, rich=True)
    assert prefill.format == "plain" and prefill.body_html == "" and prefill.inline == []


def test_real_gmail_message_with_an_inline_icon() -> None:
    """A real HTML notice from Gmail (shared MIME corpus): its icon.png is a related part."""
    raw = read(GOOGLE)
    original = parse_message(raw)
    assert original.html is not None and "cid:icon.png" in original.html
    prefill = _reply(raw, rich=True)
    (cid,) = _cids(prefill.body_html)
    (part,) = prefill.inline
    assert part.content_id == cid and part.filename == "icon.png"
    assert part.data.startswith(b"\x89PNG") and len(part.data) == 1450
    assert "Address not found" in prefill.body_html
    assert "<style" not in prefill.body_html  # the notice's style sheet stays behind

    # built as the sent message: multipart/related, Content-ID = the cid of the HTML
    built = build_message(_spec(prefill.body_html, prefill.inline))
    mail = message_from_bytes(built.raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    related = next(p for p in mail.walk() if p.get_content_type() == "multipart/related")
    html_part, image = list(related.iter_parts())
    assert html_part.get_content_type() == "text/html"
    assert f'src="cid:{cid}"' in html_part.get_content()
    assert image["Content-ID"] == f"<{cid}>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == part.data
    assert b"data:image" not in built.raw
    assert not mail.defects and all(not p.defects for p in mail.walk())


def _spec(html: str, inline: Any) -> ComposeSpec:
    identity = SimpleNamespace(display_name="Me", email=ME)
    data = {"to": parse_message(b"To: bob@example.org\r\n\r\n").to, "subject": "Re: x",
            "format": "html", "body_html": html, "body": ""}
    return compose_spec(identity=identity, data=data, attachments=(),  # type: ignore[arg-type]
                        state=ComposeState(), inline=inline)


def test_compose_spec_sends_only_the_images_the_html_still_shows() -> None:
    raw = _html_mail('<p><img src="cid:a@j"><img src="cid:b@j"></p>',
                     images={"a@j": PNG, "b@j": PNG + b"2"})
    prefill = _reply(raw, rich=True)
    first, second = _cids(prefill.body_html)
    edited = prefill.body_html.replace(f'<img src="cid:{second}">', "")
    spec = _spec(edited, prefill.inline)
    assert [p.content_id for p in spec.inline] == [first]
    assert _spec(edited.replace(f"cid:{first}", ""), prefill.inline).inline == ()


def test_resumed_html_draft_keeps_its_images() -> None:
    raw = _html_mail('<p>Draft <img src="cid:a@j"></p>', images={"a@j": PNG})
    prefill = draft_prefill(raw, folder="Drafts", uid=3)
    assert prefill.format == "html"
    (cid,) = _cids(prefill.body_html)
    assert [(p.content_id, p.data) for p in prefill.inline] == [(cid, PNG)]
    assert prefill.attachments == []


def test_rename_cids_touches_only_references() -> None:
    html = ('<p>cid:a@j as text</p><img src="cid:a@j"><img src="cid:a@j.x">'
            '<div style=\'background:url("cid:a@j")\'></div>')
    out = htmlquote.rename_cids(html, {"a@j": "n@k"})
    assert out == ('<p>cid:a@j as text</p><img src="cid:n@k"><img src="">'
                   '<div style=\'background:url("cid:n@k")\'></div>')
