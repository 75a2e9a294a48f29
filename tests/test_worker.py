"""A Celery task run by a real worker process through Redis, not in eager mode: recording touchpoints
enqueues the first/last-touch rollup after commit, and `celery worker` does it against the test database
(on PostgreSQL as the application's role, so row-level security applies to the worker too)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from leadhub.celery import app
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leads.models import Channel, Lead, Touchpoint, TouchpointType
from leads.services import touchpoints_record
from tests.factories import LeadFactory, OrganizationFactory
from tests.test_settings import BASE_DIR, NON_PRODUCTION, test_database_url

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
WAIT_SECONDS = 30

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        not settings.REDIS_URL and not IN_CI,
        reason="needs Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379/1) to run the real-worker test",
    ),
]


@pytest.fixture
def queue() -> Iterator[str]:
    """Tasks go to Redis (not eager), on a queue of this run's own so that no other worker takes them."""
    if not settings.REDIS_URL:
        pytest.fail("CI must run the real-worker test: REDIS_URL is not set")
    name = f"leadhub-test-{secrets.token_hex(4)}"
    saved = app.conf.task_always_eager, app.conf.task_default_queue
    app.conf.task_always_eager, app.conf.task_default_queue = False, name
    try:
        yield name
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = saved


@contextmanager
def worker_running(queue: str, redis_url: str) -> Iterator[Path]:
    """`celery -A leadhub worker` in a subprocess, on the test database and `redis_url`, consuming only
    `queue`; yields its log file."""
    environment = {
        k: v for k, v in os.environ.items() if k not in NON_PRODUCTION and not k.startswith("PYTEST")
    }
    environment.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=redis_url,
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="0",
    )
    log = Path(tempfile.mkstemp(prefix="leadhub-worker-", suffix=".log")[1])
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "leadhub",
                "worker",
                "--pool=solo",
                "--queues",
                queue,
                "--loglevel=INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                f"--hostname={queue}@%h",
            ],
            cwd=BASE_DIR,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.unlink(missing_ok=True)


@pytest.fixture
def worker(queue: str, transactional_db: None) -> Iterator[Path]:
    """A real worker on the test database and the run's Redis."""
    with worker_running(queue, settings.REDIS_URL) as log:
        yield log
    with app.connection_for_write() as connection:
        connection.default_channel.queue_delete(queue)


def test_a_real_worker_rolls_up_first_and_last_touch(worker: Path) -> None:
    organization: Organization = OrganizationFactory.create(name="Worker Test", slug="worker-test")
    with tenant_context(organization):
        lead = LeadFactory.create()
    now = timezone.now()
    first = Touchpoint(
        lead=lead,
        type=TouchpointType.AD_CLICK,
        channel=Channel.PAID_SEARCH,
        occurred_at=now - dt.timedelta(days=2),
        url="https://acme.example/landing",
    )
    last = Touchpoint(
        lead=lead, type=TouchpointType.DEMO, channel=Channel.DIRECT, occurred_at=now - dt.timedelta(hours=1)
    )
    # Commits on leaving the block; the after-commit dispatch sends leads.tasks.leads_touch_rollup to Redis.
    with tenant_context(organization):
        touchpoints_record(touchpoints=[last, first])

    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with tenant_context(organization):
            stored = Lead.objects.get(pk=lead.pk)
        if stored.last_touch_at is not None or time.monotonic() > deadline:
            break
        time.sleep(0.25)

    output = worker.read_text()
    assert stored.last_touch_at is not None, (
        f"the worker did not roll the lead up in {WAIT_SECONDS}s:\n{output}"
    )
    assert (stored.first_touch_at, stored.last_touch_at) == (first.occurred_at, last.occurred_at)
    assert (stored.first_touch_channel, stored.first_touch_url) == (
        Channel.PAID_SEARCH,
        "https://acme.example/landing",
    )
    assert "leads.tasks.leads_touch_rollup" in output and "succeeded" in output, output
