"""``manage.py devmailserver``: only the development mail server (IMAP + SMTP on loopback)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Run the development mail server (pymap IMAP, aiosmtpd SMTP) on 127.0.0.1 with its data "
        "in VAR_DIR/devmail, creating the demo users and mail first unless --no-demo is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--imap-port", type=int,
                            default=int(os.environ.get("WEBMAIL_IMAP_PORT", "1143")))
        parser.add_argument("--smtp-port", type=int,
                            default=int(os.environ.get("WEBMAIL_SMTP_PORT", "1025")))
        parser.add_argument("--report-delay", type=float, default=3.0,
                            help="seconds before DSNs about bounce.test/delay.test mail")
        parser.add_argument("--no-demo", action="store_true", help="do not seed the demo mail")

    def handle(self, *args: Any, **options: Any) -> None:
        from webmail.devserver.mailserver import main

        argv = [
            "--dir", str(Path(settings.VAR_DIR) / "devmail"),
            "--imap-port", str(options["imap_port"]),
            "--smtp-port", str(options["smtp_port"]),
            "--report-delay", str(options["report_delay"]),
        ]
        if not options["no_demo"]:
            argv.append("--seed-demo")
        if options["verbosity"] > 1:
            argv.append("--verbose")
        code = main(argv)
        if code:
            raise CommandError("the development mail server could not start", returncode=code)
