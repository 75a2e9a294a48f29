"""Feature extraction for the predictive model: fit and custom fields of any type, touchpoint aggregates
cut off at the outcome, labels (customer, lost, gone quiet, open), set-based queries, tenant isolation,
and the encoding of values into columns."""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leads.models import (
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    Lead,
    Stage,
    StageChange,
    TouchpointType,
)
from scoring.predictive.encoding import OTHER, UNKNOWN, FieldEncoder, min_support
from scoring.predictive.features import (
    CATEGORICAL,
    NUMERIC,
    TOKENS,
    UNLABELLED,
    FieldSpec,
    lead_frame_extract,
)
from tests.factories import CompanyFactory, ContactFactory, LeadFactory, TouchpointFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _at(days_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days_ago)


def _lead(stage: str = Stage.COLD, *, created_days_ago: float = 10, **contact: Any) -> Lead:
    lead = LeadFactory(contact=ContactFactory(**contact), stage=stage, created_at=_at(created_days_ago))
    StageChange.objects.filter(lead=lead).update(changed_at=_at(created_days_ago))
    return lead


def _outcome(lead: Lead, stage: str, days_ago: float) -> None:
    StageChange.objects.create(lead=lead, from_stage=Stage.COLD, to_stage=stage, changed_at=_at(days_ago))
    Lead.objects.filter(pk=lead.pk).update(stage=stage)


def _row(frame: Any, lead: Lead) -> int:
    return int(np.flatnonzero(frame.lead_ids == lead.pk)[0])


def test_custom_fields_of_every_type_and_fit_fields_are_extracted(org: Any) -> None:
    with tenant_context(org):
        for key, kind in [
            ("seats", CustomFieldType.NUMBER),
            ("plan", CustomFieldType.CHOICE),
            ("vip", CustomFieldType.BOOLEAN),
            ("signup", CustomFieldType.DATE),
            ("notes", CustomFieldType.TEXT),
        ]:
            CustomField.objects.create(entity=CustomFieldEntity.CONTACT, key=key, label=key, field_type=kind)
        CustomField.objects.create(
            entity=CustomFieldEntity.COMPANY, key="arr", label="ARR", field_type=CustomFieldType.NUMBER
        )
        company = CompanyFactory(
            industry="Retail", employee_count=250, country="France", custom={"arr": 1200.5}
        )
        lead = _lead(
            company=company,
            job_title="VP Marketing",
            country=" Germany ",
            custom={"seats": 12, "plan": "Pro", "vip": True, "signup": "2024-01-05", "notes": None},
        )
        bare = _lead(company=None, job_title="", custom={})
        frame = lead_frame_extract(inactive_days=90)

    keys = {spec.key: spec for spec in frame.fields}
    assert keys["cf.seats"].kind == NUMERIC and keys["cf.plan"].kind == CATEGORICAL
    assert keys["cf.signup"].kind == NUMERIC and keys["company_cf.arr"].label == "company ARR"
    assert keys["contact.job_title"].kind == TOKENS
    i, j = _row(frame, lead), _row(frame, bare)
    values = frame.values
    assert values["cf.seats"][i] == 12.0 and math.isnan(values["cf.seats"][j])
    assert values["cf.plan"][i] == "pro" and values["cf.plan"][j] is None
    assert values["cf.vip"][i] == "yes" and values["cf.notes"][i] is None
    signup_days = (dt.datetime(2024, 1, 5, tzinfo=dt.UTC) - lead.created_at).total_seconds() / 86400
    assert values["cf.signup"][i] == round(signup_days)
    assert values["company_cf.arr"][i] == 1200.5 and math.isnan(values["company_cf.arr"][j])
    assert values["contact.job_title"][i] == "VP Marketing"
    assert values["contact.country"][i] == "germany"
    assert (values["company.industry"][i], values["company.employee_count"][i]) == ("retail", 250.0)
    assert values["company.country"][i] == "france" and values["company.industry"][j] is None
    assert values["lead.source_channel"][i] == "organic_search"


