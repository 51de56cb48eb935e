"""Settings for the test suite: the real settings module, pointed at the test mail stack.

The environment is filled in before ``webmail.settings`` reads it; anything already set
(CI's DATABASE_URL and REDIS_URL, say) wins.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# The cache gets a Redis database of its own per pytest-xdist worker (the broker keeps db 0),
# so a test may clear it without touching queues or the other worker's data.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw-1")
_cache_db = 2 + int(_worker[2:]) if _worker[2:].lstrip("-").isdigit() else 1
os.environ["CACHE_URL"] = os.environ["REDIS_URL"].rsplit("/", 1)[0] + f"/{max(_cache_db, 1)}"
# One tag per test run (shared by its xdist workers): two runs on one machine (a developer's
# and a helper's, say) use different cache keys and PostgreSQL test databases, so neither
# clears nor drops the other's.
RUN_TAG = (os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"p{os.getpid()}")[:8]
os.environ["CACHE_KEY_PREFIX"] = f"t{RUN_TAG}"
os.environ.setdefault("WEBMAIL_IMAP_PORT", "10143")
os.environ.setdefault("WEBMAIL_SMTP_PORT", "10025")
os.environ.setdefault("WEBMAIL_IMAP_TIMEOUT", "10")
os.environ.setdefault("WEBMAIL_SMTP_TIMEOUT", "10")

from webmail.settings import *  # noqa: E402, F403
from webmail.settings import STATIC_ROOT, STORAGES  # noqa: E402

STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
WHITENOISE_USE_FINDERS = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one

# With SQLite, the test database is a file, so a real Celery worker process can open it too.
from webmail.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # pytest-django appends the xdist worker ("_gw0").
    DATABASES["default"]["TEST"] = {"NAME": f"test_webmail_{RUN_TAG}"}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    import tempfile
    from pathlib import Path

    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"webmail-test-{_worker}-{os.getpid()}.sqlite3")
    }
