"""Thin Celery wrappers around the scoring services: ids in, the tenant set, one service called."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.tasks import in_tenant
from scoring import services
from scoring.engine.ledger import ScoreEvent

logger = logging.getLogger(__name__)

# The lifecycle moves of a recompute work this long per task, then enqueue themselves to carry on, so that
# no run comes near the hard time limit (and the broker's visibility timeout stays far above it).
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


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
def scoring_recompute_run(organization_id: int, job_id: int) -> int:
    """Plan a recompute and hand its chunks to the workers, one task each (they run in parallel)."""
    job = services.recompute_job_plan(organization_id=organization_id, job_id=job_id)
    pending = [lo for lo, _ in job.chunks if lo not in job.done_chunks]
    for lo in pending:
        scoring_recompute_chunk.delay(organization_id, job_id, lo)
    if job.status == "running" and job.scored_at is not None and not pending:
        scoring_recompute_moves.delay(organization_id, job_id)
    return len(pending)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=RECOMPUTE_TIME_LIMIT,
    soft_time_limit=RECOMPUTE_TIME_LIMIT - 60,
)
def scoring_recompute_chunk(organization_id: int, job_id: int, lo: int) -> int:
    """Score one chunk; the chunk that completes the job starts its lifecycle moves. A second delivery
    finds the chunk done and does nothing."""
    job, last = services.recompute_chunk_run(organization_id=organization_id, job_id=job_id, lo=lo)
    if last:
        scoring_recompute_moves.delay(organization_id, job_id)
    return job.processed


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=RECOMPUTE_TIME_LIMIT,
    soft_time_limit=RECOMPUTE_TIME_LIMIT - 60,
)
def scoring_recompute_moves(organization_id: int, job_id: int) -> str:
    """The stage changes the new scores call for, in batches; it enqueues itself again to carry on
    rather than come near its time limit."""
    job = services.recompute_job_moves(
        organization_id=organization_id, job_id=job_id, deadline=time.monotonic() + RECOMPUTE_BUDGET_SECONDS
    )
    if job.status == "running":
        scoring_recompute_moves.delay(organization_id, job_id)
    return job.status


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=1200, soft_time_limit=1140)
def scoring_backtest_run(organization_id: int, run_id: int) -> str:
    from scoring.models import BacktestRun

    with tenant_context(organization_id):
        run = BacktestRun.objects.select_related("version__scoring_model").get(pk=run_id)
        try:
            services.backtest_run_execute(run=run)
        except Exception:
            # The run is marked failed with the reason, which the model page shows.
            logger.exception("Backtest %s of organization %s failed", run_id, organization_id)
    return run.status


@shared_task(time_limit=120, soft_time_limit=100)
def scoring_decay_schedule() -> int:
    """Start a decay run in every organization that scores with time-dependent rules."""
    started = 0
    # Row-level security shows one tenant at a time, so the schedule walks the organizations.
    for organization_id in Organization.objects.values_list("pk", flat=True):
        with tenant_context(organization_id):
            started += int(services.decay_job_start() is not None)
    return started
