"""Two-factor sign-in: enrolment, the code after the password, recovery codes, domains."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEntry, Domain, ServerProfile, User
from accounts.twofactor import two_factor_enabled
from tests.accounts.conftest import totp_code
from tests.conftest import Persona, sign_in
from webmail.mailconn import SESSION_KEY

pytestmark = pytest.mark.django_db


def _enrol(client: Client, user: User) -> tuple[TOTPDevice, list[str]]:
    assert client.post("/settings/two-factor/start/").status_code == 302
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post("/settings/two-factor/confirm/", {"code": totp_code(device)})
    assert response.status_code == 200, response.content[:500]
    assert response["Cache-Control"] == "no-store"
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", response.content.decode())
    device.refresh_from_db()
    assert device.confirmed
    return device, codes


def _unthrottle(user: User) -> None:
    """Forget django-otp's back-off after a deliberate wrong code (1 s, then doubling)."""
    for model in (TOTPDevice, StaticDevice):
        model.objects.filter(user=user).update(throttling_failure_count=0,
                                               throttling_failure_timestamp=None)


def _password_step(persona: Persona, client: Client | None = None) -> Client:
    client = client or Client()
    response = client.post("/login/", {"username": persona.address,
                                       "password": persona.password, "next": "/settings/"})
    assert response.status_code == 302
    assert response["Location"] == "/login/code/?next=%2Fsettings%2F"
    return client


