"""Apply migrations once, even when several containers start at the same moment.

On PostgreSQL a session-level advisory lock serialises concurrent runs: the first applies the
migrations, the others wait and then find nothing left to do. Other databases (SQLite, the
embedded set-up) run a single process anyway. Exits non-zero when a migration fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# An arbitrary, fixed 64-bit key for pg_advisory_lock ("webmail" in ASCII).
LOCK_KEY = 0x7765626D61696C


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    locked = connection.vendor == "postgresql"
    if locked:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    try:
        call_command("migrate", interactive=False, verbosity=1)
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
    return 0


if __name__ == "__main__":
    sys.exit(main())
