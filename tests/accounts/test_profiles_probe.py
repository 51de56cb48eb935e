"""The "test connection" admin action and ``check_profiles`` against the real mail stack."""

from __future__ import annotations

import socket
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import ServerProfile
from accounts.probe import profile_check
from tests.conftest import Persona
from webmail.imap.types import Credentials

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stack_profile(name: str = "stack") -> ServerProfile:
    return ServerProfile.objects.create(
        name=name, imap_host="127.0.0.1", imap_port=10143, imap_security="none",
        smtp_host="127.0.0.1", smtp_port=10025, smtp_security="none", smtp_auth="none",
        timeout=5, smtp_timeout=5)


def _closed_profile(name: str = "closed") -> ServerProfile:
    port = _closed_port()
    return ServerProfile.objects.create(
        name=name, imap_host="127.0.0.1", imap_port=port, imap_security="none",
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", timeout=2,
        smtp_timeout=2)


def _steps(report: object) -> dict[str, str]:
    return {s.name: s.status for s in report.steps}  # type: ignore[attr-defined]


def test_probe_of_the_real_dovecot_without_signing_in(mail_stack: None) -> None:
    check = profile_check(_stack_profile())
    assert check.imap.ok
    assert _steps(check.imap) == {"TCP connect": "ok", "greeting": "ok",
                                  "CAPABILITY": "ok", "LOGIN": "skipped"}
    assert "IMAP4REV1" in check.imap.capabilities
    greeting = next(s for s in check.imap.steps if s.name == "greeting")
    assert "Dovecot" in greeting.detail


def test_probe_signs_in_only_with_a_test_credential(alice: Persona) -> None:
    profile = _stack_profile()
    good = profile_check(profile, credentials=Credentials(alice.address, alice.password))
    assert _steps(good.imap)["LOGIN"] == "ok"
    bad = profile_check(profile, credentials=Credentials(alice.address, "wrong"))
    assert _steps(bad.imap)["LOGIN"] == "failed" and not bad.ok


def test_probe_of_a_closed_port_fails_at_connect(db: None) -> None:
    check = profile_check(_closed_profile())
    assert not check.ok
    assert [(s.name, s.status) for s in check.imap.steps] == [("TCP connect", "failed")]
    assert "refused" in check.imap.steps[0].detail
    profile = ServerProfile.objects.get(name="closed")
    assert profile.last_check_ok is False and "TCP connect" in profile.last_check_report


def test_probe_reports_a_failed_starttls(mail_stack: None) -> None:
    profile = _stack_profile()
    profile.imap_security = "starttls"  # the test Dovecot offers no STARTTLS
    profile.save()
    steps = _steps(profile_check(profile).imap)
    assert steps["greeting"] == "ok" and steps["STARTTLS"] == "failed"


def test_smtp_half_reports_each_step(mail_stack: None) -> None:
    smtp = profile_check(_stack_profile()).smtp
    assert smtp.ok, smtp.steps
    assert smtp.server == "127.0.0.1:10025 (none)"
    names = [s.name for s in smtp.steps]
    assert names == ["connect and greeting", "EHLO", "AUTH"]
    ehlo = smtp.steps[1]
    assert ehlo.status == "ok" and "DSN" in ehlo.detail and "SIZE" in ehlo.detail
    assert "DSN" in smtp.capabilities
    assert smtp.steps[2].status == "skipped"  # no test credential: no AUTH tried
    closed = profile_check(_closed_profile("closed-smtp")).smtp
    assert not closed.ok
    assert closed.server.startswith("127.0.0.1:")
    assert closed.steps[-1].status == "failed" and "Refused" in closed.steps[-1].detail


def test_smtp_probe_auth_against_postfix_submission(mail_stack: None) -> None:
    from tests.infra import mailstack
    from webmail.imap.types import Credentials, Security, ServerAddress
    from webmail.outbox.smtp import probe

    server = ServerAddress("127.0.0.1", mailstack.SUBMISSION_PORT, Security.NONE, 5)
    address = mailstack.new_address()
    good = probe(server, Credentials(address, mailstack.PASSWORD))
    assert good.ok and good.steps[-1] == type(good.steps[-1])("AUTH", "ok", "accepted")
    bad = probe(server, Credentials(address, "wrong"))
    assert not bad.ok and bad.steps[-1].status == "failed" and "535" in bad.steps[-1].detail


def test_admin_action_reports_each_profile(staff_client: Client, mail_stack: None) -> None:
    good, bad = _stack_profile(), _closed_profile()
    response = staff_client.post("/admin/accounts/serverprofile/", {
        "action": "test_connection", "_selected_action": [str(good.pk), str(bad.pk)]})
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="probe-{good.pk}"' in page and f'id="probe-{bad.pk}"' in page
    assert "stack — everything answered" in page
    assert "closed — something failed" in page
    assert "connection refused" in page and "Dovecot" in page
    assert "IMAP 127.0.0.1:10143 (none) — ok" in page
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.last_check_ok is True and bad.last_check_ok is False
    listing = staff_client.get("/admin/accounts/serverprofile/").content.decode()
    assert "icon-yes.svg" in listing and "icon-no.svg" in listing


def test_admin_test_page_with_a_credential(staff_client: Client, alice: Persona) -> None:
    profile = _stack_profile()
    url = f"/admin/accounts/serverprofile/{profile.pk}/test/"
    form = staff_client.get(url)
    assert form.status_code == 200 and b'name="password"' in form.content
    assert f'href="{url}"'.encode() in staff_client.get(
        f"/admin/accounts/serverprofile/{profile.pk}/change/").content
    response = staff_client.post(url, {"address": alice.address, "password": alice.password})
    page = response.content.decode()
    assert response.status_code == 200
    assert f"signed in as {alice.address}" in page
    assert alice.password not in page  # the password is not echoed back


def test_check_profiles_exit_codes(mail_stack: None) -> None:
    _stack_profile()
    out = StringIO()
    call_command("check_profiles", stdout=out)
    text = out.getvalue()
    assert "stack" in text and "ok 127.0.0.1:10143 (none)" in text
    assert "all 1 profile(s) answered" in text

    _closed_profile()
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("check_profiles", stdout=out)
    assert failed.value.returncode == 1
    assert "1 of 2 profile(s) failed" in str(failed.value)
    assert "closed IMAP [failed] TCP connect: connection refused" in out.getvalue()


def test_check_profiles_without_profiles_checks_the_default(mail_stack: None,
                                                            settings: Any) -> None:
    out = StringIO()
    call_command("check_profiles", stdout=out)
    assert "(default from settings)" in out.getvalue()
    settings.WEBMAIL_IMAP_PORT = _closed_port()
    with pytest.raises(CommandError):
        call_command("check_profiles", stdout=StringIO())

