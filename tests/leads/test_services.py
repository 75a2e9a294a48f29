"""The funnel's write services: stage changes, capture, custom fields, touchpoints and their rollup."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leadhub import events
from leadhub.events import ContactUpdated, DomainEvent, LeadCaptured, LeadStageChanged, TouchpointsRecorded
from leadhub.tenancy.models import Organization, OutboxEvent
from leadhub.tenancy.services import Actor, api_key_create
from leads.models import (
    STAGE_TRANSITIONS,
    Channel,
    Company,
    Contact,
    CustomFieldEntity,
    CustomFieldType,
    Lead,
    Stage,
    StageChange,
    Touchpoint,
    TouchpointType,
)
from leads.services import (
    StageTransitionError,
    contact_upsert,
    custom_field_create,
    custom_values_clean,
    lead_capture,
    lead_change_stage,
    leads_touch_rollup,
    touchpoints_record,
)
from tests.factories import CampaignFactory, ContactFactory, LeadFactory

InOrg = Callable[[], AbstractContextManager[int]]

ALLOWED_MOVES = sorted((src, dst) for src, targets in STAGE_TRANSITIONS.items() for dst in targets)
REFUSED_MOVES = sorted(
    (src, dst)
    for src in Stage.values
    for dst in Stage.values
    if dst != src and dst not in STAGE_TRANSITIONS[src]
)
NEEDS_REASON = {Stage.DISQUALIFIED, Stage.RECYCLED}


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[DomainEvent]]:
    """Every domain event dispatched during the test, with the product's own subscribers set aside."""
    received: list[DomainEvent] = []
    monkeypatch.setattr(events, "_subscribers", defaultdict(list))
    for event_type in events.EVENT_TYPES.values():
        events.subscribe(event_type)(received.append)
    yield received


# --- stage changes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("from_stage", "to_stage"), ALLOWED_MOVES)
def test_every_allowed_move_is_made_and_recorded_with_who_and_why(
    in_org: InOrg, admin_user: Any, from_stage: str, to_stage: str
) -> None:
    with in_org():
        lead = LeadFactory.create(stage=from_stage)
        lead_change_stage(
            lead=lead, to_stage=to_stage, actor=Actor(user=admin_user), reason="Budget confirmed"
        )

        stored = Lead.objects.get(pk=lead.pk)
        change = StageChange.objects.filter(lead=lead).latest("id")
    assert stored.stage == to_stage
    assert lead.stage == to_stage
    assert (change.from_stage, change.to_stage) == (from_stage, to_stage)
    assert change.changed_by_user == admin_user
    assert change.reason == "Budget confirmed"
    assert change.changed_at == stored.stage_changed_at


@pytest.mark.parametrize(("from_stage", "to_stage"), REFUSED_MOVES)
def test_every_other_move_is_refused_naming_the_allowed_ones(
    in_org: InOrg, from_stage: str, to_stage: str
) -> None:
    with in_org():
        lead = LeadFactory.create(stage=from_stage)
        history = StageChange.objects.filter(lead=lead).count()
        with pytest.raises(StageTransitionError) as refused:
            lead_change_stage(lead=lead, to_stage=to_stage, actor=Actor.system("test"), reason="Because")

        assert Lead.objects.get(pk=lead.pk).stage == from_stage
        assert StageChange.objects.filter(lead=lead).count() == history
    message = " ".join(refused.value.message_dict["stage"])
    assert f"from {from_stage} to {to_stage}" in message
    for allowed in STAGE_TRANSITIONS[from_stage]:
        assert allowed in message
    if not STAGE_TRANSITIONS[from_stage]:
        assert "new journey" in message


@pytest.mark.parametrize("to_stage", sorted(NEEDS_REASON))
@pytest.mark.parametrize("reason", ["", "   "])
def test_disqualifying_or_recycling_needs_a_reason(in_org: InOrg, to_stage: str, reason: str) -> None:
    with in_org():
        lead = LeadFactory.create(stage=Stage.MQL)
        with pytest.raises(StageTransitionError) as refused:
            lead_change_stage(lead=lead, to_stage=to_stage, actor=Actor.system("test"), reason=reason)
        assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    assert to_stage in refused.value.message_dict["reason"][0]


