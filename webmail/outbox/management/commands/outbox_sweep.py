"""Run the outbox sweeper once (what beat does every 30 s), e.g. from cron without beat."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand

from webmail.outbox.sweep import outbox_sweep


class Command(BaseCommand):
    help = "Re-publish lost outbox work, recover dead workers' messages, purge old rows."

    def handle(self, *args: Any, **options: Any) -> None:
        report = outbox_sweep()
        self.stdout.write(" ".join(f"{k}={v}" for k, v in asdict(report).items()))
