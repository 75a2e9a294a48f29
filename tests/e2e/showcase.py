"""A small, realistic organization for the browser tests and the screenshots: a team with every role,
companies of varied size and industry, campaigns across channels, three dozen leads whose stage history
walks the funnel (with who and why), touchpoints, custom fields, API keys and the audit trail they
leave. Built through the services, so it looks exactly like data the product itself wrote."""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization, Role
from leadhub.tenancy.services import (
    Actor,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    membership_set,
    organization_create,
    user_get_or_create,
)
from leads.models import Campaign, Channel, Lead, Stage, Touchpoint, TouchpointType
from leads.services import custom_field_create, lead_capture, lead_change_stage, touchpoints_record

PASSWORD = "brightwave-demo-pass"

TEAM = [
    # email, first, last, role
    ("dana.whitfield@brightwave.example", "Dana", "Whitfield", Role.ADMIN),
    ("leo.marsh@brightwave.example", "Leo", "Marsh", Role.MARKETER),
    ("priya.nair@brightwave.example", "Priya", "Nair", Role.SALES_REP),
    ("marco.ricci@brightwave.example", "Marco", "Ricci", Role.SALES_REP),
    ("hannah.berg@brightwave.example", "Hannah", "Berg", Role.SALES_MANAGER),
]

CAMPAIGNS = [
    ("Q3 Search — Lead scoring", Channel.PAID_SEARCH, "google", "cpc", "q3-lead-scoring"),
    ("LinkedIn ABM — Enterprise", Channel.PAID_SOCIAL, "linkedin", "paid-social", "abm-enterprise"),
    ("Webinar: Funnel analytics 101", Channel.EVENTS, "webinar", "event", "funnel-analytics-101"),
    ("September newsletter", Channel.EMAIL, "newsletter", "email", "sept-newsletter"),
    ("Partner referrals — Cloudlane", Channel.PARTNER, "cloudlane", "referral", "cloudlane-partner"),
    ("SEO — Attribution guide", Channel.ORGANIC_SEARCH, "google", "organic", "attribution-guide"),
]

COMPANIES = [
    ("Helios Logistics", "helioslogistics.example", "Logistics", 820, "Germany", "Gold"),
    ("Fjord Bank", "fjordbank.example", "Financial services", 3400, "Norway", "Platinum"),
    ("Quanta Health", "quantahealth.example", "Healthcare", 260, "Netherlands", "Silver"),
    ("Mosaic Retail Group", "mosaicretail.example", "Retail", 5200, "France", "Gold"),
    ("Atlas Robotics", "atlasrobotics.example", "Manufacturing", 640, "Germany", "Silver"),
    ("Verdant Energy", "verdantenergy.example", "Energy", 1900, "Spain", "Gold"),
    ("Lumen Learning Labs", "lumenlearning.example", "Education", 85, "Ireland", "Bronze"),
    ("Northbeam Media", "northbeam.example", "Media", 140, "United Kingdom", "Bronze"),
    ("Crescent Insurance", "crescentinsurance.example", "Insurance", 2700, "Austria", "Platinum"),
    ("Pinecrest Software", "pinecrest.example", "Software", 310, "Sweden", "Silver"),
    ("Orbital Freight", "orbitalfreight.example", "Logistics", 1150, "Poland", "Gold"),
    ("Sable & Finch Legal", "sablefinch.example", "Legal services", 95, "United Kingdom", "Bronze"),
    ("Kestrel Biotech", "kestrelbio.example", "Biotech", 430, "Switzerland", "Silver"),
    ("Tidewater Foods", "tidewaterfoods.example", "Food & beverage", 2100, "Denmark", "Gold"),
]