def test_enrolment_shows_qr_and_uri_then_recovery_codes_once(alice_client: Client,
                                                             alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    assert b"Set up two-factor sign-in" in alice_client.get("/settings/two-factor/").content
    alice_client.post("/settings/two-factor/start/")
    page = alice_client.get("/settings/two-factor/").content.decode()
    assert "otpauth://totp/Webmail%3A" in page and "&amp;issuer=Webmail" in page
    assert 'src="/settings/two-factor/qr.svg"' in page and "<script>" not in page
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = re.search(r"secret=([A-Z2-7]+)", page)
    assert secret is not None
    grouped = " ".join(secret[1][i:i + 4] for i in range(0, len(secret[1]), 4))
    assert f'<code class="manual-key">{grouped}</code>' in page
    assert pending.bin_key == base64.b32decode(secret[1] + "=" * (-len(secret[1]) % 8))
    qr = alice_client.get("/settings/two-factor/qr.svg")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"
    assert qr.content.startswith(b"<?xml") or qr.content.startswith(b"<svg")
    assert b"<script" not in qr.content and "no-store" in qr["Cache-Control"]

    wrong = alice_client.post("/settings/two-factor/confirm/", {"code": "000000"})
    assert wrong.status_code == 400 and not two_factor_enabled(user)
    _device, codes = _enrol(alice_client, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    # Stored hashed: no code appears in the database.
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    plain = {c.replace("-", "") for c in codes} | set(codes)
    assert len(stored) == 10 and not stored & plain
    # The key is not shown again once confirmed, and the codes are not on any page.
    assert alice_client.get("/settings/two-factor/qr.svg").status_code == 404
    page = alice_client.get("/settings/two-factor/").content.decode()
    assert "otpauth://" not in page and codes[0] not in page
    assert "10 unused recovery codes" in page
    assert AuditEntry.objects.filter(kind="security_change", actor=user,
                                     detail="two-factor sign-in turned on").exists()


def test_sign_in_asks_for_the_code_after_the_password(alice_client: Client,
                                                      alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    device, _codes = _enrol(alice_client, user)

    client = _password_step(alice)
    # Half-way: not signed in, no mail credential yet, nothing else reachable.
    session = Session.objects.get(session_key=client.cookies["sessionid"].value)
    data = session.get_decoded()
    assert "_auth_user_id" not in data and SESSION_KEY not in data
    assert alice.password not in session.session_data and alice.password not in str(data)
    assert client.get("/settings/").status_code == 302
    assert client.get("/login/code/").status_code == 200

    wrong = client.post("/login/code/", {"code": "123456", "next": "/settings/"})
    assert wrong.status_code == 200 and b"That code is not right" in wrong.content
    assert "_auth_user_id" not in client.session
    _unthrottle(user)  # the device's own back-off is tested below

    response = client.post("/login/code/", {"code": totp_code(device, offset_steps=1),
                                            "next": "/settings/"})
    assert response.status_code == 302 and response["Location"] == "/settings/"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert SESSION_KEY in client.session
    assert client.get("/settings/").status_code == 200
    assert AuditEntry.objects.filter(kind="sign_in", actor=user,
                                     detail="second factor: authenticator app").exists()
    assert AuditEntry.objects.filter(kind="sign_in_failed", subject=alice.address,
                                     detail="wrong second-factor code").exists()


def test_the_same_totp_code_works_only_once(alice_client: Client, alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    device, _codes = _enrol(alice_client, user)
    code = totp_code(device, offset_steps=1)
    first = _password_step(alice)
    assert first.post("/login/code/", {"code": code}).status_code == 302
    second = _password_step(alice)
    assert second.post("/login/code/", {"code": code}).status_code == 200
    assert "_auth_user_id" not in second.session


def test_a_recovery_code_works_once(alice_client: Client, alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    _device, codes = _enrol(alice_client, user)
    client = _password_step(alice)
    response = client.post("/login/code/", {"code": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert AuditEntry.objects.filter(kind="sign_in", actor=user,
                                     detail="second factor: recovery code (9 left)").exists()
    again = _password_step(alice)
    assert again.post("/login/code/", {"code": codes[3]}).status_code == 200
    assert "_auth_user_id" not in again.session
    assert StaticToken.objects.filter(device__user=user).count() == 9


def test_wrong_codes_are_throttled(alice_client: Client, alice: Persona, settings: Any
                                   ) -> None:
    settings.WEBMAIL_LOGIN_MAX_FAILURES = 50  # only the code limit is under test here
    settings.OTP_TOTP_THROTTLE_FACTOR = 60  # django-otp's back-off: 60 s after one failure
    user = User.objects.get(username=alice.address)
    device, _codes = _enrol(alice_client, user)
    client = _password_step(alice)
    for _ in range(4):
        assert client.post("/login/code/", {"code": "111111"}).status_code == 200
    # The fifth wrong code drops the half-way sign-in: the password is needed again.
    fifth = client.post("/login/code/", {"code": "111111"})
    assert fifth.status_code == 429 and b"Too many wrong codes" in fifth.content
    assert client.get("/login/code/")["Location"].startswith("/login/")
    # The device itself backs off: even the right code is refused for now.
    device.refresh_from_db()
    assert device.throttling_failure_count >= 1
    client = _password_step(alice)
    assert client.post("/login/code/", {"code": totp_code(device)}).status_code == 200
    assert "_auth_user_id" not in client.session
    # Wrong codes count as failed sign-ins of the address, too.
    settings.WEBMAIL_LOGIN_MAX_FAILURES = 6
    response = Client().post("/login/", {"username": alice.address,
                                         "password": alice.password})
    assert response.status_code == 429


def test_the_half_way_state_expires(alice_client: Client, alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    device, _codes = _enrol(alice_client, user)
    client = _password_step(alice)
    session = client.session
    session["pending_sign_in"] = {**session["pending_sign_in"], "at": 0}
    session.save()
    response = client.post("/login/code/", {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


def test_code_page_without_a_password_step_goes_to_sign_in(db: None) -> None:
    response = Client().get("/login/code/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    response = Client().post("/login/code/", {"code": "123456"})
    assert response.status_code == 302


def test_domain_requiring_two_factor_forces_enrolment(alice: Persona) -> None:
    profile = ServerProfile.objects.create(name="stack", imap_host="127.0.0.1",
                                           imap_port=10143, imap_security="none",
                                           smtp_host="127.0.0.1", smtp_port=10025)
    Domain.objects.create(name="example.test", profile=profile, require_two_factor=True)
    client = sign_in(Client(), alice)
    user = User.objects.get(username=alice.address)
    for path in ("/settings/", "/mail/INBOX/", "/compose/", "/outbox/", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == "/settings/two-factor/", path
    hx = client.get("/compose/", HTTP_HX_REQUEST="true")
    assert hx["HX-Redirect"] == "/settings/two-factor/"
    page = client.get("/settings/two-factor/")
    assert page.status_code == 200 and b"requires two-factor sign-in" in page.content
    # It cannot be turned off while the domain requires it.
    device, _codes = _enrol(client, user)
    assert client.get("/settings/").status_code == 200
    client.post("/settings/two-factor/off/", {"code": totp_code(device, offset_steps=1)})
    assert two_factor_enabled(user)
    assert client.post("/logout/").status_code == 302


def test_turning_off_needs_a_code(alice_client: Client, alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    device, _codes = _enrol(alice_client, user)
    assert alice_client.post("/settings/two-factor/off/",
                             {"code": "000000"}).status_code == 400
    assert two_factor_enabled(user)
    _unthrottle(user)
    response = alice_client.post("/settings/two-factor/off/",
                                 {"code": totp_code(device, offset_steps=1)})
    assert response.status_code == 302 and not two_factor_enabled(user)
    assert not StaticToken.objects.filter(device__user=user).exists()
    assert sign_in(Client(), alice)  # the password alone is enough again


def test_new_recovery_codes_replace_the_old(alice_client: Client, alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    device, old = _enrol(alice_client, user)
    response = alice_client.post("/settings/two-factor/recovery-codes/",
                                 {"code": totp_code(device, offset_steps=1)})
    new = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    client = _password_step(alice)
    assert client.post("/login/code/", {"code": old[0]}).status_code == 200
    _unthrottle(user)
    assert client.post("/login/code/", {"code": new[0]}).status_code == 302


def test_admin_reset_of_two_factor(staff_client: Client, alice_client: Client,
                                   alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    _enrol(alice_client, user)
    response = staff_client.post("/admin/accounts/user/", {
        "action": "reset_two_factor", "_selected_action": [str(user.pk)]})
    assert response.status_code == 302
    assert not two_factor_enabled(user)
    assert AuditEntry.objects.filter(kind="admin_change",
                                     detail=f"reset two-factor sign-in of {alice.address}"
                                     ).exists()
    sign_in(Client(), alice)
