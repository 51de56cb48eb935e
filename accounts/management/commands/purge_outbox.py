"""``manage.py purge_outbox [--days N]``: delete finished outbox rows past retention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.retention import outbox_purge


class Command(BaseCommand):
    help = ("Delete outgoing messages, their recipients and delivery attempts that reached a "
            "final state more than N days ago (default: WEBMAIL_OUTBOX_RETENTION_DAYS).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int,
                            default=settings.WEBMAIL_OUTBOX_RETENTION_DAYS,
                            help="retention in days (at least 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        days = int(options["days"])
        if days < 1:
            raise CommandError("--days must be at least 1")
        count = outbox_purge(days=days)
        self.stdout.write(f"deleted {count} outgoing message(s) older than {days} day(s)")