PEOPLE = [
    ("Sofia", "Lindqvist", "VP Marketing"),
    ("Jonas", "Becker", "Head of Growth"),
    ("Amara", "Okafor", "Marketing Operations Lead"),
    ("Lucas", "Moreau", "CMO"),
    ("Elena", "Petrova", "Demand Generation Manager"),
    ("Mateo", "García", "Head of Sales"),
    ("Freya", "Hansen", "Revenue Operations Manager"),
    ("Noah", "Schmidt", "CTO"),
    ("Isabella", "Rossi", "Digital Marketing Manager"),
    ("Oliver", "Walsh", "Sales Director"),
    ("Aisha", "Rahman", "Growth Marketer"),
    ("Henrik", "Nilsson", "CFO"),
    ("Chloé", "Dubois", "Marketing Analyst"),
    ("Tobias", "Wagner", "Head of Digital"),
    ("Maya", "Cohen", "Product Marketing Manager"),
    ("Daniel", "Kowalski", "IT Director"),
    ("Zara", "Ahmed", "Customer Success Lead"),
    ("Felix", "Bauer", "COO"),
    ("Ingrid", "Solberg", "Brand Manager"),
    ("Rafael", "Costa", "Performance Marketing Lead"),
    ("Nina", "Horvat", "Marketing Director"),
    ("Samuel", "Osei", "Business Development Manager"),
    ("Clara", "Jensen", "Head of CRM"),
    ("Adrian", "Novak", "VP Sales"),
    ("Leila", "Haddad", "Content Marketing Manager"),
    ("Erik", "Lund", "Data & Analytics Lead"),
    ("Hana", "Sato", "Lifecycle Marketing Manager"),
    ("Gabriel", "Silva", "Head of Partnerships"),
    ("Marta", "Zielińska", "Procurement Manager"),
    ("Viktor", "Ivanov", "Solutions Architect"),
    ("Julia", "Fischer", "Marketing Manager"),
    ("Omar", "Nasser", "Head of E-commerce"),
    ("Astrid", "Berg", "Chief Digital Officer"),
    ("Liam", "O'Connor", "Sales Operations Analyst"),
    ("Yara", "Mendes", "Field Marketing Manager"),
    ("Pieter", "de Vries", "Managing Director"),
]

# Where each lead ends up, in the order the people above are used.
TARGETS = (
    [Stage.COLD] * 9
    + [Stage.MQL] * 8
    + [Stage.SQL] * 6
    + [Stage.OPPORTUNITY] * 4
    + [Stage.CUSTOMER] * 3
    + [Stage.PQL] * 2
    + [Stage.RECYCLED] * 2
    + [Stage.DISQUALIFIED] * 2
)
PATHS: dict[str, list[str]] = {
    Stage.COLD: [],
    Stage.MQL: [Stage.MQL],
    Stage.PQL: [Stage.PQL],
    Stage.SQL: [Stage.MQL, Stage.SQL],
    Stage.OPPORTUNITY: [Stage.MQL, Stage.SQL, Stage.OPPORTUNITY],
    Stage.CUSTOMER: [Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER],
    Stage.RECYCLED: [Stage.MQL, Stage.SQL, Stage.RECYCLED],
    Stage.DISQUALIFIED: [Stage.MQL, Stage.DISQUALIFIED],
}
WHY: dict[str, list[str]] = {
    Stage.MQL: [
        "Score passed the MQL threshold (60)",
        "Downloaded the attribution guide and visited pricing twice",
    ],
    Stage.PQL: ["Trial workspace imported 5,000 contacts in week one"],
    Stage.SQL: ["Accepted after discovery call: budget confirmed", "Requested a demo for the RevOps team"],
    Stage.OPPORTUNITY: ["Demo done; proposal for 25 seats sent", "Security review started with IT"],
    Stage.CUSTOMER: ["Signed annual contract", "Closed won: 40 seats, 2-year term"],
    Stage.RECYCLED: ["No budget until next fiscal year; nurture and revisit in Q1"],
    Stage.DISQUALIFIED: ["Student project, not a buying company", "Competitor researching pricing"],
}
BANT = [
    (
        "€40k to €60k approved for FY",
        "Head of Growth signs; CFO approves",
        "Lead routing and scoring for 3 regions",
        "Decision before end of quarter",
    ),
    (
        "Under review",
        "VP Sales, with IT sign-off",
        "Replace spreadsheet-based funnel reporting",
        "Next 6 months",
    ),
    ("€15k", "Marketing Director", "Attribution across paid channels", "This quarter"),
]
PAGES = [
    "/",
    "/pricing",
    "/product/lead-scoring",
    "/product/attribution",
    "/customers",
    "/blog/mql-vs-sql",
    "/resources/attribution-guide",
    "/demo",
    "/integrations/hubspot",
    "/security",
]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


@dataclass
class Showcase:
    organization: Organization
    second_organization: Organization
    admin: Any
    rep: Any
    leads: list[Lead]
    second_org_lead_name: str