def test_touchpoint_aggregates_count_by_type_and_stop_at_the_outcome(org: Any) -> None:
    with tenant_context(org):
        won = _lead(created_days_ago=60)
        for days_ago, kind in [(50, "page_view"), (40, "page_view"), (30, "demo"), (5, "product_usage")]:
            TouchpointFactory(lead=won, type=kind, occurred_at=_at(days_ago))
        _outcome(won, Stage.CUSTOMER, days_ago=20)
        open_lead = _lead(created_days_ago=15)
        for days_ago in (12, 3):
            TouchpointFactory(lead=open_lead, type=TouchpointType.EMAIL_CLICK, occurred_at=_at(days_ago))
        TouchpointFactory(lead=open_lead, type="page_view", occurred_at=NOW + dt.timedelta(days=2))  # future
        frame = lead_frame_extract(inactive_days=90, now=NOW)

    i, j = _row(frame, won), _row(frame, open_lead)
    values = frame.values
    # Only what happened before the lead became a customer: the product usage after it is not seen.
    assert (frame.labels[i], frame.cutoffs[i]) == (1, pytest.approx(_at(20).timestamp()))
    assert values["touch.count.page_view"][i] == 2 and values["touch.count.demo"][i] == 1
    assert "touch.count.product_usage" not in values
    assert values["touch.total"][i] == 3
    assert values["touch.recency_days"][i] == pytest.approx(10, abs=0.1)
    assert values["touch.tenure_days"][i] == pytest.approx(30, abs=0.1)
    assert values["touch.per_month"][i] == pytest.approx(3.0, abs=0.05)
    assert frame.labels[j] == UNLABELLED
    assert values["touch.count.email_click"][j] == 2 and values["touch.count.page_view"][j] == 0
    assert values["touch.recency_days"][j] == pytest.approx(3, abs=0.1)


def test_labels_customer_lost_quiet_and_open(org: Any) -> None:
    with tenant_context(org):
        customer = _lead(created_days_ago=100)
        _outcome(customer, Stage.CUSTOMER, 50)
        disqualified = _lead(created_days_ago=100)
        _outcome(disqualified, Stage.DISQUALIFIED, 70)
        recycled = _lead(created_days_ago=100)
        _outcome(recycled, Stage.RECYCLED, 60)
        quiet = _lead(created_days_ago=200)
        TouchpointFactory(lead=quiet, occurred_at=_at(150))
        fresh = _lead(created_days_ago=200)
        TouchpointFactory(lead=fresh, occurred_at=_at(30))
        frame = lead_frame_extract(inactive_days=90, now=NOW)
        shorter = lead_frame_extract(inactive_days=10, now=NOW)
        never = lead_frame_extract(inactive_days=0, now=NOW)

    labels = {
        lead.pk: frame.labels[_row(frame, lead)] for lead in (customer, disqualified, recycled, quiet, fresh)
    }
    assert labels == {customer.pk: 1, disqualified.pk: 0, recycled.pk: 0, quiet.pk: 0, fresh.pk: UNLABELLED}
    # Gone quiet: lost as of its last activity, so "days since the last touchpoint" is not the label restated.
    q = _row(frame, quiet)
    assert frame.cutoffs[q] == pytest.approx(_at(150).timestamp())
    assert frame.values["touch.recency_days"][q] == 0
    assert shorter.labels[_row(shorter, fresh)] == 0
    assert never.labels[_row(never, quiet)] == UNLABELLED


def test_extraction_is_set_based(org: Any, django_assert_max_num_queries: Any) -> None:
    def build(n: int) -> None:
        for _ in range(n):
            lead = _lead()
            TouchpointFactory(lead=lead)

    with tenant_context(org):
        CustomField.objects.create(entity=CustomFieldEntity.CONTACT, key="plan", label="plan")
        build(3)
        with django_assert_max_num_queries(5):  # custom fields, leads, stage history, touchpoints
            small = lead_frame_extract(inactive_days=90)
        build(30)
        with django_assert_max_num_queries(5):
            large = lead_frame_extract(inactive_days=90)
        with django_assert_max_num_queries(5):
            some = lead_frame_extract(inactive_days=90, lead_ids=list(large.lead_ids[:4]))
    assert (len(small), len(large), len(some)) == (3, 33, 4)


def test_extraction_sees_only_its_own_organization(org: Any, other_org: Any) -> None:
    with tenant_context(other_org):
        CustomField.objects.create(entity=CustomFieldEntity.CONTACT, key="secret", label="secret")
        theirs = _lead(custom={"secret": "x"})
        TouchpointFactory(lead=theirs, type=TouchpointType.WEBINAR)
    with tenant_context(org):
        mine = _lead()
        frame = lead_frame_extract(inactive_days=90)
        # Asking for their lead by id finds nothing either.
        asked = lead_frame_extract(inactive_days=90, lead_ids=[theirs.pk, mine.pk])
    assert list(frame.lead_ids) == [mine.pk] == list(asked.lead_ids)
    keys = {spec.key for spec in frame.fields}
    assert "cf.secret" not in keys and "touch.count.webinar" not in keys


