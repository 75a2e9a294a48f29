"""No lead is lost when Redis is down: a real `redis-server` that this test starts on a free port (never
the shared one) is stopped while visitors submit. Submissions are still stored and answered (the rate
limit fails open, logged); their capture waits in the outbox, and once Redis is back the outbox sweep
sends it again, and a real Celery worker captures the lead."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from leadhub.celery import app
from leadhub.events import FormSubmitted
from leadhub.tasks import events_outbox_sweep
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization, OutboxEvent
from leads.models import Lead
from leads.models_forms import ConsentRecord, FormSubmission, SubmissionStatus
from leads.webforms import handlers
from tests.capture.forms_helpers import build_form, payload, post_json
from tests.factories import OrganizationFactory
from tests.test_worker import worker_running

REDIS_SERVER = shutil.which("redis-server")
WAIT_SECONDS = 60

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs the redis-server binary"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throw-away redis-server of this test, stopped and started at will."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def queue_length(self, queue: str) -> int:
        return int(redis.Redis(port=self.port).llen(queue))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def on_private_redis(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The cache (rate limits) and the Celery broker of this process point at the test's own Redis; tasks
    are sent, not run eagerly, on a queue of this run's own."""
    queue = f"leadhub-test-forms-{secrets.token_hex(4)}"
    saved = (app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue)
    cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url,
            "KEY_PREFIX": f"leadhub-test-forms-{os.getpid()}",
        }
    }

    def reset_pools() -> None:
        app._pool = None
        app.amqp._producer_pool = None

    monkeypatch.setattr(handlers, "BROKER_BACKOFF_SECONDS", 0.5)
    monkeypatch.setattr(handlers, "_broker_down_until", 0.0)
    with override_settings(CACHES=cache):
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = (
            redis_server.url,
            False,
            queue,
        )
        reset_pools()
        try:
            yield queue
        finally:
            app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = saved
            reset_pools()


def _sweep_after_grace(organization: Organization) -> int:
    """What the periodic sweep does once the outbox grace period has passed (simulated, not waited)."""
    with tenant_context(organization):
        OutboxEvent.objects.filter(dispatched_at__isnull=True).update(
            created_at=timezone.now() - timedelta(minutes=2)
        )
    time.sleep(0.6)  # past the handler's broker back-off
    return events_outbox_sweep()


def _submit_while_redis_is_down(organization: Organization, redis_server: RedisServer, caplog: Any) -> Any:
    form = build_form(organization)
    redis_server.stop()
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    answers = [
        post_json(Client(), form, payload(organization, form, **{"contact.email": f"visitor{i}@example.com"}))
        for i in range(3)
    ]
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200, 200, 200], [a.content for a in answers]
    # One request waits for the broker's connect timeout; the back-off spares the following ones.
    assert elapsed < 15, elapsed
    assert "Form rate limit skipped" in caplog.text
    with tenant_context(organization):
        assert list(FormSubmission.objects.values_list("status", flat=True)) == [SubmissionStatus.PENDING] * 3
        pending = OutboxEvent.objects.filter(name=FormSubmitted.name, dispatched_at__isnull=True)
        assert pending.count() == 3
        assert not Lead.objects.exists()
    return form


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_submissions_are_stored_answered_and_sent_again_when_it_is_back(
    redis_server: RedisServer, on_private_redis: str, caplog: Any
) -> None:
    organization = OrganizationFactory.create(name="Outage Test", slug="outage-test")
    _submit_while_redis_is_down(organization, redis_server, caplog)

    redis_server.start()
    assert _sweep_after_grace(organization) >= 3
    assert redis_server.queue_length(on_private_redis) >= 3  # the capture tasks wait in the queue
    with tenant_context(organization):
        assert not OutboxEvent.objects.filter(name=FormSubmitted.name, dispatched_at__isnull=True).exists()


@pytest.fixture
def worker(on_private_redis: str, redis_server: RedisServer) -> Iterator[Path]:
    """`celery -A leadhub worker` on the test database and the test's own Redis."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs a database it can reach: run on PostgreSQL (DATABASE_URL)")
    with worker_running(on_private_redis, redis_server.url) as log:
        yield log


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_captures_every_lead_once_redis_is_back(
    redis_server: RedisServer, worker: Path, caplog: Any
) -> None:
    organization = OrganizationFactory.create(name="Outage Worker Test", slug="outage-worker-test")
    _submit_while_redis_is_down(organization, redis_server, caplog)
    redis_server.start()
    assert _sweep_after_grace(organization) >= 3

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with tenant_context(organization):
            done = FormSubmission.objects.filter(status=SubmissionStatus.PROCESSED).count()
        if done == 3:
            break
        time.sleep(0.5)
    output = worker.read_text()
    with tenant_context(organization):
        assert FormSubmission.objects.filter(status=SubmissionStatus.PROCESSED).count() == 3, output
        emails = set(Lead.objects.values_list("contact__email_normalized", flat=True))
        assert emails == {f"visitor{i}@example.com" for i in range(3)}
        assert ConsentRecord.objects.count() == 3
    assert "form_submission_process" in output and "succeeded" in output, output
