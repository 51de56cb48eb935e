"""Sign-in through the real Dovecot: password proved by IMAP LOGIN, never stored in clear."""

from __future__ import annotations

import logging
import socket

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.http import HttpRequest
from django.test import Client

from accounts.models import AuditEntry, Domain, ServerProfile, User
from accounts.services import client_ip
from tests.conftest import Persona, sign_in
from webmail.mailconn import SESSION_KEY, pool

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_right_password_signs_in_and_creates_the_account(alice: Persona) -> None:
    client = Client()
    response = client.post("/login/", {"username": alice.address.upper(),
                                       "password": alice.password})
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(username=alice.address)
    assert not user.has_usable_password()  # the IMAP server is the only judge
    assert AuditEntry.objects.filter(kind="sign_in", subject=alice.address).exists()
    assert client.get("/login/").status_code == 302  # already signed in


def test_wrong_password_is_refused_with_a_message(alice: Persona) -> None:
    response = Client().post("/login/", {"username": alice.address, "password": "nope"})
    assert response.status_code == 200
    assert b"The address or password is not right." in response.content
    assert not User.objects.filter(username=alice.address).exists()
    assert AuditEntry.objects.filter(kind="sign_in_failed", subject=alice.address).exists()


def test_session_key_rotates_at_sign_in(alice: Persona) -> None:
    client = Client()
    client.get("/login/")
    client.cookies["sessionid"] = "x" * 32
    sign_in(client, alice)
    assert client.cookies["sessionid"].value != "x" * 32