def test_an_unknown_stage_is_refused(in_org: InOrg) -> None:
    with in_org():
        lead = LeadFactory.create()
        with pytest.raises(StageTransitionError) as refused:
            lead_change_stage(lead=lead, to_stage="won", actor=Actor.system("test"))
    assert "'won' is not a stage" in refused.value.message_dict["stage"][0]


def test_moving_to_the_current_stage_records_nothing(in_org: InOrg, published: list[DomainEvent]) -> None:
    with in_org():
        lead = LeadFactory.create(stage=Stage.SQL)
        lead_change_stage(lead=lead, to_stage=Stage.SQL, actor=Actor.system("test"))
        assert StageChange.objects.filter(lead=lead).count() == 1  # the factory's creation entry
    assert not published


def test_a_rule_or_an_api_key_is_recorded_as_the_author(in_org: InOrg, org: Organization) -> None:
    with in_org():
        key, _ = api_key_create(organization=org, name="CRM sync", actor=Actor.system("test"))
        lead = LeadFactory.create(stage=Stage.COLD)
        lead_change_stage(lead=lead, to_stage=Stage.MQL, actor=Actor.system("score over 50"))
        lead_change_stage(lead=lead, to_stage=Stage.SQL, actor=Actor(api_key=key))
        mql, sql = StageChange.objects.filter(lead=lead).order_by("id")[1:]
    assert (mql.rule, mql.changed_by_user, mql.actor_label) == ("score over 50", None, "score over 50")
    assert sql.changed_by_api_key == key and sql.actor_label == "API key CRM sync"


