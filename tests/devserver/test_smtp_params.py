"""MAIL/RCPT argument parsing of the development SMTP server (the DSN extension, RFC 3461)."""

from __future__ import annotations

import pytest

from webmail.devserver.smtp_params import (
    MailParams,
    ParamError,
    RcptParams,
    parse_mail_params,
    parse_path,
    parse_rcpt_params,
)


def test_paths_with_and_without_angle_brackets() -> None:
    assert parse_path("FROM:<a@example.test> SIZE=10", "FROM:", allow_empty=True) == (
        "a@example.test", ["SIZE=10"])
    assert parse_path("from: b@example.test", "FROM:", allow_empty=True) == ("b@example.test", [])
    assert parse_path("FROM:<>", "FROM:", allow_empty=True) == ("", [])


@pytest.mark.parametrize(("arg", "code"), [
    ("TO:<>", "553"), ("TO:<no-at-sign>", "553"), ("<a@b.test>", "501"), (None, "501"),
    ("TO:<a@b@c.test>", "553"),
])
def test_bad_paths(arg: str | None, code: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_path(arg, "TO:", allow_empty=False)
    assert info.value.reply.startswith(code)


def test_mail_params_keep_the_envid_case_and_decode_xtext() -> None:
    params = parse_mail_params(["ENVID=Out-42+2Bx", "ret=hdrs", "BODY=8BITMIME", "SMTPUTF8",
                                "SIZE=100"], size_limit=1000)
    assert params == MailParams(size=100, body="8BITMIME", smtputf8=True, envid="Out-42+x",
                                ret="HDRS")


@pytest.mark.parametrize(("words", "code"), [
    (["RET=ALL"], "501"), (["ENVID=" + "x" * 101], "501"), (["ENVID"], "501"),
    (["BODY=BINARYMIME"], "501"), (["SIZE=5000"], "552"), (["XFOO=1"], "555"),
    (["RET=FULL", "ret=HDRS"], "501"), (["SMTPUTF8=yes"], "501"), (["=x"], "501"),
])
def test_bad_mail_params(words: list[str], code: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_mail_params(words, size_limit=1000)
    assert info.value.reply.startswith(code)


def test_rcpt_params() -> None:
    params = parse_rcpt_params(["NOTIFY=success,DELAY", "ORCPT=rfc822;bob+2Bx@example.test"])
    assert params == RcptParams(notify=frozenset({"SUCCESS", "DELAY"}),
                                orcpt="rfc822;bob+x@example.test")
    assert params.wants("SUCCESS") and params.wants("DELAY") and not params.wants("FAILURE")


def test_without_notify_only_failures_are_reported_and_never_means_never() -> None:
    assert RcptParams().wants("FAILURE") and not RcptParams().wants("DELAY")
    never = parse_rcpt_params(["NOTIFY=NEVER"])
    assert not any(never.wants(e) for e in ("SUCCESS", "FAILURE", "DELAY"))


@pytest.mark.parametrize(("words", "code"), [
    (["NOTIFY=NEVER,FAILURE"], "501"), (["NOTIFY=SOMETIMES"], "501"), (["NOTIFY="], "501"),
    (["ORCPT=bob@example.test"], "501"), (["ORCPT=rfc822;a+0Ab"], "501"), (["FOO"], "555"),
])
def test_bad_rcpt_params(words: list[str], code: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_rcpt_params(words)
    assert info.value.reply.startswith(code)