def build_showcase(now: dt.datetime | None = None) -> Showcase:
    now = now or timezone.now()
    rng = random.Random(20240917)
    User = get_user_model()
    organization = organization_create(
        name="Brightwave Software", slug="brightwave", admin_email=TEAM[0][0], password=PASSWORD
    )
    users: dict[str, Any] = {}
    for email, first, last, role in TEAM:
        user = user_get_or_create(email=email, password=PASSWORD, first_name=first, last_name=last)
        User.objects.filter(pk=user.pk).update(first_name=first, last_name=last)
        user.refresh_from_db()
        users[email] = user
        if role != Role.ADMIN:
            with tenant_context(organization):
                membership_set(
                    organization=organization, user=user, role=role, actor=Actor(user=users[TEAM[0][0]])
                )
    admin = users[TEAM[0][0]]
    reps = [users[TEAM[2][0]], users[TEAM[3][0]]]
    admin_actor = Actor(user=admin, ip_address="203.0.113.24")

    with tenant_context(organization):
        custom_field_create(
            entity="contact",
            key="preferred_language",
            label="Preferred language",
            field_type="choice",
            choices=["English", "German", "French", "Spanish", "Nordic"],
        )
        custom_field_create(
            entity="contact", key="newsletter_opt_in", label="Newsletter opt-in", field_type="boolean"
        )
        custom_field_create(
            entity="company",
            key="account_tier",
            label="Account tier",
            field_type="choice",
            choices=["Bronze", "Silver", "Gold", "Platinum"],
        )
        custom_field_create(entity="company", key="current_tool", label="Current tool", field_type="text")

        _, _ = api_key_create(
            organization=organization, name="Website forms", scope="capture", actor=admin_actor
        )
        _, sync_key = api_key_create(
            organization=organization, name="Salesforce sync", scope="full", actor=admin_actor
        )
        api_key_authenticate(sync_key)
        old, _ = api_key_create(
            organization=organization, name="Legacy Zapier", scope="full", actor=admin_actor
        )
        api_key_revoke(key=old, actor=admin_actor)

        campaigns = []
        for index, (name, channel, source, medium, slug) in enumerate(CAMPAIGNS):
            campaigns.append(
                Campaign.objects.create(
                    name=name,
                    channel=channel,
                    utm_source=source,
                    utm_medium=medium,
                    utm_campaign=slug,
                    start_date=(now - dt.timedelta(days=120 - index * 12)).date(),
                    budget=Decimal(4000 + index * 1500),
                )
            )

        leads: list[Lead] = []
        for index, (first, last, title) in enumerate(PEOPLE):
            company = COMPANIES[index % len(COMPANIES)]
            target = TARGETS[index]
            campaign = campaigns[index % len(campaigns)]
            created = now - dt.timedelta(
                days=rng.randint(2, 85), hours=rng.randint(0, 23), minutes=rng.randint(0, 59)
            )
            steps = PATHS[target]
            score = {
                Stage.COLD: rng.randint(4, 35),
                Stage.MQL: rng.randint(60, 74),
                Stage.PQL: rng.randint(62, 80),
                Stage.SQL: rng.randint(72, 88),
                Stage.OPPORTUNITY: rng.randint(80, 95),
                Stage.CUSTOMER: rng.randint(85, 99),
                Stage.RECYCLED: rng.randint(35, 55),
                Stage.DISQUALIFIED: rng.randint(5, 25),
            }[target]
            grade = "A" if score >= 85 else "B" if score >= 70 else "C" if score >= 45 else "D"
            bant = (
                BANT[index % len(BANT)]
                if target in {Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER}
                else ("",) * 4
            )
            local = _ascii(f"{first}.{last}".lower()).replace(" ", "").replace("'", "")
            lead, _ = lead_capture(
                contact_data={
                    "email": f"{local}@{company[1]}",
                    "first_name": first,
                    "last_name": last,
                    "job_title": title,
                    "phone": f"+49 30 {rng.randint(1000000, 9999999)}" if index % 3 else "",
                    "country": company[4],
                    "city": ["Berlin", "Oslo", "Amsterdam", "Paris", "Munich", "Madrid", "Dublin"][index % 7],
                    "company": {
                        "name": company[0],
                        "domain": company[1],
                        "industry": company[2],
                        "employee_count": company[3],
                        "country": company[4],
                        "annual_revenue": Decimal(company[3]) * Decimal(185000),
                        "custom_fields": {
                            "account_tier": company[5],
                            "current_tool": "Spreadsheets" if index % 2 else "HubSpot Starter",
                        },
                    },
                    "custom_fields": {
                        "preferred_language": ["English", "German", "French", "Nordic"][index % 4],
                        "newsletter_opt_in": index % 3 != 0,
                    },
                },
                lead_data={
                    "owner": reps[index % 2] if steps and target != Stage.DISQUALIFIED else None,
                    "score": score,
                    "grade": grade,
                    "source_channel": campaign.channel,
                    "campaign": campaign,
                    "budget": bant[0],
                    "authority": bant[1],
                    "need": bant[2],
                    "timing": bant[3],
                    "created_at": created,
                },
                actor=Actor.system("web form: Request a demo" if index % 2 else "capture API"),
            )
            leads.append(lead)

            touches: list[Touchpoint] = []
            count = 2 + len(steps) * 2 + rng.randint(0, 3)
            span = (now - created).total_seconds()
            moments = sorted(created + dt.timedelta(seconds=span * rng.random() * 0.95) for _ in range(count))
            moments[0] = created
            for n, moment in enumerate(moments):
                kind = (
                    TouchpointType.PAGE_VIEW
                    if n == 0
                    else rng.choice(
                        [
                            TouchpointType.PAGE_VIEW,
                            TouchpointType.PAGE_VIEW,
                            TouchpointType.EMAIL_OPEN,
                            TouchpointType.EMAIL_CLICK,
                            TouchpointType.DOWNLOAD,
                            TouchpointType.FORM_SUBMIT,
                            TouchpointType.WEBINAR,
                            TouchpointType.MEETING,
                            TouchpointType.DEMO,
                            TouchpointType.CALL,
                        ]
                    )
                )
                page = "/pricing" if n == 0 and index % 3 == 0 else rng.choice(PAGES)
                touches.append(
                    Touchpoint(
                        lead=lead,
                        contact=lead.contact,
                        type=kind,
                        occurred_at=moment,
                        channel=campaign.channel
                        if n == 0
                        else rng.choice([Channel.DIRECT, Channel.EMAIL, campaign.channel]),
                        campaign=campaign if n == 0 or rng.random() < 0.4 else None,
                        url=f"https://www.brightwave.example{page}"
                        + (
                            f"?utm_source={campaign.utm_source}&utm_medium={campaign.utm_medium}"
                            if n == 0
                            else ""
                        ),
                        referrer="https://www.google.com/"
                        if n == 0 and campaign.utm_source == "google"
                        else "",
                        utm_source=campaign.utm_source if n == 0 else "",
                        utm_medium=campaign.utm_medium if n == 0 else "",
                        utm_campaign=campaign.utm_campaign if n == 0 else "",
                    )
                )
            touchpoints_record(touchpoints=touches)

            moment = created
            for step_number, stage in enumerate(steps):
                moment = moment + dt.timedelta(
                    seconds=(now - moment).total_seconds() * rng.uniform(0.15, 0.45)
                )
                by_rule = stage in {Stage.MQL, Stage.PQL} and step_number == 0
                actor = (
                    Actor.system("score ≥ 60: marketing qualified")
                    if by_rule
                    else Actor(user=reps[index % 2] if stage != Stage.CUSTOMER else users[TEAM[4][0]])
                )
                lead_change_stage(
                    lead=lead, to_stage=stage, actor=actor, reason=rng.choice(WHY[stage]), at=moment
                )

    second = organization_create(name="Skyline Ventures", slug="skyline")
    with tenant_context(second):
        membership_set(organization=second, user=admin, role=Role.MARKETER, actor=Actor.system("showcase"))
        lead_capture(
            contact_data={
                "email": "ren.takahashi@labs-prospect.example",
                "first_name": "Ren",
                "last_name": "Takahashi",
                "job_title": "Research Lead",
                "company": {"name": "Prospect Labs"},
            },
            lead_data={"score": 41},
            actor=Actor.system("capture API"),
        )
    return Showcase(
        organization=organization,
        second_organization=second,
        admin=admin,
        rep=reps[0],
        leads=leads,
        second_org_lead_name="Ren Takahashi",
    )
