from __future__ import annotations

from celery import shared_task

from leadhub.tenancy.tasks import in_tenant
from leads import services
from leads.models import AdSourceDelivery
from leads.tracking import ad_sources
from leads.tracking.ad_sources import GraphTemporaryError


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=60,
    soft_time_limit=45,
    autoretry_for=(GraphTemporaryError,),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=8,
)
@in_tenant
def ad_lead_fetch(organization_id: int, delivery_id: int) -> str:
    """Read a Facebook lead's answers from the Graph API and capture it (retried while it is down)."""
    delivery = AdSourceDelivery.objects.select_related("source").filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"
    return ad_sources.ad_lead_fetch(delivery=delivery).status


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=100)
@in_tenant
def leads_touch_rollup(organization_id: int, lead_ids: list[int]) -> int:
    return services.leads_touch_rollup(lead_ids=lead_ids)


from leads.imports.tasks import import_run_task  # noqa: E402,F401  (registers the import task)
