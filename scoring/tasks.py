"""Thin Celery wrappers around the scoring services: ids in, the tenant set, one service called."""

from __future__ import annotations

import logging

from celery import shared_task

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.tasks import in_tenant
from scoring import services
from scoring.engine.ledger import ScoreEvent

logger = logging.getLogger(__name__)

# A recompute task works through chunks for this long, then enqueues itself to carry on, so that no run
# comes near the hard time limit (and the broker's visibility timeout stays far above it).
RECOMPUTE_BUDGET_SECONDS = 240
RECOMPUTE_TIME_LIMIT = 600


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
@in_tenant
def scoring_rescore_leads(
    organization_id: int,
    lead_ids: list[int],
    cause: str,
    touchpoint_ids: list[int] | None = None,
    fields: list[str] | None = None,
) -> int:
    """Incremental rescoring of the leads an event touched. Safe to run twice: a second run finds
    nothing left to change and writes no ledger row."""
    event = ScoreEvent(cause=cause, touchpoint_ids=tuple(touchpoint_ids or ()), fields=tuple(fields or ()))
    return services.leads_rescore(lead_ids=lead_ids, event=event).ledger_rows


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
@in_tenant
def scoring_rescore_contact(organization_id: int, contact_id: int, fields: list[str]) -> int:
    lead_ids = services.contact_leads(contact_id)
    event = ScoreEvent(cause="field_change", fields=tuple(f"contact.{f}" for f in fields))
    return services.leads_rescore(lead_ids=lead_ids, event=event).ledger_rows


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=RECOMPUTE_TIME_LIMIT,
    soft_time_limit=RECOMPUTE_TIME_LIMIT - 60,
)
def scoring_recompute_run(organization_id: int, job_id: int) -> str:
    """Work through a recompute job; it commits chunk by chunk and resumes where it stopped."""
    job = services.recompute_job_run(
        organization_id=organization_id, job_id=job_id, budget_seconds=RECOMPUTE_BUDGET_SECONDS
    )
    if job.status == "running":
        scoring_recompute_run.delay(organization_id, job_id)
    return job.status


@shared_task(time_limit=120, soft_time_limit=100)
def scoring_decay_schedule() -> int:
    """Start a decay run in every organization that scores with time-dependent rules."""
    started = 0
    # Row-level security shows one tenant at a time, so the schedule walks the organizations.
    for organization_id in Organization.objects.values_list("pk", flat=True):
        with tenant_context(organization_id):
            started += int(services.decay_job_start() is not None)
    return started
