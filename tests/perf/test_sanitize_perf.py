"""The sanitizer's performance mechanisms: style values filtered once per call, a size cap.

Functional checks (counts, flags), not timings.
"""

from __future__ import annotations

import pytest

from webmail.sanitize import MAX_HTML_CHARS, RemotePolicy, sanitize_html
from webmail.sanitize_css import UrlPolicy, sanitize_declarations


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    def spy(text: str, policy: UrlPolicy) -> str:
        seen.append(text)
        return sanitize_declarations(text, policy)

    monkeypatch.setattr("webmail.sanitize.sanitize_declarations", spy)
    return seen


def test_repeated_style_values_are_filtered_once_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    cell = '<td style="color:#333;padding:4px;position:fixed">x</td>'
    html = "<table><tr>" + cell * 400 + "</tr></table>"
    result = sanitize_html(html)
    assert result.html.count('style="color:#333;padding:4px"') == 400
    assert "position" not in result.html
    # Each distinct text once, whatever the number of elements and passes that carry it.
    assert len(calls) == len(set(calls))
    assert len(calls) < 10


def test_memoised_styles_still_count_every_blocked_remote_image() -> None:
    block = '<div style="background:url(https://t.example/x.png)">a</div>'
    result = sanitize_html(block * 50, policy=RemotePolicy.BLOCK)
    assert result.remote_blocked == 50
    assert result.has_remote
    assert "t.example" not in result.html
    shown = sanitize_html(block * 50, policy=RemotePolicy.ALLOW)
    assert shown.html.count("https://t.example/x.png") == 50
    assert shown.remote_blocked == 0


def test_memo_is_not_shared_between_calls_with_different_policies() -> None:
    html = '<p style="background-image:url(https://t.example/a.png)">x</p>'
    assert "t.example" in sanitize_html(html, policy=RemotePolicy.ALLOW).html
    assert "t.example" not in sanitize_html(html, policy=RemotePolicy.BLOCK).html
    assert "t.example" in sanitize_html(html, policy=RemotePolicy.ALLOW).html


def test_html_over_the_cap_is_truncated_and_still_sanitized() -> None:
    unit = "<p>filler text of a long document</p>"
    html = unit * (MAX_HTML_CHARS // len(unit) + 10) + "<script>alert(1)</script><p>END</p>"
    result = sanitize_html(html)
    assert result.truncated
    assert "END" not in result.html
    assert "<script" not in result.html
    assert result.html.count("<p>") <= MAX_HTML_CHARS // len(unit) + 1
    assert not sanitize_html(unit * 10).truncated


def test_truncation_does_not_cut_a_tag_in_two() -> None:
    head = "x" * (MAX_HTML_CHARS - 10)
    html = head + '<a href="https://example.org/a-long-path">link</a>'
    result = sanitize_html(html)
    assert result.truncated
    assert "<a" not in result.html
    assert result.html.endswith("x")


def test_a_truncated_body_says_so_in_the_message_view(monkeypatch: pytest.MonkeyPatch) -> None:
    from webmail.mail.bodies import _render
    from webmail.mime.parse import parse_message

    monkeypatch.setattr("webmail.sanitize.MAX_HTML_CHARS", 2000)
    html = "<p>paragraph of the newsletter</p>" * 200
    raw = ("From: a@example.org\r\nSubject: long\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()
    body = _render(parse_message(raw), RemotePolicy.BLOCK, {})
    assert "too long to show in full" in body.html
    assert body.html.count("paragraph of the newsletter") < 100
    short = _render(parse_message(raw[:400]), RemotePolicy.BLOCK, {})
    assert "too long" not in short.html


def test_a_body_over_the_time_budget_is_shown_as_plain_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("webmail.sanitize.FIRST_PASS_BUDGET", 0.0)
    html = ('<p style="color:red">Hello &amp; <b>world</b></p><script>alert(1)</script>'
            '<img src="https://t.example/x.png" onerror="alert(2)"><!-- <b> -->bye <unclosed')
    result = sanitize_html(html)
    assert result.html == '<div style="white-space:pre-wrap">Hello &amp; world bye</div>'
    assert result.remote_blocked == 1


def test_the_plain_text_fallback_is_linear_on_hostile_markup(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("webmail.sanitize.FIRST_PASS_BUDGET", 0.0)
    for hostile in ("<script" * 20000, "<!--" * 20000, "<" * 100000, "<a " * 30000):
        out = sanitize_html(hostile).html
        assert "<script" not in out and "<a " not in out