def test_leads_are_in_arrival_then_id_order(org: Any) -> None:
    with tenant_context(org):
        late = _lead(created_days_ago=1)
        same_a = _lead(created_days_ago=5)
        same_b = _lead(created_days_ago=5)
        Lead.objects.filter(pk=same_b.pk).update(created_at=same_a.created_at)
        early = _lead(created_days_ago=9)
        frame = lead_frame_extract(inactive_days=90)
    assert list(frame.lead_ids) == [early.pk, same_a.pk, same_b.pk, late.pk]


def test_an_imported_file_keeps_its_order_in_lead_ids(org: Any, tmp_path: Path) -> None:
    # Emails in reverse alphabetical order: ids must follow the file (its chronology), not the emails.
    rows = [f"z{9 - i}@example.com,{i},{'yes' if i % 2 else 'no'}" for i in range(8)]
    path = tmp_path / "ordered.csv"
    path.write_text("email,position,y\n" + "\n".join(rows) + "\n")
    call_command(
        "import_leads",
        "--organization",
        org.slug,
        str(path),
        "--custom-fields",
        "auto",
        "--stage-column",
        "y",
        "--stage-map",
        "yes=customer",
        "--stage-map",
        "no=disqualified",
        "--json",
        stdout=io.StringIO(),
    )
    with tenant_context(org):
        frame = lead_frame_extract(inactive_days=90)
    assert [frame.values["cf.position"][i] for i in range(len(frame))] == [float(i) for i in range(8)]
    assert list(frame.labels) == [i % 2 for i in range(8)]


# --- encoding ---------------------------------------------------------------------------------------------


def test_numeric_encoding_keeps_codes_and_bins_the_rest() -> None:
    spec = FieldSpec("cf.pdays", "pdays", NUMERIC, "Custom field")
    values = [999.0] * 900 + [float(v) for v in range(100)] + [math.nan] * 20
    encoder = FieldEncoder.fit(spec, values)
    assert encoder.levels[0] == "999" and encoder.levels[-1] == UNKNOWN
    codes = encoder.codes([999.0, 0.0, 99.0, math.nan])
    assert codes[0] == 0 and codes[3] == encoder.width - 1
    assert 0 < codes[1] < codes[2] < encoder.width - 1
    assert encoder.level_text(0) == "pdays is 999"
    assert encoder.value_text(math.nan, []) == "pdays is unknown"
    few = FieldEncoder.fit(spec, [0.0, 1.0, 2.0] * 20)
    assert few.exact and few.levels == ["0", "1", "2"]
    assert list(few.codes([2.0, 1.4, 7.0])) == [2, 1, 2]


def test_high_cardinality_categories_are_bucketed() -> None:
    spec = FieldSpec("cf.reference", "reference", CATEGORICAL, "Custom field")
    values: list[Any] = [f"id-{i}" for i in range(3000)] + ["common"] * 100 + [None] * 5
    encoder = FieldEncoder.fit(spec, values)
    assert min_support(len(values)) == 16
    assert encoder.levels == ["common", OTHER, UNKNOWN]
    matrix = encoder.matrix(["common", "id-7", None, "never seen"])
    assert matrix.toarray().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
    assert encoder.value_text("id-7", []) == "reference is 'id-7'"


def test_job_titles_become_words() -> None:
    spec = FieldSpec("contact.job_title", "job title", TOKENS, "Fit")
    values = ["Head of Marketing"] * 20 + ["Retired"] * 15 + [""] * 12 + ["Marketing Intern"] * 3
    encoder = FieldEncoder.fit(spec, values)
    assert set(encoder.levels) == {"head", "of", "marketing", "retired", UNKNOWN}
    row = encoder.matrix(["Retired teacher"]).toarray()[0]
    assert row[encoder.levels.index("retired")] == 1 and row.sum() == 1
    assert encoder.level_text(encoder.levels.index("retired")) == "job title contains 'retired'"
    assert encoder.value_text("Marketing Intern", [encoder.levels.index("marketing")]) == (
        "job title contains 'marketing'"
    )
