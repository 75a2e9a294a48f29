"""Celery tasks of predictive scoring: ids in, the tenant set, one service called."""

from __future__ import annotations

import logging

from celery import shared_task

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leadhub.tenancy.tasks import in_tenant
from scoring.models_predictive import RunTrigger
from scoring.predictive import services

logger = logging.getLogger(__name__)

# Training reads every lead of the organization; a large one takes minutes. The broker's visibility
# timeout (an hour) stays above the hard limit, and a redelivered task takes over a run only when it is
# stale (services.RUN_STALE_AFTER), so it cannot run twice side by side.
TRAIN_TIME_LIMIT = 2400


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=TRAIN_TIME_LIMIT,
    soft_time_limit=TRAIN_TIME_LIMIT - 60,
)
def predictive_train_task(organization_id: int, run_id: int) -> str:
    # No tenant transaction around the whole run: the service commits its progress step by step.
    run = services.training_run_execute(organization_id=organization_id, run_id=run_id)
    return run.status if run is not None else "skipped"


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
@in_tenant
def predictive_score_leads_task(organization_id: int, lead_ids: list[int]) -> int:
    return services.predictions_score_leads(lead_ids=lead_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
@in_tenant
def predictive_score_contact_task(organization_id: int, contact_id: int) -> int:
    return services.predictions_score_contact(contact_id=contact_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=1800, soft_time_limit=1740)
@in_tenant
def predictive_score_all_task(organization_id: int) -> int:
    return services.predictions_score_all()


@shared_task(time_limit=300, soft_time_limit=280)
def predictive_retrain_due() -> int:
    """The schedule: queue a training run for every organization whose model is due for retraining."""
    queued = 0
    # Row-level security shows one tenant at a time, so the schedule walks the organizations.
    for organization_id in Organization.objects.values_list("pk", flat=True):
        with tenant_context(organization_id):
            if not services.retrain_due():
                continue
            services.training_run_request(
                actor=Actor.system("predictive schedule"), trigger=RunTrigger.SCHEDULE
            )
            queued += 1
    return queued
