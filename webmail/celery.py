"""The Celery app (broker: Redis; the filesystem broker in the embedded set-up)."""

from __future__ import annotations

import os

from celery import Celery

from webmail.observability import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")

app = Celery("webmail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
connect_celery_signals()  # tasks log with the id of the request that published them
