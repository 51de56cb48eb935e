"""Session and CSRF cookies: HttpOnly, SameSite=Lax, Secure whenever SECURE_COOKIES (the
default without DEBUG); a new session key at sign-in; nothing of the password in clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client

from tests.conftest import Persona

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]

REPO = Path(__file__).resolve().parents[2]


def test_sign_in_sets_a_fresh_httponly_lax_session(alice: Persona) -> None:
    client = Client()
    client.get("/login/")
    before = client.cookies.get(settings.SESSION_COOKIE_NAME)
    response = client.post("/login/", {"username": alice.address, "password": alice.password})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert before is None or before.value != cookie.value  # no session fixation
    csrf = client.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["samesite"] == "Lax" and csrf["httponly"] is True
    session: SessionBase = client.session
    stored = repr(dict(session.items())) + str(session.session_key)
    assert alice.password not in stored


def test_sign_out_ends_the_session(alice: Persona) -> None:
    client = Client()
    client.post("/login/", {"username": alice.address, "password": alice.password})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/mail/INBOX/").status_code == 200
    client.post("/logout/")
    assert client.get("/mail/INBOX/").status_code == 302
    client.cookies[settings.SESSION_COOKIE_NAME] = key  # an old copy of the cookie
    assert client.get("/mail/INBOX/").status_code == 302


@pytest.mark.parametrize(("env", "secure"), [
    ({"SECURE_COOKIES": "1"}, True),
    ({}, True),  # DEBUG off: Secure by default
    ({"SECURE_COOKIES": "0"}, False),
])
def test_cookies_are_secure_when_configured(env: dict[str, str], secure: bool) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECURE_COOKIES", "DEBUG")}
    clean.update(env, DJANGO_SETTINGS_MODULE="webmail.settings",
                 SECRET_KEY="x" * 50, DEBUG="0")
    script = ("import django; django.setup(); from django.conf import settings as s; "
              "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
              " s.SESSION_COOKIE_SAMESITE)")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=clean, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert out == [str(secure), str(secure), "True", "Lax"]
