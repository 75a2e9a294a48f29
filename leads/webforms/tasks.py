"""Thin Celery wrappers around the web form services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from leadhub.tenancy.tasks import in_tenant
from leads.webforms import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
@in_tenant
def form_submission_process(organization_id: int, submission_id: int) -> str:
    """Capture the lead of one stored submission. A capture that raises marks the submission failed
    (visible and retryable in the dashboard) instead of leaving it pending forever."""
    try:
        with transaction.atomic():
            submission = services.submission_process(submission_id=submission_id)
    except Exception as exc:
        logger.exception("Capture of form submission %s failed", submission_id)
        services.submission_fail(submission_id=submission_id, reason=f"{type(exc).__name__}: {exc}")
        return "failed"
    return submission.status if submission is not None else "missing"
