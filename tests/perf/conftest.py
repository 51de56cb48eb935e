"""The performance tests count cache hits and misses, so they get a cache of their own (in
process memory): another test run on the same machine clearing the shared Redis database
would otherwise look like a cache miss here."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _private_cache(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"perf-{uuid.uuid4().hex}"}}
