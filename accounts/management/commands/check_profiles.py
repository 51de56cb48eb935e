"""``manage.py check_profiles``: check every mail-server profile; non-zero exit on a failure."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ServerProfile
from accounts.probe import FAILED, profile_check
from accounts.profiles import default_profile
from webmail.imap.probe import probe_imap


class Command(BaseCommand):
    help = ("Check that every mail-server profile's IMAP and SMTP servers answer (connect, "
            "greeting, TLS, capabilities), print a table, and exit 1 if any check failed.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--verbose-steps", action="store_true",
                            help="print every step, not only the failing ones")
        parser.add_argument("--no-save", action="store_true",
                            help="do not store the outcome on the profiles")

    def handle(self, *args: Any, **options: Any) -> None:
        profiles = list(ServerProfile.objects.order_by("name"))
        rows: list[tuple[str, str, str, str]] = []
        failed = 0
        details: list[str] = []
        for profile in profiles:
            check = profile_check(profile, save=not options["no_save"])
            failed += 0 if check.ok else 1
            rows.append((profile.name, _verdict(check.imap.ok, check.imap.server),
                         _verdict(check.smtp.ok, check.smtp.server),
                         "ok" if check.ok else "FAILED"))
            for title, report in (("IMAP", check.imap), ("SMTP", check.smtp)):
                for step in report.steps:
                    if options["verbose_steps"] or step.status == FAILED:
                        details.append(f"{profile.name} {title} [{step.status}] {step.name}: "
                                       f"{step.detail}")
        if not profiles:
            # No profile in the database: every domain uses the default from the settings.
            imap = probe_imap(default_profile().imap)
            failed += 0 if imap.ok else 1
            rows.append(("(default from settings)", _verdict(imap.ok, imap.server),
                         "not checked", "ok" if imap.ok else "FAILED"))
            details.extend(f"default IMAP [{s.status}] {s.name}: {s.detail}"
                           for s in imap.steps if options["verbose_steps"] or s.status == FAILED)
        self._table(("profile", "IMAP", "SMTP", "result"), rows)
        for line in details:
            self.stdout.write(line)
        if failed:
            raise CommandError(f"{failed} of {len(rows)} profile(s) failed", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"all {len(rows)} profile(s) answered"))

    def _table(self, header: tuple[str, ...], rows: list[tuple[str, str, str, str]]) -> None:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for index, row in enumerate([header, *rows]):
            self.stdout.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths,
                                                                        strict=True)))
            if index == 0:
                self.stdout.write("  ".join("-" * w for w in widths))


def _verdict(ok: bool, server: str) -> str:
    return f"{'ok' if ok else 'FAILED'} {server}"
