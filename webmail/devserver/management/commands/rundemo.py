"""``manage.py rundemo``: the whole webmail on one machine with only Python.

Creates VAR_DIR, migrates, seeds the demo mail once, then runs the development mail server, a
Celery worker, Celery beat and ``runserver`` as child processes until Ctrl-C.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

HOST = "127.0.0.1"
# The development profile; a variable already set in the environment wins.
CHILD_DEFAULTS = {
    "DEBUG": "1",
    "WEBMAIL_IMAP_HOST": HOST,
    "WEBMAIL_IMAP_SECURITY": "none",
    "WEBMAIL_SMTP_HOST": HOST,
    "WEBMAIL_SMTP_SECURITY": "none",
    "WEBMAIL_SMTP_AUTH": "none",
}


def child_env(base: dict[str, str], *, imap_port: int, smtp_port: int) -> dict[str, str]:
    """The environment of the children: ``base`` plus the development defaults."""
    env = dict(base)
    for name, value in CHILD_DEFAULTS.items():
        env.setdefault(name, value)
    env["WEBMAIL_IMAP_PORT"] = str(imap_port)
    env["WEBMAIL_SMTP_PORT"] = str(smtp_port)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Command(BaseCommand):
    help = (
        "Run the demo: migrate, seed demo mail, and start the development mail server, a Celery "
        "worker, Celery beat and the web server on 127.0.0.1. Ctrl-C stops everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--web-port", type=int, default=8000)
        parser.add_argument("--imap-port", type=int,
                            default=int(os.environ.get("WEBMAIL_IMAP_PORT", "1143")))
        parser.add_argument("--smtp-port", type=int,
                            default=int(os.environ.get("WEBMAIL_SMTP_PORT", "1025")))
        parser.add_argument("--noreload", action="store_true",
                            help="run the web server without the autoreloader")

    def handle(self, *args: Any, **options: Any) -> None:
        from webmail.devserver.demo import seed_demo_sync
        from webmail.devserver.supervisor import Child, Supervisor, port_in_use

        web, imap, smtp = options["web_port"], options["imap_port"], options["smtp_port"]
        for what, port, flag in (("web", web, "--web-port"), ("IMAP", imap, "--imap-port"),
                                 ("SMTP", smtp, "--smtp-port")):
            if port_in_use(HOST, port):
                raise CommandError(
                    f"The {what} port {HOST}:{port} is already in use (another rundemo or "
                    f"devmailserver?). Stop that process or pick another port with {flag}."
                )
        var_dir = Path(settings.VAR_DIR)
        mail_dir = var_dir / "devmail"
        self._make_dirs(var_dir)
        env = child_env(dict(os.environ), imap_port=imap, smtp_port=smtp)
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]

        try:
            self.stdout.write("[rundemo] applying database migrations")
            done = subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env,
                                  cwd=settings.BASE_DIR, check=False)
            if done.returncode:
                raise CommandError("`manage.py migrate` failed (see above)")
            if seed_demo_sync(mail_dir):
                self.stdout.write(f"[rundemo] demo mail created in {mail_dir}")
        except KeyboardInterrupt:
            raise CommandError("interrupted before the demo started", returncode=130) from None

        celery = [sys.executable, "-m", "celery", "-A", "webmail"]
        runserver = [*manage, "runserver", f"{HOST}:{web}"]
        if options["noreload"]:
            runserver.append("--noreload")
        children = [
            Child("mail server", [sys.executable, "-m", "webmail.devserver.mailserver",
                                  "--dir", str(mail_dir), "--imap-port", str(imap),
                                  "--smtp-port", str(smtp)], ready_ports=(imap, smtp)),
            Child("celery worker", [*celery, "worker", "-l", "info", "--pool=solo"]),
            Child("celery beat", [*celery, "beat", "-l", "info",
                                  "--schedule", str(var_dir / "celerybeat-schedule")]),
            Child("web server", runserver, ready_ports=(web,)),
        ]
        banner = (
            "\n" + "=" * 72 + "\n"
            f"  Open http://{HOST}:{web} and sign in as alice@example.test / alice-demo\n"
            "  (also bob@example.test / bob-demo, carol@example.test / carol-demo)\n"
            f"  Mail server: IMAP {HOST}:{imap}, SMTP {HOST}:{smtp}. Try sending to\n"
            "  someone@bounce.test (bounces), someone@slow.test (4xx, retried),\n"
            "  nobody@example.test (refused). Press Ctrl-C to stop.\n" + "=" * 72
        )
        code = Supervisor(children, env=env, cwd=Path(settings.BASE_DIR),
                          out=sys.stdout).run(banner)
        if code:
            raise CommandError("the demo stopped because a process failed (see above)",
                               returncode=code)

    @staticmethod
    def _make_dirs(var_dir: Path) -> None:
        var_dir.mkdir(parents=True, exist_ok=True)
        if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            for key in ("data_folder_in", "data_folder_out", "processed_folder"):
                if options.get(key):
                    Path(str(options[key])).mkdir(parents=True, exist_ok=True)
