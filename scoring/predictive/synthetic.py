"""A synthetic organization with a known answer, for the benchmark and the tests of predictive scoring.

Leads get a job title, a company (industry, size, country), custom fields (a plan, a number of seats, a
high-cardinality reference code) and touchpoints; whether each became a customer is drawn from a logistic
ground truth on those (demos, the plan, seats and senior titles help; students and free plans do not).
Customers also get product-usage touchpoints *after* converting, as real ones do: a model that let them
in would learn the outcome from its own consequence, so the extraction must cut them off.
Everything is written with bulk inserts in the current tenant.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass

import numpy as np
from django.utils import timezone

from leads.models import (
    Channel,
    Company,
    Contact,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    Lead,
    Stage,
    StageChange,
    Touchpoint,
    TouchpointType,
)

TITLES: dict[str, float] = {
    "Chief Executive Officer": 0.9,
    "VP Marketing": 0.8,
    "Head of Growth": 0.6,
    "Marketing Manager": 0.3,
    "Marketing Specialist": 0.0,
    "Sales Analyst": -0.1,
    "Marketing Intern": -0.8,
    "Student": -1.2,
    "Retired": -1.0,
}
PLANS: dict[str, float] = {"free": -0.9, "starter": 0.0, "pro": 0.6, "enterprise": 1.0}
INDUSTRIES = ["Software", "Retail", "Finance", "Health", "Education"]
COUNTRIES = ["Germany", "France", "Spain", "Italy", "Netherlands", "Poland"]
CHANNELS = [Channel.ORGANIC_SEARCH, Channel.PAID_SEARCH, Channel.SOCIAL, Channel.EMAIL, Channel.REFERRAL]
DEMO_WEIGHT = 0.9
SEATS_WEIGHT = 0.35
INTERCEPT = -1.6


@dataclass(frozen=True)
class SyntheticSummary:
    leads: int
    labelled: int
    positives: int
    touchpoints: int


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def synthetic_organization_fill(
    *,
    leads: int,
    seed: int = 0,
    now: dt.datetime | None = None,
    open_share: float = 0.1,
    label_field: bool = False,
    batch_size: int = 2000,
) -> SyntheticSummary:
    """Fill the current organization with `leads` leads whose outcomes follow the ground truth above.

    `open_share` of them are still open (recent, no outcome). `label_field` adds a custom field
    `closed_won` equal to the outcome: leakage in its purest form, for the leakage check.
    """
    rng = np.random.default_rng(seed)
    now = now or timezone.now()
    tag = f"s{seed}-{rng.integers(1_000_000_000)}"
    definitions = [
        CustomField(
            entity=CustomFieldEntity.CONTACT, key="plan", label="plan", field_type=CustomFieldType.CHOICE
        ),
        CustomField(
            entity=CustomFieldEntity.CONTACT, key="seats", label="seats", field_type=CustomFieldType.NUMBER
        ),
        CustomField(
            entity=CustomFieldEntity.CONTACT,
            key="reference",
            label="reference",
            field_type=CustomFieldType.TEXT,
        ),
    ]
    if label_field:
        definitions.append(
            CustomField(
                entity=CustomFieldEntity.CONTACT,
                key="closed_won",
                label="closed won",
                field_type=CustomFieldType.NUMBER,
            )
        )
    existing = set(CustomField.objects.values_list("key", flat=True))
    CustomField.objects.bulk_create([d for d in definitions if d.key not in existing])

    n_companies = max(5, leads // 4)
    companies = Company.objects.bulk_create(
        [
            Company(
                name=f"Company {tag}-{i}",
                domain=f"c{i}-{tag}.example",
                industry=INDUSTRIES[int(rng.integers(len(INDUSTRIES)))],
                employee_count=int(math.exp(rng.normal(4, 1.5))),
                country=COUNTRIES[int(rng.integers(len(COUNTRIES)))],
            )
            for i in range(n_companies)
        ],
        batch_size=batch_size,
    )
    titles = list(TITLES)
    plans = list(PLANS)
    title_index = rng.integers(len(titles), size=leads)
    plan_index = rng.choice(len(plans), size=leads, p=[0.4, 0.3, 0.2, 0.1])
    seats = np.maximum(1, rng.lognormal(1.5, 1.0, size=leads).round()).astype(int)
    demos = rng.poisson(0.6, size=leads)
    page_views = rng.poisson(4.0, size=leads)
    email_clicks = rng.poisson(1.0, size=leads)
    z = (
        INTERCEPT
        + np.array([TITLES[titles[i]] for i in title_index])
        + np.array([PLANS[plans[i]] for i in plan_index])
        + SEATS_WEIGHT * np.log(seats)
        + DEMO_WEIGHT * demos
        + rng.normal(0, 0.3, size=leads)
    )
    won = rng.random(leads) < _sigmoid(z)
    # Arrival over the last 400 days in id order; the newest `open_share` have no outcome yet.
    created = [
        now - dt.timedelta(days=400 * (1 - i / leads), minutes=int(rng.integers(0, 600)))
        for i in range(leads)
    ]
    is_open = np.arange(leads) >= leads * (1 - open_share)
    company_of = rng.integers(n_companies, size=leads)
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                email=f"lead{i}-{tag}@synthetic.example",
                email_normalized=f"lead{i}-{tag}@synthetic.example",
                first_name=f"Lead{i}",
                last_name="Synthetic",
                job_title=titles[title_index[i]],
                country=COUNTRIES[int(rng.integers(len(COUNTRIES)))],
                company=companies[company_of[i]],
                custom={
                    "plan": plans[plan_index[i]],
                    "seats": int(seats[i]),
                    "reference": f"REF-{rng.integers(10**9)}",
                    **({"closed_won": int(won[i])} if label_field else {}),
                },
                search_text=f"lead{i} synthetic",
                created_at=created[i],
            )
            for i in range(leads)
        ],
        batch_size=batch_size,
    )
    outcome_at = [created[i] + dt.timedelta(days=float(rng.uniform(5, 40))) for i in range(leads)]
    lead_rows = Lead.objects.bulk_create(
        [
            Lead(
                contact=contacts[i],
                stage=Stage.COLD if is_open[i] else (Stage.CUSTOMER if won[i] else Stage.DISQUALIFIED),
                source_channel=CHANNELS[int(rng.integers(len(CHANNELS)))],
                created_at=created[i],
                stage_changed_at=created[i] if is_open[i] else outcome_at[i],
            )
            for i in range(leads)
        ],
        batch_size=batch_size,
    )
    changes: list[StageChange] = []
    touches: list[Touchpoint] = []
    for i, lead in enumerate(lead_rows):
        changes.append(
            StageChange(
                lead=lead, from_stage="", to_stage=Stage.COLD, changed_at=created[i], rule="synthetic"
            )
        )
        end = now if is_open[i] else outcome_at[i]
        if not is_open[i]:
            if won[i]:
                path = [Stage.COLD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER]
                for step, (a, b) in enumerate(itertools.pairwise(path)):
                    at = outcome_at[i] - dt.timedelta(hours=3 * (len(path) - 2 - step))
                    changes.append(
                        StageChange(lead=lead, from_stage=a, to_stage=b, changed_at=at, rule="synthetic")
                    )
            else:
                changes.append(
                    StageChange(
                        lead=lead,
                        from_stage=Stage.COLD,
                        to_stage=Stage.DISQUALIFIED,
                        changed_at=outcome_at[i],
                        rule="synthetic",
                    )
                )
        span = max((end - created[i]).total_seconds() - 7200, 60)
        kinds: list[tuple[str, int]] = [
            (TouchpointType.PAGE_VIEW, int(page_views[i])),
            (TouchpointType.EMAIL_CLICK, int(email_clicks[i])),
            (TouchpointType.DEMO, int(demos[i])),
        ]
        for kind, count in kinds:
            for _ in range(count):
                at = created[i] + dt.timedelta(seconds=float(rng.uniform(0, span)))
                touches.append(_touch(lead, contacts[i], kind, at))
        if not is_open[i] and won[i]:
            for day in range(1, 4):
                touches.append(
                    _touch(
                        lead,
                        contacts[i],
                        TouchpointType.PRODUCT_USAGE,
                        outcome_at[i] + dt.timedelta(days=day),
                    )
                )
    StageChange.objects.bulk_create(changes, batch_size=batch_size)
    Touchpoint.objects.bulk_create(touches, batch_size=batch_size)
    labelled = int((~is_open).sum())
    return SyntheticSummary(
        leads=leads, labelled=labelled, positives=int((won & ~is_open).sum()), touchpoints=len(touches)
    )


def _touch(lead: Lead, contact: Contact, kind: str, at: dt.datetime) -> Touchpoint:
    return Touchpoint(
        lead=lead, contact=contact, type=kind, occurred_at=at, created_at=at, channel=lead.source_channel
    )
