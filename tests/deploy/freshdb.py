"""A new, empty database on the test suite's database server, for processes the test starts.

The test suite's own database (pytest-django's) is in memory when it is SQLite, and is flushed
between tests; processes started by a deployment test (gunicorn, Celery workers, migrate)
need a real one they can share. PostgreSQL (CI): a fresh database on the same server, dropped
afterwards. SQLite: a fresh file in the test's temporary directory.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings


def suite_uses_postgresql() -> bool:
    return bool(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"))


@contextlib.contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """Yield the ``DATABASE_URL`` of a new, empty database (no tables).

    Raises:
        psycopg.Error: if the PostgreSQL server refuses CREATE DATABASE.
    """
    if not suite_uses_postgresql():
        yield f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    db = settings.DATABASES["default"]
    host, port = db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)
    user, password = db.get("USER") or "postgres", db.get("PASSWORD") or ""
    name = f"webmail_deploy_{uuid.uuid4().hex[:12]}"
    admin = {"host": host, "port": port, "user": user, "dbname": "postgres",
             "autocommit": True, **({"password": password} if password else {})}
    with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    try:
        yield f"postgres://{auth}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
