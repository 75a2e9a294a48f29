from __future__ import annotations

from celery import shared_task

from leadhub.tenancy.tasks import in_tenant
from leads.landing import services


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=60, soft_time_limit=50)
@in_tenant
def experiment_conversions_count(organization_id: int, touchpoint_ids: list[int]) -> int:
    return services.experiment_conversions_from_touchpoints(touchpoint_ids=touchpoint_ids)
