"""Users in the admin: created by address, disabled (signed out at once), staff, audit."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import AuditEntry, Domain, Identity, ServerProfile, User, UserSession
from tests.conftest import Persona, sign_in
from webmail.mailconn import pool

pytestmark = pytest.mark.django_db


def _changelist_action(client: Client, action: str, users: list[User]) -> None:
    response = client.post("/admin/accounts/user/", {
        "action": action, "_selected_action": [str(u.pk) for u in users]})
    assert response.status_code == 302, response.content[:300]


def _change_form(user: User, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "first_name": user.first_name, "last_name": user.last_name,
        "is_active": "on" if user.is_active else "", "is_staff": "on" if user.is_staff else "",
        "max_messages_per_hour": "", "max_recipients_per_message": "",
        "max_message_bytes": "",
        "identities-TOTAL_FORMS": "0", "identities-INITIAL_FORMS": "0",
        "identities-MIN_NUM_FORMS": "0", "identities-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != "" or k.startswith("max_")}


def test_admin_creates_a_user_by_address_without_a_password(staff_client: Client,
                                                            staff_user: User) -> None:
    response = staff_client.post("/admin/accounts/user/add/",
                                 {"username": "  T-New@Example.test "})
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(username="t-new@example.test")
    assert user.email == "t-new@example.test"
    assert not user.has_usable_password() and user.is_active and not user.is_staff
    entry = AuditEntry.objects.get(kind="admin_change", subject__contains="t-new@example.test")
    assert entry.actor == staff_user and entry.detail.startswith("created user")


def test_admin_created_account_may_sign_in_where_auto_create_is_off(
        staff_client: Client, bob: Persona, alice: Persona) -> None:
    profile = ServerProfile.objects.create(name="stack", imap_host="127.0.0.1",
                                           imap_port=10143, imap_security="none",
                                           smtp_host="127.0.0.1", smtp_port=10025)
    Domain.objects.create(name="example.test", profile=profile, auto_create_accounts=False)
    staff_client.post("/admin/accounts/user/add/", {"username": bob.address})
    assert Client().post("/login/", {"username": bob.address,
                                     "password": bob.password}).status_code == 302
    refused = Client().post("/login/", {"username": alice.address,
                                        "password": alice.password})
    assert refused.status_code == 200 and not User.objects.filter(
        username=alice.address).exists()


def test_disabling_in_the_change_form_signs_the_user_out_at_once(
        staff_client: Client, alice: Persona) -> None:
    alice_client = sign_in(Client(), alice)
    second_device = sign_in(Client(), alice)
    user = User.objects.get(username=alice.address)
    assert UserSession.objects.filter(user=user).count() == 2
    assert pool().idle_count(alice.address) >= 1
    assert alice_client.get("/settings/").status_code == 200

    response = staff_client.post(f"/admin/accounts/user/{user.pk}/change/",
                                 _change_form(user, is_active=""))
    assert response.status_code == 302, response.content[:1500]
    user.refresh_from_db()
    assert not user.is_active
    for client in (alice_client, second_device):
        response = client.get("/settings/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")
        assert not Session.objects.filter(session_key=client.cookies["sessionid"].value
                                          ).exists()
    assert pool().idle_count(alice.address) == 0
    assert not UserSession.objects.filter(user=user).exists()
    # ...and sign-in is refused from now on.
    assert Client().post("/login/", {"username": alice.address,
                                     "password": alice.password}).status_code == 200
    details = list(AuditEntry.objects.filter(kind="admin_change").values_list("detail",
                                                                               flat=True))
    assert any("active: yes → no" in d for d in details), details
    assert any("ended 2 session(s)" in d for d in details), details


def test_disable_action_and_end_sessions_action(staff_client: Client, alice: Persona,
                                                bob: Persona) -> None:
    alice_client, bob_client = sign_in(Client(), alice), sign_in(Client(), bob)
    alice_user = User.objects.get(username=alice.address)
    bob_user = User.objects.get(username=bob.address)

    _changelist_action(staff_client, "end_sessions", [bob_user])
    assert bob_client.get("/settings/").status_code == 302
    bob_user.refresh_from_db()
    assert bob_user.is_active  # only signed out: may sign in again
    sign_in(Client(), bob)

    _changelist_action(staff_client, "disable_users", [alice_user])
    assert alice_client.get("/settings/").status_code == 302
    alice_user.refresh_from_db()
    assert not alice_user.is_active
    assert AuditEntry.objects.filter(kind="admin_change",
                                     detail__startswith="disabled (sessions ended)").exists()
    _changelist_action(staff_client, "enable_users", [alice_user])
    alice_user.refresh_from_db()
    assert alice_user.is_active
    sign_in(Client(), alice)


def test_grant_and_revoke_staff_are_audited(staff_client: Client, staff_user: User,
                                            bob: Persona) -> None:
    sign_in(Client(), bob)
    bob_user = User.objects.get(username=bob.address)
    _changelist_action(staff_client, "grant_staff", [bob_user])
    bob_user.refresh_from_db()
    assert bob_user.is_staff
    _changelist_action(staff_client, "revoke_staff", [bob_user])
    bob_user.refresh_from_db()
    assert not bob_user.is_staff
    details = list(AuditEntry.objects.filter(kind="admin_change", actor=staff_user)
                   .values_list("detail", flat=True))
    assert f"granted staff for {bob.address}" in details
    assert f"revoked staff for {bob.address}" in details


def test_an_admin_cannot_lock_themselves_out(staff_client: Client, staff_user: User) -> None:
    _changelist_action(staff_client, "disable_users", [staff_user])
    _changelist_action(staff_client, "revoke_staff", [staff_user])
    staff_user.refresh_from_db()
    assert staff_user.is_active and staff_user.is_staff
    page = staff_client.get(f"/admin/accounts/user/{staff_user.pk}/change/")
    assert b'name="is_active"' not in page.content  # read-only on one's own page


def test_change_diff_names_fields_old_and_new_values(staff_client: Client,
                                                     alice: Persona) -> None:
    sign_in(Client(), alice)
    user = User.objects.get(username=alice.address)
    response = staff_client.post(f"/admin/accounts/user/{user.pk}/change/", _change_form(
        user, max_messages_per_hour="20", first_name="Alice"))
    assert response.status_code == 302, response.content[:1500]
    entry = AuditEntry.objects.filter(kind="admin_change").latest("created")
    assert "messages per hour: — → 20" in entry.detail
    assert "first name: — → Alice" in entry.detail
    assert entry.subject == f"user: {alice.address}"


def test_identities_inline_changes_are_audited(staff_client: Client, alice: Persona) -> None:
    sign_in(Client(), alice)
    user = User.objects.get(username=alice.address)
    data = _change_form(user, **{
        "identities-TOTAL_FORMS": "1", "identities-0-email": "sales@example.test",
        "identities-0-display_name": "Sales", "identities-0-signature": "-- \nSales team"})
    response = staff_client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content[:1500]
    assert Identity.objects.filter(user=user, email="sales@example.test").exists()
    entry = AuditEntry.objects.filter(kind="admin_change").latest("created")
    assert "added identity: Sales <sales@example.test>" in entry.detail


def test_user_page_shows_last_sign_in_and_recent_failures(staff_client: Client,
                                                          alice: Persona) -> None:
    Client().post("/login/", {"username": alice.address, "password": "wrong"})
    sign_in(Client(), alice)
    user = User.objects.get(username=alice.address)
    page = staff_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "sign-in failed" in page and "invalid" in page
    listing = staff_client.get("/admin/accounts/user/?q=" + alice.address).content.decode()
    assert alice.address in listing
    assert 'class="field-failures_recent">1<' in listing


def test_domain_and_profile_changes_are_audited(staff_client: Client, staff_user: User
                                                ) -> None:
    response = staff_client.post("/admin/accounts/serverprofile/add/", {
        "name": "main", "imap_host": "imap.example.test", "imap_port": "993",
        "imap_security": "ssl", "timeout": "15", "smtp_host": "smtp.example.test",
        "smtp_port": "587", "smtp_security": "starttls", "smtp_auth": "user",
        "smtp_timeout": "30", "domains-TOTAL_FORMS": "1", "domains-INITIAL_FORMS": "0",
        "domains-MIN_NUM_FORMS": "0", "domains-MAX_NUM_FORMS": "1000",
        "domains-0-name": "corp.test", "domains-0-auto_create_accounts": "on"})
    assert response.status_code == 302, response.content[:1500]
    domain = Domain.objects.get(name="corp.test")
    response = staff_client.post(f"/admin/accounts/domain/{domain.pk}/change/", {
        "name": "corp.test", "profile": str(domain.profile_id), "require_two_factor": "on",
        "max_messages_per_hour": "", "max_recipients_per_message": "50",
        "max_message_bytes": ""})
    assert response.status_code == 302, response.content[:1500]
    details = list(AuditEntry.objects.filter(kind="admin_change", actor=staff_user)
                   .values_list("detail", flat=True))
    assert any(d.startswith("created mail-server profile: main") for d in details), details
    assert any("added domain: corp.test" in d for d in details), details
    assert any("create accounts at first sign-in: yes → no" in d
               and "require two-factor sign-in: no → yes" in d
               and "recipients per message: — → 50" in d for d in details), details


def test_audit_log_is_read_only(staff_client: Client, staff_user: User) -> None:
    entry = AuditEntry.objects.create(kind="sign_in", subject="x@example.test")
    assert staff_client.get("/admin/accounts/auditentry/").status_code == 200
    assert staff_client.get("/admin/accounts/auditentry/add/").status_code == 403
    page = staff_client.get(f"/admin/accounts/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'type="submit" value="Save"' not in page.content
    assert staff_client.post(f"/admin/accounts/auditentry/{entry.pk}/delete/",
                             {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
