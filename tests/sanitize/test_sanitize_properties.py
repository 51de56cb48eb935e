"""Property tests: whatever the input, the sanitizer returns, and returns nothing active."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sanitize.sanitize_checks import parse_output, safety_problems
from webmail.sanitize import RemotePolicy, sanitize_compose_html, sanitize_html

CIDS = {"a@b": "/mail/INBOX/1/part/2/?inline=1"}
SETTINGS = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

TAGS = ["script", "style", "svg", "math", "a", "img", "table", "tr", "td", "p", "b", "div",
        "textarea", "noscript", "template", "iframe", "xmp", "title", "select", "option",
        "form", "button", "input", "object", "embed", "mglyph", "mtext", "foreignObject", "desc",
        "animate", "set", "use", "image", "base", "meta", "link", "body", "html", "head",
        "noembed", "plaintext", "listing", "font", "frameset", "keygen", "details", "video"]
ATTRS = ["onerror", "onload", "onclick", "ONmouseover", "href", "src", "style", "xlink:href",
         "background", "srcset", "id", "name", "class", "formaction", "action", "poster",
         "attributeName", "values", "to", "from", "srcdoc", "data", "title", "bgcolor", "xmlns",
         "autofocus", "target", "rel"]
VALUES = ["javascript:alert(1)", "java\tscript:alert(1)", "&#106;avascript:alert(1)",
          "jav&#x09;ascript:x", " javascript:x", "vbscript:x", "data:text/html,<script>x</script>",
          "data:image/svg+xml;base64,PHN2Zz4=", "http://127.0.0.1:9/x", "https://t.test/i.png",
          "//t.test/x", "cid:a@b", "cid:missing", "#x", "x", "expression(alert(1))",
          "color:red;background:url(javascript:x)", "background:url(http://127.0.0.1:9/)",
          "width:1px;position:fixed", '"><script>alert(1)</script>',
          "</style><img src=x onerror=alert(1)>", "<!--", "-->", "href", "onerror",
          "x:expression(alert(1))", "\\75rl(http://t.test/)", "&quot;", "&", "\x00", "\u2028"]
TEXT = ["<", ">", "</", "/>", '"', "'", "=", "&", "&lt;", "&#", "<!--", "-->", "--!>", "]]>",
        "<![CDATA[", "<!", "<?", "?>", " ", "\n", "x", "alert(1)", "\x00", "`", "&nvgt;",
        "url(http://127.0.0.1:9/)", "@import 'http://127.0.0.1:9/';", "{", "}", ";", ":"]


@st.composite
def tag_soup(draw: st.DrawFn) -> str:
    pieces: list[str] = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.integers(0, 3))
        tag = draw(st.sampled_from(TAGS))
        if kind == 0:
            attrs = draw(st.lists(st.tuples(st.sampled_from(ATTRS), st.sampled_from(VALUES),
                                            st.sampled_from(['"', "'", ""])), max_size=3))
            rendered = "".join(f" {n}={q}{v}{q}" for n, v, q in attrs)
            pieces.append(f"<{tag}{rendered}{draw(st.sampled_from(['', '/']))}>")
        elif kind == 1:
            pieces.append(f"</{tag}>")
        else:
            pieces.append(draw(st.sampled_from(TEXT)))
    return "".join(pieces)


def _check(html: str) -> None:
    for policy in RemotePolicy:
        result = sanitize_html(html, policy=policy, cid_map=CIDS)
        block = policy is RemotePolicy.BLOCK
        problems = safety_problems(result.html, block=block, text_may_hold_beacon=True)
        assert not problems, result.html
        assert result.remote_blocked >= 0 and (result.remote_blocked == 0 or block)
        assert result.has_remote or result.remote_blocked == 0
        again = sanitize_html(result.html, policy=policy, cid_map=CIDS)
        assert again.html == result.html
        root = parse_output(result.html)
        assert not list(root.iter("script"))
    composed = sanitize_compose_html(html)
    problems = safety_problems(composed, block=True, compose=True, text_may_hold_beacon=True)
    assert not problems, composed
    assert sanitize_compose_html(composed) == composed


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_is_safe(html: str) -> None:
    _check(html)


@SETTINGS
@given(tag_soup())
def test_generated_tag_soup_is_safe(html: str) -> None:
    _check(html)


@SETTINGS
@given(st.lists(st.sampled_from(TEXT + [f"<{t}" for t in TAGS] + VALUES), max_size=40))
def test_token_shuffles_are_safe(parts: list[str]) -> None:
    _check("".join(parts))
