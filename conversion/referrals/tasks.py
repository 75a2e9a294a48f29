"""Thin Celery wrappers of the referral programme: ids in, the tenant set, one service called."""

from __future__ import annotations

from celery import shared_task

from conversion.referrals import services
from leadhub.tenancy.services import Actor
from leadhub.tenancy.tasks import in_tenant


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=60, soft_time_limit=50)
@in_tenant
def referral_attribute_leads(organization_id: int, lead_ids: list[int]) -> int:
    return services.referral_attribute(lead_ids=lead_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=300, soft_time_limit=280)
@in_tenant
def referral_codes_issue(organization_id: int, contact_ids: list[int] | None = None) -> int:
    return services.referral_codes_issue(actor=Actor.system("referral programme"), contact_ids=contact_ids)