def test_the_stage_event_is_published_after_commit_only(
    in_org: InOrg, published: list[DomainEvent], django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        lead = LeadFactory.create(stage=Stage.MQL)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, in_org():
        lead_change_stage(lead=lead, to_stage=Stage.RECYCLED, actor=Actor.system("test"), reason="No budget")
        # Stored with the write, in the same transaction...
        assert OutboxEvent.objects.filter(name=LeadStageChanged.name, dispatched_at__isnull=True).count() == 1
    # ... and handed to subscribers only once that transaction commits.
    assert published == []
    for callback in callbacks:
        callback()
    assert published == [
        LeadStageChanged(
            organization_id=lead.organization_id,
            lead_id=lead.pk,
            from_stage=Stage.MQL,
            to_stage=Stage.RECYCLED,
            reason="No budget",
        )
    ]
    with in_org():
        assert OutboxEvent.objects.get(name=LeadStageChanged.name).dispatched_at is not None


def test_a_rolled_back_stage_change_publishes_nothing(
    in_org: InOrg, published: list[DomainEvent], django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        lead = LeadFactory.create(stage=Stage.MQL)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, in_org():
        with transaction.atomic():
            lead_change_stage(lead=lead, to_stage=Stage.SQL, actor=Actor.system("test"))
            transaction.set_rollback(True)
        assert not OutboxEvent.objects.filter(name=LeadStageChanged.name).exists()
        assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    assert callbacks == [] and published == []


# --- contacts and custom fields --------------------------------------------------------------


def test_contact_upsert_finds_the_contact_by_normalised_email(in_org: InOrg) -> None:
    with in_org():
        first, created = contact_upsert(data={"email": "  Ada.Lovelace@Example.COM ", "first_name": "Ada"})
        again, created_again = contact_upsert(data={"email": "ada.lovelace@example.com", "job_title": "CTO"})
        assert Contact.objects.count() == 1
    assert created and not created_again
    assert again.pk == first.pk
    assert again.email_normalized == "ada.lovelace@example.com"
    assert (again.first_name, again.job_title) == ("Ada", "CTO")


def test_contact_upsert_never_overwrites_known_values_with_blanks(
    in_org: InOrg, published: list[DomainEvent], django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        custom_field_create(
            entity=CustomFieldEntity.CONTACT, key="plan", label="Plan", field_type=CustomFieldType.TEXT
        )
        contact, _ = contact_upsert(
            data={
                "email": "grace@navy.example",
                "first_name": "Grace",
                "last_name": "Hopper",
                "phone": "+1 555 0100",
                "company": {"name": "Navy", "domain": "navy.example"},
                "custom_fields": {"plan": "Enterprise"},
            }
        )
    with django_capture_on_commit_callbacks(execute=True), in_org():
        contact_upsert(
            data={
                "email": "GRACE@navy.example",
                "first_name": "",
                "last_name": None,
                "phone": "",
                "city": "Arlington",
                "custom_fields": {"plan": ""},
            }
        )
        stored = Contact.objects.select_related("company").get(pk=contact.pk)
    assert (stored.first_name, stored.last_name, stored.phone) == ("Grace", "Hopper", "+1 555 0100")
    assert stored.city == "Arlington"
    assert stored.custom == {"plan": "Enterprise"}
    assert stored.company is not None and stored.company.domain == "navy.example"
    assert published == [
        ContactUpdated(organization_id=stored.organization_id, contact_id=stored.pk, fields=["city"])
    ]


def test_contact_upsert_refuses_an_invalid_email(in_org: InOrg) -> None:
    with in_org(), pytest.raises(ValidationError) as refused:
        contact_upsert(data={"email": "not-an-email"})
    assert "email" in refused.value.message_dict


def test_the_same_email_is_a_separate_contact_in_each_organization(
    in_org: InOrg, in_other_org: InOrg
) -> None:
    with in_org():
        ours, _ = contact_upsert(data={"email": "shared@example.com", "first_name": "Ours"})
    with in_other_org():
        theirs, created = contact_upsert(data={"email": "shared@example.com", "first_name": "Theirs"})
    assert created and theirs.pk != ours.pk
    with in_org():
        assert Contact.objects.get().first_name == "Ours"


def test_companies_are_matched_by_normalised_domain(in_org: InOrg) -> None:
    with in_org():
        one, _ = contact_upsert(
            data={"email": "a@acme.io", "company": {"name": "Acme", "domain": "https://www.Acme.io/about"}}
        )
        two, _ = contact_upsert(
            data={"email": "b@acme.io", "company": {"name": "ACME Inc.", "domain": "acme.io"}}
        )
        assert Company.objects.count() == 1
    assert one.company_id == two.company_id
    assert one.company is not None and one.company.domain == "acme.io"


CUSTOM_FIELD_CASES = [
    # (type, choices, raw value, stored value)
    (CustomFieldType.TEXT, None, "Hello", "Hello"),
    (CustomFieldType.NUMBER, None, "42", 42),
    (CustomFieldType.NUMBER, None, "2.5", 2.5),
    (CustomFieldType.NUMBER, None, 7, 7),
    (CustomFieldType.CHOICE, ["Starter", "Pro"], "Pro", "Pro"),
    (CustomFieldType.DATE, None, "2024-03-01", "2024-03-01"),
    (CustomFieldType.DATE, None, dt.date(2024, 3, 1), "2024-03-01"),
    (CustomFieldType.BOOLEAN, None, "yes", True),
    (CustomFieldType.BOOLEAN, None, False, False),
    (CustomFieldType.NUMBER, None, "", None),
]
CUSTOM_FIELD_ERRORS = [
    (CustomFieldType.NUMBER, None, "many", "'many' is not a number"),
    (CustomFieldType.NUMBER, None, True, "Expected a number"),
    (CustomFieldType.NUMBER, None, "NaN", "finite"),
    (CustomFieldType.CHOICE, ["Starter", "Pro"], "Gold", "'Gold' is not one of: Starter, Pro"),
    (CustomFieldType.DATE, None, "01/03/2024", "not a date (expected YYYY-MM-DD)"),
    (CustomFieldType.BOOLEAN, None, "perhaps", "'perhaps' is not yes or no"),
    (CustomFieldType.TEXT, None, "x" * 2001, "2,000 characters"),
]


@pytest.mark.parametrize(("field_type", "choices", "raw", "stored"), CUSTOM_FIELD_CASES)
def test_custom_values_are_coerced_to_their_type(
    in_org: InOrg, field_type: str, choices: list[str] | None, raw: Any, stored: Any
) -> None:
    with in_org():
        custom_field_create(
            entity=CustomFieldEntity.CONTACT, key="tier", label="Tier", field_type=field_type, choices=choices
        )
        assert custom_values_clean(entity=CustomFieldEntity.CONTACT, values={"tier": raw}) == {"tier": stored}


@pytest.mark.parametrize(("field_type", "choices", "raw", "message"), CUSTOM_FIELD_ERRORS)
def test_invalid_custom_values_are_refused_naming_the_field(
    in_org: InOrg, field_type: str, choices: list[str] | None, raw: Any, message: str
) -> None:
    with in_org():
        custom_field_create(
            entity=CustomFieldEntity.CONTACT, key="tier", label="Tier", field_type=field_type, choices=choices
        )
        with pytest.raises(ValidationError) as refused:
            contact_upsert(data={"email": "c@example.com", "custom_fields": {"tier": raw}})
        assert not Contact.objects.exists()
    assert list(refused.value.message_dict) == ["custom_fields.tier"]
    assert message in refused.value.message_dict["custom_fields.tier"][0]


def test_an_unknown_custom_field_is_refused_by_name(in_org: InOrg) -> None:
    with in_org(), pytest.raises(ValidationError) as refused:
        custom_values_clean(entity=CustomFieldEntity.COMPANY, values={"arr": 1})
    assert refused.value.message_dict == {
        "custom_fields.arr": ["No company custom field 'arr' exists in this organization."]
    }


def test_custom_fields_of_another_organization_do_not_apply(in_org: InOrg, in_other_org: InOrg) -> None:
    with in_other_org():
        custom_field_create(
            entity=CustomFieldEntity.CONTACT, key="tier", label="Tier", field_type=CustomFieldType.TEXT
        )
    with in_org(), pytest.raises(ValidationError) as refused:
        custom_values_clean(entity=CustomFieldEntity.CONTACT, values={"tier": "Gold"})
    assert "custom_fields.tier" in refused.value.message_dict


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entity": "deal", "key": "k", "field_type": CustomFieldType.TEXT}, "entity"),
        ({"entity": CustomFieldEntity.CONTACT, "key": "k", "field_type": "money"}, "field_type"),
        ({"entity": CustomFieldEntity.CONTACT, "key": "k", "field_type": CustomFieldType.CHOICE}, "choices"),
        ({"entity": CustomFieldEntity.CONTACT, "key": "", "field_type": CustomFieldType.TEXT}, "key"),
    ],
)
def test_custom_field_definitions_are_validated(in_org: InOrg, kwargs: dict[str, Any], field: str) -> None:
    with in_org(), pytest.raises(ValidationError) as refused:
        custom_field_create(label="Label", **kwargs)
    assert field in refused.value.message_dict


def test_a_custom_field_key_is_unique_per_entity(in_org: InOrg) -> None:
    with in_org():
        custom_field_create(
            entity=CustomFieldEntity.CONTACT, key="tier", label="Tier", field_type=CustomFieldType.TEXT
        )
        custom_field_create(
            entity=CustomFieldEntity.COMPANY, key="tier", label="Tier", field_type=CustomFieldType.TEXT
        )
        with pytest.raises(ValidationError) as refused:
            custom_field_create(
                entity=CustomFieldEntity.CONTACT, key="tier", label="Tier 2", field_type=CustomFieldType.TEXT
            )
    assert "already exists" in refused.value.message_dict["key"][0]


# --- capture and journeys --------------------------------------------------------------------


def test_capturing_a_new_email_creates_a_cold_lead_with_its_history(
    in_org: InOrg, published: list[DomainEvent], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), in_org():
        lead, created = lead_capture(
            contact_data={"email": "new@example.com", "first_name": "Nina"},
            lead_data={"source_channel": Channel.PAID_SEARCH},
            actor=Actor.system("web form"),
        )
        history = list(StageChange.objects.filter(lead=lead).values_list("from_stage", "to_stage", "rule"))
    assert created
    assert (lead.stage, lead.journey, lead.is_current, lead.source_channel) == (
        Stage.COLD,
        1,
        True,
        Channel.PAID_SEARCH,
    )
    assert history == [("", Stage.COLD, "web form")]
    assert published == [
        LeadCaptured(
            organization_id=lead.organization_id, lead_id=lead.pk, contact_id=lead.contact_id, created=True
        )
    ]


def test_capturing_a_known_email_returns_its_open_journey_and_fills_only_blanks(
    in_org: InOrg, admin_user: Any
) -> None:
    with in_org():
        first_campaign = CampaignFactory.create(channel=Channel.EMAIL)
        second_campaign = CampaignFactory.create(channel=Channel.SOCIAL)
        lead, _ = lead_capture(contact_data={"email": "known@example.com"}, actor=Actor.system("form"))
        lead_capture(
            contact_data={"email": "known@example.com"},
            lead_data={"campaign": first_campaign, "need": "CRM"},
            actor=Actor.system("form"),
        )
        again, created = lead_capture(
            contact_data={"email": "KNOWN@example.com"},
            lead_data={"campaign": second_campaign, "need": "Something else"},
            actor=Actor.system("form"),
        )
        assert Lead.objects.count() == 1
    assert not created and again.pk == lead.pk
    assert again.campaign == first_campaign
    assert again.need == "CRM"


@pytest.mark.parametrize("ended", [Stage.CUSTOMER, Stage.DISQUALIFIED])
def test_capture_after_a_finished_journey_starts_a_new_one(in_org: InOrg, ended: str) -> None:
    with in_org():
        contact = ContactFactory.create(email="back@example.com", email_normalized="back@example.com")
        old = LeadFactory.create(contact=contact, stage=ended)
        new, created = lead_capture(contact_data={"email": "back@example.com"}, actor=Actor.system("form"))
        old.refresh_from_db()
        current = Lead.objects.filter(contact=contact, is_current=True).get()
    assert created
    assert (new.journey, new.stage, new.pk) == (old.journey + 1, Stage.COLD, current.pk)
    assert not old.is_current


def test_capture_of_a_recycled_lead_continues_its_journey(in_org: InOrg) -> None:
    with in_org():
        contact = ContactFactory.create(email="again@example.com", email_normalized="again@example.com")
        recycled = LeadFactory.create(contact=contact, stage=Stage.RECYCLED)
        lead, created = lead_capture(contact_data={"email": "again@example.com"}, actor=Actor.system("form"))
    assert not created and lead.pk == recycled.pk


def test_capture_is_one_unit_of_work(in_org: InOrg) -> None:
    with in_org():
        with pytest.raises(ValidationError):
            lead_capture(
                contact_data={"email": "half@example.com"},
                lead_data={"grade": "Z"},
                actor=Actor.system("form"),
            )
        assert not Contact.objects.filter(email_normalized="half@example.com").exists()


# --- touchpoints -----------------------------------------------------------------------------


def _touch(lead: Lead, minutes_ago: int, **fields: Any) -> Touchpoint:
    return Touchpoint(
        lead=lead,
        type=fields.pop("type", TouchpointType.PAGE_VIEW),
        occurred_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        **fields,
    )


def test_touchpoints_are_recorded_in_one_batch_with_one_event(
    in_org: InOrg, published: list[DomainEvent], django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        campaign = CampaignFactory.create(channel=Channel.PAID_SOCIAL)
        one, two = LeadFactory.create(), LeadFactory.create()
    with django_capture_on_commit_callbacks(execute=True), in_org():
        created = touchpoints_record(
            touchpoints=[
                _touch(one, 5, campaign=campaign),
                _touch(two, 3, channel=Channel.EMAIL),
                _touch(one, 1),
            ]
        )
        stored = {t.pk: t for t in Touchpoint.objects.all()}
    assert len(created) == 3 and set(stored) == {t.pk for t in created}
    assert {t.contact_id for t in created} == {one.contact_id, two.contact_id}
    assert stored[created[0].pk].channel == Channel.PAID_SOCIAL  # taken from the campaign
    assert published == [
        TouchpointsRecorded(
            organization_id=one.organization_id,
            lead_ids=sorted([one.pk, two.pk]),
            touchpoint_ids=[t.pk for t in created],
        )
    ]


def test_touchpoints_with_a_known_external_id_are_skipped(
    in_org: InOrg, published: list[DomainEvent]
) -> None:
    with in_org():
        lead = LeadFactory.create()
        touchpoints_record(touchpoints=[_touch(lead, 9, external_id="evt-1")])
        created = touchpoints_record(
            touchpoints=[
                _touch(lead, 8, external_id="evt-1"),  # a retry of what is stored
                _touch(lead, 7, external_id="evt-2"),
                _touch(lead, 6, external_id="evt-2"),  # a duplicate within the batch
                _touch(lead, 5),
            ]
        )
        assert sorted(Touchpoint.objects.values_list("external_id", flat=True)) == ["", "evt-1", "evt-2"]
        assert touchpoints_record(touchpoints=[_touch(lead, 1, external_id="evt-2")]) == []
        assert touchpoints_record(touchpoints=[]) == []
        assert OutboxEvent.objects.filter(name=TouchpointsRecorded.name).count() == 2
    assert [t.external_id for t in created] == ["evt-2", ""]


def test_the_touch_rollup_sets_first_and_last_touch_from_the_touchpoints(in_org: InOrg) -> None:
    with in_org():
        campaign = CampaignFactory.create()
        lead, untouched = LeadFactory.create(), LeadFactory.create()
        capture_time = timezone.now() - dt.timedelta(days=3)
        Lead.objects.filter(pk=untouched.pk).update(first_touch_at=capture_time, last_touch_at=capture_time)
        middle = _touch(lead, 30, channel=Channel.SOCIAL)
        last = _touch(lead, 10, channel=Channel.DIRECT)
        first = _touch(
            lead, 50, channel=Channel.PAID_SEARCH, campaign=campaign, url="https://acme.example/pricing"
        )
        Touchpoint.objects.bulk_create([middle, last, first])

        assert leads_touch_rollup(lead_ids=[lead.pk, untouched.pk]) == 1
        assert leads_touch_rollup(lead_ids=[lead.pk]) == 1  # a second delivery changes nothing
        assert leads_touch_rollup(lead_ids=[]) == 0
        lead.refresh_from_db()
        untouched.refresh_from_db()
    assert (lead.first_touch_at, lead.last_touch_at) == (first.occurred_at, last.occurred_at)
    assert (lead.first_touch_channel, lead.first_touch_campaign_id, lead.first_touch_url) == (
        Channel.PAID_SEARCH,
        campaign.pk,
        "https://acme.example/pricing",
    )
    assert untouched.first_touch_at == capture_time == untouched.last_touch_at


def test_recording_touchpoints_rolls_up_the_lead_after_commit(
    in_org: InOrg, django_capture_on_commit_callbacks: Any
) -> None:
    with in_org():
        lead = LeadFactory.create()
    with django_capture_on_commit_callbacks(execute=False) as callbacks, in_org():
        first, last = _touch(lead, 20), _touch(lead, 2)
        touchpoints_record(touchpoints=[last, first])
        assert Lead.objects.get(pk=lead.pk).last_touch_at is None  # nothing happens before commit
    for callback in callbacks:
        callback()  # the handler enqueues leads.tasks.leads_touch_rollup (run in-process under test)
    with in_org():
        lead.refresh_from_db()
    assert (lead.first_touch_at, lead.last_touch_at) == (first.occurred_at, last.occurred_at)


# --- identity stitching ------------------------------------------------------------------------


def test_stitching_gives_a_visitors_anonymous_history_to_the_lead_and_keeps_the_first_touch(
    in_org: Callable[[], AbstractContextManager[int]],
) -> None:
    from leads.services import touchpoints_stitch
    from tests.factories import CampaignFactory, LeadFactory

    with in_org():
        campaign = CampaignFactory(name="Spring webinar", channel=Channel.PAID_SOCIAL)
        lead = LeadFactory()
        now = timezone.now()
        first = Touchpoint.objects.create(
            anonymous_id="v-1",
            type=TouchpointType.PAGE_VIEW,
            occurred_at=now - dt.timedelta(days=3),
            channel=Channel.PAID_SOCIAL,
            campaign=campaign,
            url="https://acme.example/landing",
        )
        Touchpoint.objects.create(anonymous_id="v-1", type=TouchpointType.PAGE_VIEW, occurred_at=now)
        other = LeadFactory()
        owned = Touchpoint.objects.create(
            anonymous_id="v-1", type=TouchpointType.PAGE_VIEW, lead=other, contact=other.contact
        )
        Touchpoint.objects.create(anonymous_id="v-2", type=TouchpointType.PAGE_VIEW)

        assert touchpoints_stitch(anonymous_id="v-1", lead=lead) == 2
        assert touchpoints_stitch(anonymous_id="v-1", lead=lead) == 0
        assert touchpoints_stitch(anonymous_id="", lead=lead) == 0

        lead.refresh_from_db()
        assert set(Touchpoint.objects.filter(lead=lead).values_list("contact_id", flat=True)) == {
            lead.contact_id
        }
        assert lead.first_touch_at == first.occurred_at
        assert lead.first_touch_channel == Channel.PAID_SOCIAL
        assert lead.first_touch_campaign_id == campaign.pk
        assert lead.first_touch_url == "https://acme.example/landing"
        owned.refresh_from_db()
        assert owned.lead_id == other.pk
