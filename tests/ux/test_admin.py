"""A staff member's journey in Chromium: sign in like everyone, open the admin, create a
domain and a server profile, look at the delivery console."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from accounts.models import Domain, ServerProfile, User
from tests.ux.conftest import UX
from tests.ux.test_a11y import _problems

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff(ux: UX) -> UX:
    User.objects.create(username=ux.persona.address, email=ux.persona.address, is_staff=True)
    return ux


def test_admin_domain_profile_and_delivery_console(staff: UX) -> None:
    ux = staff
    name = f"d{uuid.uuid4().hex[:8]}.example"
    page = ux.sign_in(ux.page())
    page.goto(ux.url("/admin/"))
    expect(page.locator("#site-name, h1").first).to_be_visible()
    problems = _problems(page, "/admin/")

    page.goto(ux.url("/admin/accounts/serverprofile/add/"))
    page.fill("#id_name", f"Profile {name}")
    page.fill("#id_imap_host", "imap." + name)
    page.fill("#id_smtp_host", "smtp." + name)
    with page.expect_navigation():
        page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text(f"Profile {name}")

    page.goto(ux.url("/admin/accounts/domain/add/"))
    page.fill("#id_name", name)
    page.select_option("#id_profile", label=f"Profile {name}")
    with page.expect_navigation():
        page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text(name)

    page.goto(ux.url("/admin/outbox/outgoingmessage/summary/"))
    expect(page).to_have_url(re.compile(r"/admin/outbox/outgoingmessage/summary/$"))
    expect(page.locator("#content")).to_be_visible()
    problems += _problems(page, "delivery summary")
    page.goto(ux.url("/admin/outbox/outgoingmessage/"))
    expect(page.locator("#content")).to_be_visible()
    problems += _problems(page, "delivery console")
    page.goto(ux.url("/admin/outbox/outgoingmessage/bounced/"))
    problems += _problems(page, "bounced addresses")
    assert not problems, "\n".join(problems)

    # The rows were made through the forms, not behind the admin's back.
    assert Domain.objects.filter(name=name).exists()
    assert ServerProfile.objects.filter(name=f"Profile {name}").exists()
