from __future__ import annotations

from celery import shared_task

from leadhub.tenancy.tasks import in_tenant
from leads import services


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
@in_tenant
def leads_touch_rollup(organization_id: int, lead_ids: list[int]) -> int:
    return services.leads_touch_rollup(lead_ids=lead_ids)


from leads.imports.tasks import import_run_task  # noqa: E402,F401  (registers the import task)
