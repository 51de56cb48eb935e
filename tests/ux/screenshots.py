"""Screenshots of the main pages for the README: ``python -m tests.ux.screenshots``.

Runs the webmail on a throw-away test database against the test mail stack (Dovecot on
127.0.0.1:10143; ``bash tests/infra/mailstack.sh start``), fills a fresh mailbox with a dozen
ordinary messages and a few sent ones, and photographs the pages with Debian's Chromium:
desktop (1280x800), tablet (768x1024), phone (390x844) and the dark theme. Writes PNG files into
``docs/screenshots/`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

from tests.ux.sample import fill_mailbox, fill_outbox

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM = os.environ.get("WEBMAIL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", "--font-render-hinting=none"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}


def _start_server() -> tuple[str, object]:
    """The project on a test database, served by Django's live-server thread."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    import django

    django.setup()
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import connections
    from django.test.testcases import LiveServerThread
    from django.test.utils import setup_databases, setup_test_environment

    setup_test_environment()
    setup_databases(verbosity=0, interactive=False)
    shared = {c.alias: c for c in connections.all()
              if c.vendor == "sqlite" and c.is_in_memory_db()}  # type: ignore[attr-defined]
    for conn in shared.values():
        conn.inc_thread_sharing()  # as LiveServerTestCase does
    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, connections_override=shared,
                              port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    return f"http://127.0.0.1:{thread.port}", thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from tests.conftest import Persona
    from tests.infra import mailstack

    mailstack.require_up()
    origin, _thread = _start_server()
    persona = Persona(f"t-demo-{uuid.uuid4().hex[:8]}@example.test")
    uids = fill_mailbox(persona)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        shots: list[str] = []

        def context(viewport: dict[str, int], scheme: str = "light"):  # type: ignore[no-untyped-def]
            ctx = browser.new_context(viewport=viewport, color_scheme=scheme,  # type: ignore[arg-type]
                                      device_scale_factor=1, locale="en-GB",
                                      timezone_id="Europe/Berlin")
            ctx.set_default_timeout(15_000)
            return ctx, ctx.new_page()

        def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
            page.wait_for_timeout(250)
            path = args.out / f"{name}.png"
            page.screenshot(path=str(path))
            shots.append(path.name)

        def sign_in(page) -> None:  # type: ignore[no-untyped-def]
            page.goto(origin + "/login/")
            page.fill("#id_username", persona.address)
            page.fill("#id_password", persona.password)
            with page.expect_navigation():
                page.click("form[action='/login/'] button[type=submit]")

        ctx, page = context(DESKTOP)
        page.goto(origin + "/login/")
        shot(page, "login")
        sign_in(page)
        from accounts.models import User

        fill_outbox(User.objects.get(username=persona.address), persona.address)
        page.goto(origin + "/mail/INBOX/")
        shot(page, "mailbox")
        page.goto(origin + f"/mail/INBOX/{uids['report']}/")
        shot(page, "message")
        page.keyboard.press("?")
        shot(page, "shortcuts")
        page.keyboard.press("Escape")
        page.goto(origin + f"/compose/?reply=INBOX%2F{uids['lunch']}")
        page.wait_for_selector(".editor-toolbar")
        shot(page, "compose")
        page.goto(origin + "/outbox/")
        shot(page, "outbox")
        page.goto(origin + "/settings/")
        shot(page, "settings")
        ctx.close()

        ctx, page = context(DESKTOP, "dark")
        sign_in(page)
        page.goto(origin + f"/mail/INBOX/{uids['newsletter']}/")
        shot(page, "message-dark")
        page.goto(origin + "/mail/INBOX/")
        shot(page, "mailbox-dark")
        ctx.close()

        ctx, page = context(TABLET)
        sign_in(page)
        page.goto(origin + f"/mail/INBOX/{uids['lunch']}/")
        shot(page, "tablet-message")
        ctx.close()

        ctx, page = context(PHONE)
        sign_in(page)
        page.goto(origin + "/mail/INBOX/")
        shot(page, "phone-mailbox")
        page.goto(origin + f"/mail/INBOX/{uids['report']}/")
        shot(page, "phone-message")
        page.goto(origin + "/compose/")
        shot(page, "phone-compose")
        ctx.close()
        browser.close()
    print("\n".join(str(args.out / s) for s in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())