def test_password_is_nowhere_in_plain_text(alice: Persona, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    secret = alice.password
    caplog.set_level(logging.DEBUG)
    client = sign_in(Client(), alice)
    session = Session.objects.get(session_key=client.session.session_key)
    decoded = session.get_decoded()
    assert SESSION_KEY in decoded
    assert secret not in str(decoded)
    assert secret not in session.session_data
    with connection.cursor() as cursor:
        cursor.execute("SELECT password, username FROM accounts_user")
        assert all(secret not in str(row) for row in cursor.fetchall())
    assert secret not in caplog.text
    # A failed attempt does not log the password either.
    Client().post("/login/", {"username": alice.address, "password": "wrong-" + secret})
    assert "wrong-" + secret not in caplog.text


def test_sign_out_ends_session_and_imap_connections(alice: Persona) -> None:
    client = sign_in(Client(), alice)
    assert pool().idle_count(alice.address) >= 1
    response = client.post("/logout/")
    assert response.status_code == 302
    assert pool().idle_count(alice.address) == 0
    assert "_auth_user_id" not in client.session
    assert SESSION_KEY not in client.session


def test_sign_out_needs_post(alice: Persona) -> None:
    client = sign_in(Client(), alice)
    assert client.get("/logout/").status_code == 405


def test_server_down_gives_a_clear_page_not_500(alice: Persona) -> None:
    closed = _free_port()
    profile = ServerProfile.objects.create(name="down", imap_host="127.0.0.1",
                                           imap_port=closed, imap_security="none",
                                           smtp_host="127.0.0.1", smtp_port=closed, timeout=2)
    Domain.objects.create(name=alice.address.split("@")[1], profile=profile)
    response = Client().post("/login/", {"username": alice.address,
                                         "password": alice.password})
    assert response.status_code == 503
    assert b"cannot be reached" in response.content


def test_server_timeout_gives_a_clear_page(alice: Persona) -> None:
    # A listener that accepts but never greets: the read timeout must fire.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        port = silent.getsockname()[1]
        profile = ServerProfile.objects.create(name="silent", imap_host="127.0.0.1",
                                               imap_port=port, imap_security="none",
                                               smtp_host="127.0.0.1", smtp_port=port,
                                               timeout=1)
        Domain.objects.create(name=alice.address.split("@")[1], profile=profile)
        response = Client().post("/login/", {"username": alice.address,
                                             "password": alice.password})
        assert response.status_code == 503
    finally:
        silent.close()


def test_repeated_failures_are_throttled_per_address(alice: Persona, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WEBMAIL_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert client.post("/login/", {"username": alice.address,
                                       "password": "bad"}).status_code == 200
    # Even the right password is refused while throttled: no oracle for guessing.
    response = client.post("/login/", {"username": alice.address, "password": alice.password})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content


def test_repeated_failures_are_throttled_per_ip(new_persona, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WEBMAIL_LOGIN_IP_MAX_FAILURES = 4
    client = Client(REMOTE_ADDR="192.0.2.77")
    for _ in range(4):
        client.post("/login/", {"username": new_persona("t").address, "password": "bad"})
    other = new_persona("t")
    response = client.post("/login/", {"username": other.address, "password": other.password})
    assert response.status_code == 429
    # Another client address is not affected.
    assert Client(REMOTE_ADDR="192.0.2.78").post(
        "/login/", {"username": other.address, "password": other.password}).status_code == 302


def test_behind_a_proxy_the_forwarded_client_address_is_throttled(new_persona, settings) -> None:  # type: ignore[no-untyped-def]
    """Behind one proxy every request comes from the proxy's address: with
    WEBMAIL_TRUSTED_PROXIES=1 the throttle counts per client (the rightmost X-Forwarded-For
    entry, the one the proxy appended), and whatever a client puts further left is ignored."""
    settings.WEBMAIL_LOGIN_IP_MAX_FAILURES = 3
    settings.WEBMAIL_TRUSTED_PROXIES = 1

    def via_proxy(forwarded: str) -> Client:
        return Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)

    attacker = via_proxy("203.0.113.9")
    for i in range(3):  # the same client, claiming another address each time
        via_proxy(f"198.51.100.{i}, 203.0.113.9").post(
            "/login/", {"username": new_persona("t").address, "password": "bad"})
    other = new_persona("t")
    assert attacker.post("/login/", {"username": other.address,
                                     "password": other.password}).status_code == 429
    # Another client behind the same proxy is not affected.
    assert via_proxy("203.0.113.10").post(
        "/login/", {"username": other.address, "password": other.password}).status_code == 302
    # Without the header (or a malformed entry) the proxy's own address counts.
    assert client_ip_of({"REMOTE_ADDR": "10.0.0.2"}) == "10.0.0.2"
    assert client_ip_of({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "nonsense"}) == \
        "10.0.0.2"
    assert client_ip_of({"REMOTE_ADDR": "10.0.0.2",
                         "HTTP_X_FORWARDED_FOR": " 2001:db8::1 "}) == "2001:db8::1"
    settings.WEBMAIL_TRUSTED_PROXIES = 2  # a load balancer and a proxy
    assert client_ip_of({"REMOTE_ADDR": "10.0.0.2",
                         "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9, 10.0.0.1"}) == \
        "203.0.113.9"
    assert client_ip_of({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}) == \
        "10.0.0.2"
    settings.WEBMAIL_TRUSTED_PROXIES = 0  # no proxy: the header is the client's own say
    assert client_ip_of({"REMOTE_ADDR": "192.0.2.5", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}) == \
        "192.0.2.5"


def client_ip_of(meta: dict[str, str]) -> str | None:
    request = HttpRequest()
    request.META.update(meta)
    return client_ip(request)


def test_domain_without_auto_create_refuses_unknown_accounts(alice: Persona, bob: Persona
                                                             ) -> None:
    profile = ServerProfile.objects.create(name="test", imap_host="127.0.0.1",
                                           imap_port=10143, imap_security="none",
                                           smtp_host="127.0.0.1", smtp_port=10025)
    Domain.objects.create(name="example.test", profile=profile, auto_create_accounts=False)
    User.objects.create(username=bob.address)
    assert Client().post("/login/", {"username": alice.address,
                                     "password": alice.password}).status_code == 200
    assert Client().post("/login/", {"username": bob.address,
                                     "password": bob.password}).status_code == 302


def test_disabled_user_cannot_sign_in(alice: Persona) -> None:
    User.objects.create(username=alice.address, is_active=False)
    response = Client().post("/login/", {"username": alice.address,
                                         "password": alice.password})
    assert response.status_code == 200


def test_open_redirect_is_refused(alice: Persona) -> None:
    response = Client().post("/login/", {"username": alice.address, "password": alice.password,
                                         "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_login_page_has_strict_headers(db: None) -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_csrf_is_enforced_on_sign_in(alice: Persona) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": alice.address, "password": alice.password})
    assert response.status_code == 403
