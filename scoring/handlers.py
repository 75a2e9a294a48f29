"""Reactions of qualification to the capture layer's events: each enqueues an incremental rescoring of
the leads concerned (and an import, a full recompute). Handlers only enqueue; the tasks do the work."""

from __future__ import annotations

from leadhub.events import (
    ContactsImported,
    ContactUpdated,
    LeadCaptured,
    LeadUpdated,
    TouchpointsRecorded,
    subscribe,
)
from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.services import Actor
from scoring import services, tasks
from scoring.models import Cause, RecomputeKind


@subscribe(TouchpointsRecorded)
def on_touchpoints_recorded(event: TouchpointsRecorded) -> None:
    if event.lead_ids:
        tasks.scoring_rescore_leads.delay(
            event.organization_id, event.lead_ids, Cause.TOUCHPOINT, event.touchpoint_ids
        )


@subscribe(LeadCaptured)
def on_lead_captured(event: LeadCaptured) -> None:
    tasks.scoring_rescore_leads.delay(event.organization_id, [event.lead_id], Cause.CAPTURE)


@subscribe(LeadUpdated)
def on_lead_updated(event: LeadUpdated) -> None:
    tasks.scoring_rescore_leads.delay(
        event.organization_id, [event.lead_id], Cause.FIELD_CHANGE, None, [f"lead.{f}" for f in event.fields]
    )


@subscribe(ContactUpdated)
def on_contact_updated(event: ContactUpdated) -> None:
    tasks.scoring_rescore_contact.delay(event.organization_id, event.contact_id, event.fields)


@subscribe(ContactsImported)
def on_contacts_imported(event: ContactsImported) -> None:
    # An import changes many leads at once and names none: a set-based recompute finds what changed.
    with tenant_context(event.organization_id):
        version = services.live_version()
        if version is not None:
            services.recompute_job_create(
                version=version, kind=RecomputeKind.FULL, actor=Actor.system("import")
            )
