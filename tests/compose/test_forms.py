"""ComposeForm: addresses (good and bad lists), header injection, identities."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Identity
from webmail.compose.forms import ComposeForm

TOKEN = "0123456789abcdef0123456789abcdef"
IDENTITIES = [Identity(email="me@example.test", display_name="Me"),
              Identity(email="team@example.test", display_name="Team")]


def _form(**data: Any) -> ComposeForm:
    base = {"token": TOKEN, "from_email": "me@example.test", "to": "a@example.test",
            "subject": "Hi", "body": "Hello", "format": "plain"}
    base.update(data)
    return ComposeForm(base, identities=IDENTITIES)


@pytest.mark.parametrize("value,expected", [
    ("a@example.test", [("", "a@example.test")]),
    ('"Doe, Jane" <jane@example.test>, bob@example.test',
     [("Doe, Jane", "jane@example.test"), ("", "bob@example.test")]),
    ("Jürgen Müller <jürgen@bücher.example>", [("Jürgen Müller", "jürgen@bücher.example")]),
    ("δοκιμή@παράδειγμα.δοκιμή", [("", "δοκιμή@παράδειγμα.δοκιμή")]),
    ('"john..doe"@example.test', [("", '"john..doe"@example.test')]),
    ("a@example.test; b@Example.TEST", [("", "a@example.test"), ("", "b@example.test")]),
    ("user@[192.0.2.1]", [("", "user@[192.0.2.1]")]),
])
def test_good_address_lists(value: str, expected: list[tuple[str, str]]) -> None:
    form = _form(to=value)
    assert form.is_valid(), form.errors
    assert [(a.name, a.email) for a in form.cleaned_data["to"]] == expected


@pytest.mark.parametrize("value", [
    "not an address", "foo@", "@example.test", "a@b@c", "a@-bad-.test", "a@exa mple.test",
    "Jane <jane@example.test", "a@example.test, , garbage", "john..doe@example.test",
])
def test_bad_address_lists_are_refused_per_field(value: str) -> None:
    form = _form(cc=value)
    assert not form.is_valid()
    assert set(form.errors) == {"cc"}
    assert all("“" in e for e in form.errors["cc"])  # each error names the refused item


def test_each_refused_item_gets_its_own_error() -> None:
    form = _form(to="good@example.test, bad@, worse")
    assert not form.is_valid()
    assert len(form.errors["to"]) == 2


def test_a_recipient_is_needed_to_send_but_not_for_a_draft() -> None:
    form = _form(to="")
    assert not form.is_valid() and "to" in form.errors
    draft = ComposeForm({"token": TOKEN, "from_email": "me@example.test"},
                        identities=IDENTITIES, require_recipients=False)
    assert draft.is_valid(), draft.errors


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: victim@example.test", "Hi\nX: y", "a\rb",
                                     "nul\x00byte", "line\u2028sep"])
def test_header_injection_in_subject_is_refused(subject: str) -> None:
    form = _form(subject=subject)
    assert not form.is_valid()
    assert "subject" in form.errors


def test_injection_in_a_display_name_is_refused() -> None:
    form = _form(to='"Eve\r\nBcc: victim@example.test" <eve@example.test>')
    assert not form.is_valid() and "to" in form.errors


@pytest.mark.parametrize("sender", ["boss@example.test", "me@example.test\r\nBcc: x@y.test",
                                    "", "ME@example.test "])
def test_from_outside_the_identities_is_refused(sender: str) -> None:
    form = _form(from_email=sender)
    assert not form.is_valid()
    assert "from_email" in form.errors


def test_from_an_identity_is_accepted_and_resolves() -> None:
    form = _form(from_email="team@example.test")
    assert form.is_valid(), form.errors
    assert form.identity.display_name == "Team"


@pytest.mark.parametrize("token", ["", "../../etc", "0123", "g" * 32, TOKEN.upper()])
def test_bad_token_is_refused(token: str) -> None:
    assert "token" in _form(token=token).errors


def test_unknown_format_falls_back_to_plain() -> None:
    form = _form(format="evil")
    assert not form.is_valid() and "format" in form.errors
