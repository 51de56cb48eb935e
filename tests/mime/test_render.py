"""Display pieces: text_to_html, html_to_text, reply quoting, the forward block."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from webmail.mime.addresses import Address
from webmail.mime.render import (
    enriched_to_text,
    forward_header_block,
    html_to_text,
    quote_for_reply,
    text_to_html,
    unflow,
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags_of(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser


def assert_only_our_markup(markup: str) -> None:
    for tag, attrs in tags_of(markup).tags:
        assert tag in ("div", "br", "blockquote", "a"), tag
        if tag == "a":
            assert set(attrs) == {"href", "rel", "target"}
            assert (attrs["href"] or "").lower().startswith(("http://", "https://", "mailto:"))
            assert attrs["rel"] == "noopener noreferrer" and attrs["target"] == "_blank"
        else:
            assert set(attrs) <= {"class"}


def test_text_is_escaped() -> None:
    markup = text_to_html("<script>alert(1)</script> & \"quotes\" 'single'")
    assert "<script" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; &#x27;single&#x27;" in (
        markup
    )
    assert_only_our_markup(markup)


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("see https://example.org/a?b=1&c=2.", "https://example.org/a?b=1&amp;c=2"),
        ("(http://example.org/x_(y))", "http://example.org/x_(y)"),
        ("mail mailto:ann@example.org, thanks", "mailto:ann@example.org"),
        ('http://evil.example/"onmouseover="alert(1)', "http://evil.example/"),
        ("HTTPS://EXAMPLE.ORG/UP", "HTTPS://EXAMPLE.ORG/UP"),
    ],
)
def test_links(text: str, href: str) -> None:
    markup = text_to_html(text)
    assert f'<a href="{href}" rel="noopener noreferrer" target="_blank">' in markup
    assert_only_our_markup(markup)


@pytest.mark.parametrize(
    "text", ["javascript:alert(1)", "data:text/html,<b>x</b>", "vbscript:x", "http://", "ftp://x.y"]
)
def test_other_schemes_are_not_linked(text: str) -> None:
    markup = text_to_html(text)
    assert "<a " not in markup
    assert_only_our_markup(markup)


def test_quotes_become_nested_blockquotes_and_signature_is_marked() -> None:
    markup = text_to_html("hi\n> one\n>> two\n> one again\nback\n-- \nAnn")
    assert markup.count('<blockquote class="mail-quote">') == 2
    assert markup.index("one") < markup.index("two") < markup.index("back")
    assert '<div class="mail-signature">' in markup
    assert_only_our_markup(markup)
    assert "".join(tags_of(markup).text) == "hionetwoone againback-- Ann"


def test_spaces_and_flowed_text() -> None:
    assert "a &nbsp;&nbsp;b" in text_to_html("a   b")
    assert text_to_html("para \ngraph", flowed=True) == text_to_html("para graph")


def test_unflow() -> None:
    assert unflow("one \ntwo\n>> q1 \n>> q2\n-- \nsig") == "one two\n>> q1 q2\n-- \nsig"
    assert unflow(" From stuffed") == "From stuffed"
    assert unflow("日本 \n語", delsp=True) == "日本語"


def test_enriched() -> None:
    text = "<bold>Bold</bold> and <param>x</param><<angle>\n\nnext<nofill>\na\nb</nofill>"
    assert enriched_to_text(text) == "Bold and <angle>\nnext\na\nb"


def test_html_to_text_structure() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<p>Hello&nbsp;<b>world</b></p><script>alert(1)</script>"
        "<ul><li>one</li><li>two</li></ul><blockquote><p>quoted</p><blockquote>deeper"
        "</blockquote></blockquote><a href='https://example.org'>site</a><br>"
        "<a href='https://example.org'>https://example.org</a><img alt='logo'>"
        "<pre>  keep   spaces</pre></body></html>"
    )
    text = html_to_text(html)
    assert text == (
        "Hello world\n\n- one\n- two\n\n> quoted\n>\n>> deeper\n\n"
        "site <https://example.org>\nhttps://example.org[logo]\n\n  keep   spaces"
    )


@pytest.mark.parametrize(
    "html", ["<![foo[x]]>bar", "<a href='x", "<!--", "</p></p>", "&#xdeadbeef;"]
)
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)


def test_quote_for_reply() -> None:
    quoted = quote_for_reply(
        "Hi\n\n> earlier\nbye\n", "Ann <ann@example.org>", datetime(2026, 6, 2, 9, 15, tzinfo=UTC)
    )
    assert quoted == (
        "On Tue, 02 Jun 2026 at 09:15, Ann <ann@example.org> wrote:\n> Hi\n>\n>> earlier\n> bye\n"
    )
    assert quote_for_reply("x", "Bob", None) == "Bob wrote:\n> x\n"


def test_forward_header_block() -> None:
    block = forward_header_block(
        subject="Plans",
        from_=(Address("Ann", "ann@example.org"),),
        to=(Address("", "bob@example.org"), Address("Cy", "cy@example.org")),
        date="Tue, 2 Jun 2026 09:15",
    )
    assert block == (
        "---------- Forwarded message ----------\nFrom: Ann <ann@example.org>\n"
        "Date: Tue, 2 Jun 2026 09:15\nSubject: Plans\nTo: bob@example.org, Cy <cy@example.org>\n"
    )
