"""Reactions of predictive scoring to capture events: a lead's probability follows its data."""

from __future__ import annotations

from leadhub.events import ContactsImported, ContactUpdated, LeadCaptured, TouchpointsRecorded, subscribe
from scoring.predictive import tasks


@subscribe(LeadCaptured)
def on_lead_captured(event: LeadCaptured) -> None:
    tasks.predictive_score_leads_task.delay(event.organization_id, [event.lead_id])


@subscribe(TouchpointsRecorded)
def on_touchpoints_recorded(event: TouchpointsRecorded) -> None:
    if event.lead_ids:
        tasks.predictive_score_leads_task.delay(event.organization_id, sorted(set(event.lead_ids)))


@subscribe(ContactUpdated)
def on_contact_updated(event: ContactUpdated) -> None:
    tasks.predictive_score_contact_task.delay(event.organization_id, event.contact_id)


@subscribe(ContactsImported)
def on_contacts_imported(event: ContactsImported) -> None:
    tasks.predictive_score_all_task.delay(event.organization_id)
