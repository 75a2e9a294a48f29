"""Leads: capture, journeys, edits, and the one service that moves a lead through the funnel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from leadhub.events import LeadCaptured, LeadStageChanged, LeadUpdated, publish, publish_many
from leadhub.tenancy.services import Actor
from leads.models import STAGE_TRANSITIONS, Channel, Contact, Lead, Stage, StageChange
from leads.services.contacts import contact_upsert


def lead_capture(
    *, contact_data: Mapping[str, Any], lead_data: Mapping[str, Any] | None = None, actor: Actor
) -> tuple[Lead, bool]:
    """Upsert the contact by email and return its current journey, creating one if it has none open.

    Returns (lead, created). A contact whose last journey ended (customer, disqualified) starts a new one.
    """
    lead_data = dict(lead_data or {})
    with transaction.atomic():
        contact, _ = contact_upsert(data=contact_data, actor=actor)
        lead = (
            Lead.objects.select_for_update()
            .filter(contact=contact, is_current=True)
            .order_by("-journey")
            .first()
        )
        created = False
        if lead is None or lead.stage in {Stage.CUSTOMER, Stage.DISQUALIFIED}:
            journey = (lead.journey + 1) if lead else 1
            if lead is not None:
                Lead.objects.filter(pk=lead.pk).update(is_current=False)
            lead = _lead_new(contact=contact, journey=journey, data=lead_data, actor=actor)
            created = True
        else:
            _lead_apply(lead, lead_data, only_blank=True)
            lead.save()
        publish(
            LeadCaptured(
                organization_id=lead.organization_id, lead_id=lead.pk, contact_id=contact.pk, created=created
            )
        )
    return lead, created


LEAD_EDITABLE = (
    "owner",
    "score",
    "grade",
    "source_channel",
    "campaign",
    "budget",
    "authority",
    "need",
    "timing",
)


_LEAD_COLUMNS = {field.name: field.attname for field in Lead._meta.concrete_fields}


def _lead_apply(lead: Lead, data: Mapping[str, Any], *, only_blank: bool = False) -> None:
    for field in LEAD_EDITABLE:
        if field not in data:
            continue
        value = data[field]
        if only_blank and getattr(lead, field) not in (None, "", 0, Channel.DIRECT):
            continue
        if value is None and field in {"grade", "budget", "authority", "need", "timing"}:
            value = ""
        setattr(lead, field, value)
    if lead.grade and lead.grade not in "ABCDEF":
        raise ValidationError({"grade": ["Grade is one letter from A to F."]})


def _lead_build(*, contact: Contact, journey: int, data: Mapping[str, Any]) -> Lead:
    """A new, unsaved journey for the contact, with its initial stage and fields checked."""
    now = timezone.now()
    stage = data.get("stage") or Stage.COLD
    if stage not in Stage.values:
        raise ValidationError({"stage": [f"'{stage}' is not a stage."]})
    lead = Lead(
        contact=contact,
        journey=journey,
        stage=stage,
        stage_changed_at=now,
        created_at=data.get("created_at") or now,
    )
    _lead_apply(lead, data)
    if lead.campaign_id and not data.get("source_channel"):
        lead.source_channel = lead.campaign.channel if lead.campaign else lead.source_channel
    return lead


def _lead_first_stage(lead: Lead, data: Mapping[str, Any], actor: Actor) -> StageChange:
    return StageChange(
        lead=lead,
        from_stage="",
        to_stage=lead.stage,
        changed_at=lead.created_at,
        changed_by_user=actor.user,
        changed_by_api_key=actor.api_key,
        rule=actor.rule or "created",
        reason=str(data.get("stage_reason") or "Lead created"),
    )


def _lead_new(*, contact: Contact, journey: int, data: Mapping[str, Any], actor: Actor) -> Lead:
    lead = _lead_build(contact=contact, journey=journey, data=data)
    lead.save()
    _lead_first_stage(lead, data, actor).save()
    return lead


def lead_create(*, contact: Contact, data: Mapping[str, Any], actor: Actor) -> Lead:
    """A new journey for an existing contact (the API's plain create)."""
    with transaction.atomic():
        last = Lead.objects.filter(contact=contact).aggregate(j=Max("journey"))["j"] or 0
        Lead.objects.filter(contact=contact, is_current=True).update(is_current=False)
        lead = _lead_new(contact=contact, journey=last + 1, data=data, actor=actor)
        publish(
            LeadCaptured(
                organization_id=lead.organization_id, lead_id=lead.pk, contact_id=contact.pk, created=True
            )
        )
    return lead


# A journey in one of these stages is over: capturing the contact again starts a new one.
ENDED_STAGES = frozenset({Stage.CUSTOMER, Stage.DISQUALIFIED})


def leads_bulk_capture(
    *, entries: Sequence[tuple[Contact, Mapping[str, Any], bool]], actor: Actor
) -> list[tuple[Lead, bool]]:
    """Many leads in a handful of statements, whatever the size of the batch.

    Each entry is (contact, lead_data, new_journey). new_journey=True starts a new journey, as
    `lead_create` does; False reuses the contact's open journey (filling only blank fields), as
    `lead_capture` does, and starts one only when there is none or it ended. Entries apply in order,
    so two entries for one contact behave like two calls. Returns (lead, created) per entry.
    """
    if not entries:
        return []
    contact_ids = {contact.pk for contact, _, _ in entries}
    now = timezone.now()
    with transaction.atomic():
        current: dict[int, Lead] = {
            lead.contact_id: lead
            for lead in Lead.objects.select_for_update(of=("self",))
            .select_related("owner", "campaign")
            .filter(contact_id__in=contact_ids, is_current=True)
            .order_by("journey")
        }
        last_journey: dict[int, int] = dict(
            Lead.objects.filter(contact_id__in=contact_ids)
            .order_by()
            .values("contact_id")
            .annotate(last=Max("journey"))
            .values_list("contact_id", "last")
        )
        closed: set[int] = set()
        refreshed: dict[int, Lead] = {}
        created: list[tuple[Lead, Mapping[str, Any]]] = []
        results: list[tuple[Lead, bool]] = []
        for contact, data, new_journey in entries:
            lead = current.get(contact.pk)
            if not new_journey and lead is not None and lead.stage not in ENDED_STAGES:
                _lead_apply(lead, data, only_blank=True)
                if lead.pk is not None:
                    refreshed[lead.pk] = lead
                results.append((lead, False))
                continue
            if lead is not None:
                lead.is_current = False
                if lead.pk is not None:
                    closed.add(lead.pk)
            journey = last_journey.get(contact.pk, 0) + 1
            last_journey[contact.pk] = journey
            lead = _lead_build(contact=contact, journey=journey, data=data)
            current[contact.pk] = lead
            created.append((lead, data))
            results.append((lead, True))
        if closed:
            Lead.objects.filter(pk__in=closed).update(is_current=False)
        if refreshed:
            for lead in refreshed.values():
                lead.updated_at = now
            Lead.objects.bulk_update(list(refreshed.values()), [*LEAD_EDITABLE, "updated_at"], batch_size=500)
        Lead.objects.bulk_create([lead for lead, _ in created], batch_size=500)
        StageChange.objects.bulk_create(
            [_lead_first_stage(lead, data, actor) for lead, data in created], batch_size=500
        )
        publish_many(
            [
                LeadCaptured(
                    organization_id=lead.organization_id,
                    lead_id=lead.pk,
                    contact_id=lead.contact_id,
                    created=was_created,
                )
                for lead, was_created in results
            ]
        )
    return results


def lead_update(*, lead: Lead, data: Mapping[str, Any], actor: Actor) -> Lead:
    """Edit a lead's fields. The stage is not a field: it moves only through `lead_change_stage`."""
    if "stage" in data and data["stage"] != lead.stage:
        raise ValidationError(
            {"stage": ["Change the stage with the stage-change action, which records why."]}
        )
    with transaction.atomic():
        # Compared by column (owner_id, not owner) so that no related row is fetched.
        columns = {field: _LEAD_COLUMNS[field] for field in LEAD_EDITABLE}
        before = {field: getattr(lead, column) for field, column in columns.items()}
        _lead_apply(lead, data)
        lead.save()
        changed = [field for field, column in columns.items() if getattr(lead, column) != before[field]]
        if changed:
            publish(LeadUpdated(organization_id=lead.organization_id, lead_id=lead.pk, fields=changed))
    return lead


class StageTransitionError(ValidationError):
    pass


def lead_change_stage(
    *, lead: Lead, to_stage: str, actor: Actor, reason: str = "", at: dt.datetime | None = None
) -> Lead:
    """The one way a lead changes stage: checks the move is allowed, records who or what and why, and
    publishes LeadStageChanged after commit."""
    if to_stage not in Stage.values:
        raise StageTransitionError({"stage": [f"'{to_stage}' is not a stage."]})
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        from_stage = locked.stage
        if to_stage == from_stage:
            return locked
        if to_stage not in STAGE_TRANSITIONS[from_stage]:
            allowed = ", ".join(sorted(STAGE_TRANSITIONS[from_stage])) or "none (start a new journey)"
            raise StageTransitionError(
                {
                    "stage": [
                        f"A lead cannot move from {from_stage} to {to_stage}; "
                        f"allowed from {from_stage}: {allowed}."
                    ]
                }
            )
        if to_stage in {Stage.DISQUALIFIED, Stage.RECYCLED} and not reason.strip():
            raise StageTransitionError({"reason": [f"Say why the lead is {to_stage}."]})
        when = at or timezone.now()
        locked.stage = to_stage
        locked.stage_changed_at = when
        locked.save(update_fields=["stage", "stage_changed_at", "updated_at"])
        StageChange.objects.create(
            lead=locked,
            from_stage=from_stage,
            to_stage=to_stage,
            changed_at=when,
            changed_by_user=actor.user,
            changed_by_api_key=actor.api_key,
            rule=actor.rule,
            reason=reason.strip(),
        )
        publish(
            LeadStageChanged(
                organization_id=locked.organization_id,
                lead_id=locked.pk,
                from_stage=from_stage,
                to_stage=to_stage,
                reason=reason.strip(),
            )
        )
    lead.stage, lead.stage_changed_at = locked.stage, locked.stage_changed_at
    return locked


def leads_bulk_change_stage(
    *, lead_ids: Iterable[int], to_stage: str, actor: Actor, reason: str = ""
) -> dict[int, str | None]:
    """Move many leads; each is its own savepoint so one refused move does not undo the others.
    Returns {lead_id: None on success, else the reason it was refused}."""
    results: dict[int, str | None] = {}
    ids = list(dict.fromkeys(int(i) for i in lead_ids))
    leads = {lead.pk: lead for lead in Lead.objects.filter(pk__in=ids)}
    for lead_id in ids:
        lead = leads.get(lead_id)
        if lead is None:
            results[lead_id] = "Not found."
            continue
        try:
            with transaction.atomic():
                lead_change_stage(lead=lead, to_stage=to_stage, actor=actor, reason=reason)
            results[lead_id] = None
        except ValidationError as exc:
            results[lead_id] = " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    return results


def lead_delete(*, lead: Lead, actor: Actor) -> None:
    with transaction.atomic():
        was_current = lead.is_current
        contact_id = lead.contact_id
        lead.delete()
        if was_current:
            newest = Lead.objects.filter(contact_id=contact_id).order_by("-journey").first()
            if newest is not None:
                Lead.objects.filter(pk=newest.pk).update(is_current=True)
