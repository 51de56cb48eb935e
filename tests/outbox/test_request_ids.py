"""A task logs with the id of the web request that published it (web and worker logs join),
through a real Celery worker; the signal handlers on their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from accounts.models import User
from tests.conftest import Persona, wait_until
from tests.outbox.conftest import PASSWORD, build
from tests.outbox.worker import CeleryWorker, restore_route, route_here
from webmail import observability
from webmail.outbox import services
from webmail.outbox.models import MessageState, OutgoingMessage


def test_publish_stamps_and_the_task_adopts_the_request_id() -> None:
    headers: dict[str, Any] = {}
    observability._stamp_task(headers=headers)  # outside a request: nothing to carry
    assert headers == {}
    token = observability.request_id_var.set("req-0123456789")
    try:
        observability._stamp_task(headers=headers)
    finally:
        observability.request_id_var.reset(token)
    assert headers == {observability.TASK_HEADER: "req-0123456789"}

    task = SimpleNamespace(request=SimpleNamespace(**headers))
    observability._task_started(task=task, task_id="task-abcdef0123")
    assert observability.current_request_id() == "req-0123456789"
    observability._task_finished(task=task)
    assert observability.current_request_id() is None
    # A task nobody's request published (the sweeper's, a retry) logs with its own id.
    bare = SimpleNamespace(request=SimpleNamespace())
    observability._task_started(task=bare, task_id="task-abcdef0123")
    assert observability.current_request_id() == "task-abcdef0123"
    observability._task_finished(task=bare)
    # A forged header is not adopted.
    odd = SimpleNamespace(request=SimpleNamespace(**{observability.TASK_HEADER: "x\r\ny"}))
    observability._task_started(task=odd, task_id="task-abcdef0123")
    assert observability.current_request_id() == "task-abcdef0123"
    observability._task_finished(task=odd)


@pytest.fixture
def worker(django_db_setup: None, django_db_blocker: Any, mail_stack: None
           ) -> Iterator[CeleryWorker]:
    with django_db_blocker.unblock():
        worker = CeleryWorker(LOG_FORMAT="json", LOG_LEVEL="INFO")
        old = route_here(worker.queue)
        try:
            worker.start()
            yield worker
        finally:
            restore_route(old)
            worker.stop()
            worker.log_path.unlink(missing_ok=True)


@pytest.mark.worker
@pytest.mark.postfix
@pytest.mark.django_db(transaction=True)
def test_the_worker_logs_with_the_id_of_the_request_that_sent(
        worker: CeleryWorker, alice: Persona, bob: Persona) -> None:
    user = User.objects.create(username=alice.address)
    token = observability.request_id_var.set("send-req-7f3a9c21")
    try:
        message = services.outgoing_enqueue(
            user=user, from_email=user.username, built=build(user.username, to=[bob.address]),
            smtp_password=PASSWORD)
    finally:
        observability.request_id_var.reset(token)

    def finished() -> bool:
        return OutgoingMessage.objects.get(pk=message.pk).state == MessageState.FINISHED

    wait_until(finished, timeout=30)
    lines = []
    for line in worker.log_path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # Celery's own banner
    ours = [entry for entry in lines if entry.get("logger", "").startswith("webmail.outbox")]
    assert ours, worker.log_tail()
    assert any(entry.get("request_id") == "send-req-7f3a9c21" for entry in ours), \
        worker.log_tail()
