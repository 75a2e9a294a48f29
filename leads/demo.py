"""Realistic demo and benchmark data, shared by `seed_demo` and `generate_dataset`.

One deterministic generator (``random.Random(seed)`` plus a seeded Faker for the name pools) produces
plain drafts: companies of varied size and industry, contacts with job titles, leads whose stage history
walks `STAGE_TRANSITIONS`, and touchpoints whose pattern depends on how far the lead went (leads that
reached sales saw the pricing page, asked for a demo, joined a webinar and clicked emails, mostly
recently; the others left a single page view or download). Writers turn drafts into rows: the ORM writer
here (bulk_create inside the tenant context: `seed_demo`, and `generate_dataset` on SQLite) and the COPY
writer of `generate_dataset` on PostgreSQL.

Drafts carry times as POSIX seconds and relations as catalog indexes, so that the million-lead path does
no per-row datetime or model work; ids are reserved up front (`IdBlock`) so children can point to parents
without a round trip.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import unicodedata
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from typing import Any

from django.db import connections, router

from leads.models import (
    STAGE_TRANSITIONS,
    Campaign,
    CampaignSpend,
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

DAY = 86_400

DEMO_ORG_NAME = "Northwind Demo"
DEMO_ORG_SLUG = "demo"
DEMO_SECOND_ORG_NAME = "Northwind Labs"
DEMO_SECOND_ORG_SLUG = "demo-labs"
DEMO_PASSWORD = "northwind-demo"  # noqa: S105 - a published demo login, shown by `make run`
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    # email, first name, last name, role
    ("admin@northwind.example", "Avery", "Admin", "admin"),
    ("marketer@northwind.example", "Maya", "Marketing", "marketer"),
    ("manager@northwind.example", "Sam", "Salesmanager", "sales_manager"),
    ("rep1@northwind.example", "Riley", "Rep", "sales_rep"),
    ("rep2@northwind.example", "Jordan", "Rep", "sales_rep"),
)
DEMO_LEADS = 2_400
DEMO_SECOND_ORG_LEADS = 60
HISTORY_DAYS = 183


# --- catalogs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    daily_spend: tuple[int, int] | None  # euros per day while active; None: no paid spend
    active: tuple[float, float] = (0.0, 1.0)  # share of the history window it ran in
    lead_weight: float = 1.0
    terms: tuple[str, ...] = ()


CAMPAIGNS: tuple[CampaignSpec, ...] = (
    CampaignSpec(
        "Google Ads - Brand",
        Channel.PAID_SEARCH,
        "google",
        "cpc",
        "brand",
        (60, 140),
        lead_weight=5,
        terms=("northwind", "northwind pricing", "northwind crm"),
    ),
    CampaignSpec(
        "Google Ads - Lead scoring software",
        Channel.PAID_SEARCH,
        "google",
        "cpc",
        "lead-scoring",
        (180, 420),
        lead_weight=7,
        terms=("lead scoring software", "b2b lead scoring", "mql definition"),
    ),
    CampaignSpec(
        "Bing Ads - Marketing automation",
        Channel.PAID_SEARCH,
        "bing",
        "cpc",
        "marketing-automation",
        (25, 70),
        (0.2, 1.0),
        1.5,
        terms=("marketing automation tool", "lead nurturing software"),
    ),
    CampaignSpec(
        "LinkedIn - ABM target accounts",
        Channel.PAID_SOCIAL,
        "linkedin",
        "paid-social",
        "abm-accounts",
        (150, 320),
        (0.1, 1.0),
        5,
    ),
    CampaignSpec(
        "Meta - Retargeting",
        Channel.PAID_SOCIAL,
        "facebook",
        "paid-social",
        "retargeting",
        (30, 90),
        (0.0, 0.8),
        3,
    ),
    CampaignSpec(
        "Newsletter", Channel.EMAIL, "newsletter", "email", "monthly-newsletter", None, lead_weight=3
    ),
    CampaignSpec(
        "Nurture - Trial onboarding",
        Channel.EMAIL,
        "leadhub",
        "email",
        "trial-onboarding",
        None,
        (0.15, 1.0),
        2,
    ),
    CampaignSpec("Blog - Organic", Channel.ORGANIC_SEARCH, "google", "organic", "blog", None, lead_weight=9),
    CampaignSpec(
        "Webinar - Pipeline velocity",
        Channel.EVENTS,
        "webinar",
        "event",
        "pipeline-velocity",
        (40, 90),
        (0.35, 0.5),
        3,
    ),
    CampaignSpec(
        "SaaStr Europa booth",
        Channel.EVENTS,
        "saastr",
        "event",
        "saastr-europa",
        (2500, 4000),
        (0.62, 0.64),
        2,
    ),
    CampaignSpec(
        "Customer referral program",
        Channel.REFERRAL,
        "referral",
        "referral",
        "customer-referral",
        (10, 30),
        lead_weight=2,
    ),
    CampaignSpec(
        "Agency partner network",
        Channel.PARTNER,
        "partner",
        "partner",
        "agency-network",
        (20, 55),
        (0.25, 1.0),
        2,
    ),
    CampaignSpec(
        "Programmatic display", Channel.DISPLAY, "dv360", "display", "awareness-q", (35, 80), (0.0, 0.5), 1
    ),
)
# Leads that arrive with no campaign: typed URLs, untagged organic visits.
NO_CAMPAIGN_SOURCES: tuple[tuple[str, float], ...] = ((Channel.DIRECT, 4.0), (Channel.ORGANIC_SEARCH, 3.0))

INDUSTRIES: tuple[tuple[str, str, int], ...] = (
    # industry, name word, revenue per employee (EUR)
    ("Software", "Software", 210_000),
    ("Software", "Labs", 190_000),
    ("Financial services", "Capital", 320_000),
    ("Financial services", "Payments", 280_000),
    ("Healthcare", "Health", 150_000),
    ("Healthcare", "Medical", 170_000),
    ("Manufacturing", "Industries", 180_000),
    ("Manufacturing", "Manufacturing", 160_000),
    ("Retail", "Retail", 120_000),
    ("Retail", "Stores", 110_000),
    ("Logistics", "Logistics", 140_000),
    ("Logistics", "Freight", 150_000),
    ("Education", "Learning", 90_000),
    ("Media", "Media", 160_000),
    ("Telecommunications", "Telecom", 250_000),
    ("Professional services", "Consulting", 130_000),
    ("Professional services", "Partners", 140_000),
    ("Energy", "Energy", 400_000),
    ("Real estate", "Properties", 230_000),
    ("Software", "Cloud", 230_000),
    ("Software", "Analytics", 200_000),
)
COMPANY_SIZES: tuple[tuple[int, int, float], ...] = (
    (2, 10, 18),
    (11, 50, 30),
    (51, 200, 25),
    (201, 1000, 15),
    (1001, 5000, 8),
    (5001, 60000, 4),
)
COUNTRIES: tuple[tuple[str, str, str, float, tuple[str, ...]], ...] = (
    # country, tld, phone prefix, weight, cities
    (
        "United States",
        "com",
        "+1",
        34,
        ("New York", "San Francisco", "Austin", "Chicago", "Boston", "Seattle"),
    ),
    ("United Kingdom", "co.uk", "+44", 12, ("London", "Manchester", "Edinburgh", "Bristol")),
    ("Germany", "de", "+49", 12, ("Berlin", "Munich", "Hamburg", "Cologne")),
    ("France", "fr", "+33", 7, ("Paris", "Lyon", "Toulouse")),
    ("Netherlands", "nl", "+31", 5, ("Amsterdam", "Rotterdam", "Utrecht")),
    ("Canada", "ca", "+1", 6, ("Toronto", "Vancouver", "Montreal")),
    ("Australia", "com.au", "+61", 4, ("Sydney", "Melbourne")),
    ("Spain", "es", "+34", 4, ("Madrid", "Barcelona")),
    ("Sweden", "se", "+46", 3, ("Stockholm", "Gothenburg")),
    ("Ireland", "ie", "+353", 3, ("Dublin", "Cork")),
    ("India", "in", "+91", 5, ("Bangalore", "Mumbai", "Pune")),
    ("Brazil", "com.br", "+55", 5, ("Sao Paulo", "Rio de Janeiro")),
)
JOB_TITLES: tuple[tuple[str, float, float], ...] = (
    # title, weight, fit (how likely this person buys)
    ("Chief Marketing Officer", 2, 1.0),
    ("VP Marketing", 4, 0.95),
    ("Head of Demand Generation", 5, 0.95),
    ("Marketing Operations Manager", 7, 0.85),
    ("Head of Revenue Operations", 4, 0.9),
    ("Chief Revenue Officer", 2, 0.95),
    ("Sales Director", 4, 0.8),
    ("Growth Marketing Manager", 6, 0.7),
    ("Product Marketing Manager", 5, 0.55),
    ("Content Marketing Manager", 5, 0.45),
    ("Marketing Manager", 9, 0.6),
    ("Marketing Coordinator", 6, 0.3),
    ("Business Development Representative", 5, 0.3),
    ("Sales Operations Analyst", 4, 0.5),
    ("Account Executive", 5, 0.35),
    ("CEO", 3, 0.85),
    ("Founder", 3, 0.8),
    ("IT Manager", 3, 0.25),
    ("Marketing Intern", 2, 0.05),
    ("Student", 1, 0.0),
)

# Custom fields of each type on both entities, with a value maker each.
CUSTOM_FIELDS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    # entity, key, label, type, choices
    (
        CustomFieldEntity.CONTACT,
        "preferred_language",
        "Preferred language",
        CustomFieldType.CHOICE,
        ("English", "German", "French", "Spanish", "Portuguese"),
    ),
    (CustomFieldEntity.CONTACT, "seats_requested", "Seats requested", CustomFieldType.NUMBER, ()),
    (CustomFieldEntity.CONTACT, "trial_ends_on", "Trial ends on", CustomFieldType.DATE, ()),
    (CustomFieldEntity.CONTACT, "newsletter_opt_in", "Newsletter opt-in", CustomFieldType.BOOLEAN, ()),
    (CustomFieldEntity.CONTACT, "event_notes", "Notes from events", CustomFieldType.TEXT, ()),
    (
        CustomFieldEntity.COMPANY,
        "segment",
        "Segment",
        CustomFieldType.CHOICE,
        ("SMB", "Mid-market", "Enterprise"),
    ),
    (CustomFieldEntity.COMPANY, "arr_potential", "ARR potential (EUR)", CustomFieldType.NUMBER, ()),
    (CustomFieldEntity.COMPANY, "renewal_date", "Current tool renewal", CustomFieldType.DATE, ()),
    (CustomFieldEntity.COMPANY, "uses_competitor", "Uses a competitor", CustomFieldType.BOOLEAN, ()),
    (CustomFieldEntity.COMPANY, "tech_stack", "Tech stack", CustomFieldType.TEXT, ()),
)
LANGUAGES = ("English", "English", "English", "German", "French", "Spanish")
SEATS = (5, 10, 15, 25, 40, 75, 150)
BANT_ANSWERS: tuple[tuple[str, ...], ...] = (
    ("EUR 20-50k approved", "EUR 50-100k this year", "Needs CFO sign-off", "Under EUR 20k"),
    ("VP Marketing signs", "CMO and CFO", "Head of RevOps decides", "Founder decides"),
    (
        "Replace spreadsheet lead routing",
        "Score inbound leads faster",
        "Prove marketing ROI to the board",
        "Cut MQL to SQL time",
    ),
    ("This quarter", "Next quarter", "Within six months", "After the renewal"),
)
TECH_STACKS = (
    "Salesforce, Marketo",
    "HubSpot",
    "Salesforce, Pardot, Outreach",
    "Pipedrive, Mailchimp",
    "Dynamics 365",
    "Zoho CRM",
    "HubSpot, Salesloft",
    "Spreadsheets",
)
EVENT_NOTES = (
    "Asked about Salesforce sync",
    "Met at the booth; wants a pilot in Q3",
    "Interested in lead routing",
    "Compared us with their current scoring",
    "Needs GDPR consent tracking",
    "Visited with two colleagues",
)

# Stage codes: drafts hold indexes, the COPY path maps them back with the same tuple.
STAGE_CODES: tuple[str, ...] = ("", *Stage.values)
_STAGE_INDEX = {stage: i for i, stage in enumerate(STAGE_CODES)}

MOVE_RULES: tuple[str, ...] = (
    "",
    "created",
    "score_threshold",
    "product_usage",
    "fit_rules",
    "nurture_reset",
)
MOVE_REASONS: tuple[str, ...] = (
    "",
    "Lead created",
    "Score passed the MQL threshold",
    "Trial usage crossed the PQL threshold",
    "Accepted by sales after a discovery call",
    "Budget and timeline confirmed",
    "Closed won",
    "Deal slipped: back to qualification",
    "Back to nurturing after recycling",
    # disqualified
    "No budget this year",
    "Student or job seeker",
    "Competitor doing research",
    "Company too small for our plans",
    "Duplicate of an existing contact",
    "Unresponsive after five attempts",
    # recycled
    "Timing: revisit next quarter",
    "Staying with the current vendor for now",
    "Champion left the company",
    "Not the decision maker; keep nurturing",
    "Budget frozen until next fiscal year",
)
_DISQUALIFY_REASONS = tuple(range(9, 15))
_RECYCLE_REASONS = tuple(range(15, 20))

# Where a lead goes next from each stage: (to, weight, min days, max days, advances). `None` ends the walk.
_WALK: dict[str, tuple[tuple[str | None, float, float, float, bool], ...]] = {
    Stage.COLD: (
        (None, 40, 0, 0, False),
        (Stage.MQL, 42, 1, 25, True),
        (Stage.SQL, 3, 1, 10, True),
        (Stage.PQL, 3, 2, 20, True),
        (Stage.DISQUALIFIED, 9, 1, 30, False),
        (Stage.RECYCLED, 3, 10, 40, False),
    ),
    Stage.MQL: (
        (None, 30, 0, 0, False),
        (Stage.SQL, 40, 1, 14, True),
        (Stage.PQL, 5, 2, 15, True),
        (Stage.RECYCLED, 15, 7, 40, False),
        (Stage.DISQUALIFIED, 10, 2, 20, False),
    ),
    Stage.PQL: (
        (None, 30, 0, 0, False),
        (Stage.SQL, 45, 1, 10, True),
        (Stage.MQL, 5, 5, 20, False),
        (Stage.RECYCLED, 12, 7, 30, False),
        (Stage.DISQUALIFIED, 8, 2, 20, False),
    ),
    Stage.SQL: (
        (None, 25, 0, 0, False),
        (Stage.OPPORTUNITY, 48, 3, 21, True),
        (Stage.RECYCLED, 15, 7, 45, False),
        (Stage.DISQUALIFIED, 12, 3, 30, False),
    ),
    Stage.OPPORTUNITY: (
        (None, 25, 0, 0, False),
        (Stage.CUSTOMER, 42, 10, 60, True),
        (Stage.SQL, 5, 7, 30, False),
        (Stage.RECYCLED, 10, 14, 60, False),
        (Stage.DISQUALIFIED, 18, 7, 45, False),
    ),
    Stage.RECYCLED: (
        (None, 65, 0, 0, False),
        (Stage.MQL, 22, 20, 60, True),
        (Stage.COLD, 8, 20, 60, False),
        (Stage.DISQUALIFIED, 5, 10, 40, False),
    ),
    Stage.DISQUALIFIED: ((None, 92, 0, 0, False), (Stage.RECYCLED, 8, 30, 90, False)),
    Stage.CUSTOMER: ((None, 1, 0, 0, False),),
}
for _from, _moves in _WALK.items():
    for _to, *_ in _moves:
        assert _to is None or _to in STAGE_TRANSITIONS[_from], (_from, _to)

SALES_STAGES = frozenset({Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER})
PROFILE_LOW, PROFILE_MID, PROFILE_HIGH = 0, 1, 2


@dataclass(frozen=True)
class Action:
    key: str
    type: str
    path: str
    high_intent: bool
    weights: tuple[float, float, float]  # how often it happens for low / mid / high profile leads
    properties: tuple[tuple[str, Any], ...] = ()


ACTIONS: tuple[Action, ...] = (
    Action("home", TouchpointType.PAGE_VIEW, "/", False, (6, 4, 3)),
    Action("blog", TouchpointType.PAGE_VIEW, "/blog/how-to-define-an-mql", False, (10, 6, 3)),
    Action("blog2", TouchpointType.PAGE_VIEW, "/blog/lead-scoring-models-compared", False, (8, 5, 2)),
    Action("features", TouchpointType.PAGE_VIEW, "/product/lead-routing", False, (4, 5, 4)),
    Action(
        "ebook",
        TouchpointType.DOWNLOAD,
        "/resources/state-of-b2b-lead-scoring.pdf",
        False,
        (7, 4, 1),
        (("asset", "State of B2B lead scoring"),),
    ),
    Action(
        "checklist",
        TouchpointType.DOWNLOAD,
        "/resources/mql-sla-checklist.pdf",
        False,
        (4, 3, 1),
        (("asset", "MQL to SQL SLA checklist"),),
    ),
    Action("email_open", TouchpointType.EMAIL_OPEN, "", False, (5, 6, 4)),
    Action("ad_click", TouchpointType.AD_CLICK, "/lp/lead-scoring", False, (3, 2, 1)),
    Action("pricing", TouchpointType.PAGE_VIEW, "/pricing", True, (0.3, 3, 8)),
    Action("case_study", TouchpointType.PAGE_VIEW, "/customers/acme-logistics", True, (0.2, 2, 4)),
    Action(
        "email_click", TouchpointType.EMAIL_CLICK, "/blog/pipeline-velocity-benchmarks", True, (0.3, 4, 8)
    ),
    Action(
        "webinar",
        TouchpointType.WEBINAR,
        "/webinars/pipeline-velocity",
        True,
        (0.1, 2, 4),
        (("webinar", "Pipeline velocity"), ("attended_minutes", 42)),
    ),
    Action(
        "demo_request", TouchpointType.FORM_SUBMIT, "/demo", True, (0.05, 1, 4), (("form", "demo-request"),)
    ),
    Action("chat", TouchpointType.CHAT, "/pricing", True, (0.05, 1, 2), (("topic", "pricing"),)),
    Action(
        "trial_signup", TouchpointType.PRODUCT_SIGNUP, "/signup", True, (0.05, 1, 2), (("plan", "trial"),)
    ),
    Action(
        "product_usage",
        TouchpointType.PRODUCT_USAGE,
        "/app/leads",
        True,
        (0, 1, 3),
        (("feature", "lead_routing"),),
    ),
    Action("call", TouchpointType.CALL, "", True, (0, 0.2, 3), (("outcome", "connected"),)),
    Action("meeting", TouchpointType.MEETING, "", True, (0, 0.1, 2), (("length_minutes", 30),)),
    Action("demo", TouchpointType.DEMO, "", True, (0, 0.1, 2), (("length_minutes", 45),)),
)
_ACTION_INDEX = {a.key: i for i, a in enumerate(ACTIONS)}
_PROFILE_CUM = tuple(tuple(accumulate(a.weights[p] for a in ACTIONS)) for p in range(3))
_ENTRY_ACTION: dict[str, str] = {
    Channel.PAID_SEARCH: "ad_click",
    Channel.PAID_SOCIAL: "ad_click",
    Channel.DISPLAY: "ad_click",
    Channel.EMAIL: "email_click",
    Channel.ORGANIC_SEARCH: "blog",
    Channel.DIRECT: "home",
    Channel.EVENTS: "webinar",
    Channel.REFERRAL: "home",
    Channel.PARTNER: "features",
}
_EMAIL_ACTIONS = frozenset({"email_open", "email_click"})
_SALES_ACTIONS = frozenset({"call", "meeting", "demo"})
HIGH_INTENT_TYPES = frozenset(
    {
        TouchpointType.FORM_SUBMIT,
        TouchpointType.WEBINAR,
        TouchpointType.EMAIL_CLICK,
        TouchpointType.CHAT,
        TouchpointType.PRODUCT_SIGNUP,
        TouchpointType.PRODUCT_USAGE,
        TouchpointType.CALL,
        TouchpointType.MEETING,
        TouchpointType.DEMO,
    }
)


def touchpoint_is_high_intent(touchpoint_type: str, url: str) -> bool:
    """A touch that signals buying intent: the pricing page, a demo request, a webinar, an email click..."""
    return touchpoint_type in HIGH_INTENT_TYPES or "/pricing" in url or "/customers/" in url


# --- pools --------------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _email_part(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", ".", _ascii(name).lower()).strip(".") or "x"


def _clean(text: str) -> str:
    # Pool strings go into COPY text rows and JSON unescaped: keep them free of the few special characters.
    return re.sub(r"[\t\n\r\\\"]", "", text).strip()


@dataclass(frozen=True)
class Pools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]

    @classmethod
    def build(cls, seed: int, size: int = 800) -> Pools:
        from faker import Faker

        fake = Faker("en_US")
        fake.seed_instance(seed)
        firsts: dict[str, None] = {}
        lasts: dict[str, None] = {}
        for _ in range(size * 20):
            if len(firsts) < size:
                firsts.setdefault(_clean(fake.first_name()), None)
            if len(lasts) < size:
                lasts.setdefault(_clean(fake.last_name()), None)
            if len(firsts) >= size and len(lasts) >= size:
                break
        return cls(first_names=tuple(firsts), last_names=tuple(lasts))


# --- drafts ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class CompanyDraft:
    id: int
    name: str
    domain: str
    industry: str
    employee_count: int
    annual_revenue: int
    country_index: int
    fit: float
    created_at: float
    custom: dict[str, Any]


@dataclass(slots=True)
class LeadDraft:
    ordinal: int
    lead_id: int
    contact_id: int
    company: CompanyDraft
    first_name: str
    last_name: str
    email: str
    job_title: str
    phone: str
    country: str
    city: str
    contact_custom: dict[str, Any]
    created_at: float
    campaign_index: int  # -1: none
    source_channel: str
    profile: int = PROFILE_LOW
    stage: str = Stage.COLD
    stage_changed_at: float = 0.0
    owner_index: int = -1  # -1: unassigned
    score: int = 0
    grade: str = ""
    bant: tuple[str, str, str, str] = ("", "", "", "")
    # (from stage code, to stage code, at, rule code, reason code, by owner)
    moves: list[tuple[int, int, float, int, int, bool]] = field(default_factory=list)
    touch_span: float = 0.0
    # Either its own touchpoints, (template key, at)...
    touches: list[tuple[tuple[int, int], float]] = field(default_factory=list)
    # ...or an index into OrganizationData.patterns, stretched over touch_span.
    pattern: int = -1

    @property
    def search_text(self) -> str:
        # Same shape as leads.services.contact_search_text.
        return f"{self.first_name} {self.last_name} {self.email} {self.company.name}".lower()[:700]


@dataclass(frozen=True)
class TouchTemplate:
    """Everything about a touchpoint except who and when: an action seen through a campaign (or none)."""

    type: str
    channel: str
    campaign_index: int
    url: str
    referrer: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    properties: dict[str, Any]


def touch_template(key: tuple[int, int], site: str) -> TouchTemplate:
    action_index, campaign_index = key
    action = ACTIONS[action_index]
    url = f"https://{site}{action.path}" if action.path else ""
    props = dict(action.properties)
    if campaign_index < 0:
        channel = (
            Channel.DIRECT if action.key in _SALES_ACTIONS or action.key == "home" else Channel.ORGANIC_SEARCH
        )
        referrer = "https://www.google.com/" if channel == Channel.ORGANIC_SEARCH else ""
        return TouchTemplate(action.type, channel, -1, url, referrer, "", "", "", "", "", props)
    spec = CAMPAIGNS[campaign_index]
    referrers: dict[str, str] = {
        Channel.PAID_SEARCH: f"https://www.{spec.utm_source}.com/",
        Channel.ORGANIC_SEARCH: "https://www.google.com/",
        Channel.PAID_SOCIAL: f"https://www.{spec.utm_source}.com/",
        Channel.PARTNER: "https://partners.example/",
    }
    referrer = referrers.get(spec.channel, "")
    term = spec.terms[action_index % len(spec.terms)] if spec.terms else ""
    return TouchTemplate(
        action.type,
        spec.channel,
        campaign_index,
        url,
        referrer,
        spec.utm_source,
        spec.utm_medium,
        spec.utm_campaign,
        action.key.replace("_", "-"),
        term,
        props,
    )


# --- the generator ------------------------------------------------------------------------------


class OrganizationData:
    """Deterministic data of one organization: its companies, then its leads in creation order.

    Tuned for the million-lead path: `random()` arithmetic instead of `randrange`/`choice`, tables
    prepared once, and (at benchmark scale) touchpoint sequences drawn from a bank of patterns, so the
    per-lead cost does not grow with the number of touchpoints."""

    PATTERN_VARIANTS = 24

    def __init__(
        self,
        *,
        seed: int | str,
        pools: Pools,
        leads: int,
        start: float,
        end: float,
        owners: int,
        site: str,
    ) -> None:
        self.rng = random.Random(seed)
        self.pools = pools
        self.lead_count = leads
        self.start, self.end = start, end
        self.owners = owners
        self.site = site
        self.companies: list[CompanyDraft] = []
        self.patterns: list[tuple[tuple[tuple[tuple[int, int], float], ...], float]] = []
        self._pattern_index: dict[tuple[int, int, int, int, int], int] = {}
        self._company_cum: list[float] = []
        self._emails: set[str] = set()
        self._firsts = [(n, _email_part(n)) for n in pools.first_names]
        self._lasts = [(n, _email_part(n)) for n in pools.last_names]
        self._title_cum = list(accumulate(t[1] for t in JOB_TITLES))
        self._country_cum = list(accumulate(c[3] for c in COUNTRIES))
        self._size_cum = list(accumulate(s[2] for s in COMPANY_SIZES))
        self._source_cum = list(
            accumulate([c.lead_weight for c in CAMPAIGNS] + [w for _, w in NO_CAMPAIGN_SOURCES])
        )
        span = end - start
        self._campaign_active = [(start + c.active[0] * span, start + c.active[1] * span) for c in CAMPAIGNS]
        self._email_campaigns = [i for i, c in enumerate(CAMPAIGNS) if c.channel == Channel.EMAIL]
        self._paid_campaigns = [
            i for i, c in enumerate(CAMPAIGNS) if c.daily_spend and c.channel != Channel.EVENTS
        ]
        self._webinar_campaign = next(i for i, c in enumerate(CAMPAIGNS) if c.channel == Channel.EVENTS)
        # Walk tables per stage and fit decile: fitter leads advance more often.
        self._walk_tables = {
            stage: [
                (
                    options,
                    list(
                        accumulate(
                            w * ((0.45 + 0.11 * decile) if adv else 1.0) for _, w, _, _, adv in options
                        )
                    ),
                )
                for decile in range(11)
            ]
            for stage, options in _WALK.items()
        }

    # Companies --------------------------------------------------------------------------------

    def companies_generate(self, count: int, first_id: int) -> list[CompanyDraft]:
        rng, r, lasts = self.rng, self.rng.random, self._lasts
        domains: set[str] = set()
        for i in range(count):
            industry, word, revenue_per_head = INDUSTRIES[int(r() * len(INDUSTRIES))]
            last, last_part = lasts[int(r() * len(lasts))]
            name = f"{last} {word}"
            country_index = bisect(self._country_cum, r() * self._country_cum[-1])
            tld = COUNTRIES[country_index][1]
            base = f"{last_part.replace('.', '')}{word.lower()}"
            domain = f"{base}.{tld}"
            n = 2
            while domain in domains:
                domain = f"{base}{n}.{tld}"
                n += 1
            domains.add(domain)
            low, high, _ = COMPANY_SIZES[bisect(self._size_cum, r() * self._size_cum[-1])]
            employees = int(low * (high / low) ** r())
            revenue = int(employees * revenue_per_head * rng.uniform(0.6, 1.5) // 1000 * 1000)
            custom: dict[str, Any] = {}
            if r() < 0.7:
                custom["segment"] = (
                    "SMB" if employees <= 50 else "Mid-market" if employees <= 1000 else "Enterprise"
                )
                custom["arr_potential"] = int(min(employees, 2000) * (12, 18, 30)[int(r() * 3)])
            if r() < 0.4:
                custom["renewal_date"] = _date_iso(self.end + rng.uniform(20, 330) * DAY)
                custom["uses_competitor"] = r() < 0.55
            if r() < 0.5:
                custom["tech_stack"] = TECH_STACKS[int(r() * len(TECH_STACKS))]
            self.companies.append(
                CompanyDraft(
                    id=first_id + i,
                    name=name,
                    domain=domain,
                    industry=industry,
                    employee_count=employees,
                    annual_revenue=revenue,
                    country_index=country_index,
                    fit=min(1.0, 0.25 + employees / 800),
                    created_at=self.start - rng.uniform(0, 30) * DAY,
                    custom=custom,
                )
            )
        # Bigger companies bring more contacts (their buying committees are larger).
        self._company_cum = list(
            accumulate(1.0 + min(c.employee_count, 5000) ** 0.5 / 8 for c in self.companies)
        )
        return self.companies

    # Leads --------------------------------------------------------------------------------------

    def leads_generate(
        self,
        *,
        first_lead_id: int,
        first_contact_id: int,
        touch_counts: Callable[[random.Random, list[LeadDraft]], list[int]] | None = None,
        block: int = 1000,
    ) -> Iterator[LeadDraft]:
        """Leads in creation order, with their stage history and touchpoints.

        Without `touch_counts`, every lead gets its own natural touchpoint sequence (the demo). With it
        (benchmark scale), it decides how many touchpoints each lead of a block gets, and the sequence is
        a pattern from `self.patterns` (`draft.pattern`), stretched over the lead's own time span."""
        for block_start in range(0, self.lead_count, block):
            drafts = [
                self._lead(i, first_lead_id + i, first_contact_id + i)
                for i in range(block_start, min(self.lead_count, block_start + block))
            ]
            if touch_counts is None:
                for draft in drafts:
                    sequence = self._touch_sequence(draft, self._natural_touch_count(draft))
                    created, span = draft.created_at, draft.touch_span
                    draft.touches = [(key, created + frac * span) for key, frac in sequence]
            else:
                for draft, count in zip(drafts, touch_counts(self.rng, drafts), strict=True):
                    draft.pattern = self._pattern(draft, count)
            yield from drafts

    def touches_of(self, draft: LeadDraft) -> list[tuple[tuple[int, int], float]]:
        """(template key, time) of each touchpoint of the lead, whichever way they were drawn."""
        if draft.pattern < 0:
            return draft.touches
        created, span = draft.created_at, draft.touch_span
        return [(key, created + frac * span) for key, frac in self.patterns[draft.pattern][0]]

    def _lead(self, ordinal: int, lead_id: int, contact_id: int) -> LeadDraft:
        r = self.rng.random
        company = self.companies[bisect(self._company_cum, r() * self._company_cum[-1])]
        first, first_part = self._firsts[int(r() * len(self._firsts))]
        last, last_part = self._lasts[int(r() * len(self._lasts))]
        email = f"{first_part}.{last_part}@{company.domain}"
        if email in self._emails:
            email = f"{first_part}.{last_part}{ordinal}@{company.domain}"
        self._emails.add(email)
        title, _, title_fit = JOB_TITLES[bisect(self._title_cum, r() * self._title_cum[-1])]
        country, _, phone_prefix, _, cities = COUNTRIES[company.country_index]
        # Creation times grow denser towards today (the business is growing); ordinals stay in order.
        position = ((ordinal + r()) / self.lead_count) ** 0.8
        created = self.start + position * (self.end - self.start - DAY)
        source = bisect(self._source_cum, r() * self._source_cum[-1])
        if source < len(CAMPAIGNS):
            campaign_index, channel = source, CAMPAIGNS[source].channel
            active_from, active_to = self._campaign_active[source]
            if not active_from <= created <= active_to:
                campaign_index, channel = -1, Channel.ORGANIC_SEARCH
        else:
            campaign_index, channel = -1, NO_CAMPAIGN_SOURCES[source - len(CAMPAIGNS)][0]
        draft = LeadDraft(
            ordinal=ordinal,
            lead_id=lead_id,
            contact_id=contact_id,
            company=company,
            first_name=first,
            last_name=last,
            email=email,
            job_title=title,
            phone=f"{phone_prefix} {int(200 + r() * 800)} {int(1_000_000 + r() * 9_000_000)}"
            if r() < 0.6
            else "",
            country=country,
            city=cities[int(r() * len(cities))],
            contact_custom=self._contact_custom(created),
            created_at=created,
            campaign_index=campaign_index,
            source_channel=channel,
        )
        self._walk(draft, 0.55 * title_fit + 0.45 * company.fit)
        return draft

    def _contact_custom(self, created: float) -> dict[str, Any]:
        r = self.rng.random
        custom: dict[str, Any] = {}
        if r() < 0.6:
            custom["preferred_language"] = LANGUAGES[int(r() * len(LANGUAGES))]
            custom["newsletter_opt_in"] = r() < 0.45
        if r() < 0.25:
            custom["seats_requested"] = SEATS[int(r() * len(SEATS))]
            custom["trial_ends_on"] = _date_iso(created + 14 * DAY)
        if r() < 0.08:
            custom["event_notes"] = EVENT_NOTES[int(r() * len(EVENT_NOTES))]
        return custom

    def _walk(self, draft: LeadDraft, fit: float) -> None:
        """Walk the funnel from cold, never past today; the last move gives the current stage."""
        r = self.rng.random
        at = draft.created_at
        stage: str = Stage.COLD
        moves = [(0, _STAGE_INDEX[Stage.COLD], at, 1, 1, False)]
        reached_sales = reached_mql = False
        decile = min(10, int(fit * 10))
        for _ in range(8):
            options, cum = self._walk_tables[stage][decile]
            to, _, low, high, _ = options[bisect(cum, r() * cum[-1])]
            if to is None:
                break
            next_at = at + (low + (high - low) * r()) * DAY
            if next_at > self.end:
                break
            rule, reason, by_owner = _move_why(r, stage, to)
            moves.append((_STAGE_INDEX[stage], _STAGE_INDEX[to], next_at, rule, reason, by_owner))
            stage, at = to, next_at
            reached_sales = reached_sales or stage in SALES_STAGES
            reached_mql = reached_mql or stage in (Stage.MQL, Stage.PQL)
        draft.moves = moves
        draft.stage = stage
        draft.stage_changed_at = at
        draft.profile = PROFILE_HIGH if reached_sales else PROFILE_MID if reached_mql else PROFILE_LOW
        assigned = draft.profile != PROFILE_LOW or stage != Stage.COLD or r() < 0.3
        if self.owners and (assigned or any(m[5] for m in moves)):
            draft.owner_index = int(r() * self.owners)
        low, high = _SCORE_RANGE[stage]
        draft.score = low + int(r() * (high - low + 1))
        draft.grade = "ABCD"[min(3, int((1.0 - fit) * 4))]
        if reached_sales:
            draft.bant = tuple(options[int(r() * len(options))] for options in BANT_ANSWERS)  # type: ignore[assignment]
        # Touchpoints run from creation to the last move; open leads keep engaging until about today.
        end = max(at, draft.created_at + DAY)
        if stage not in (Stage.CUSTOMER, Stage.DISQUALIFIED):
            end = max(end, self.end - r() * 20 * DAY)
        draft.touch_span = min(end, self.end) - draft.created_at

    # Touchpoints --------------------------------------------------------------------------------

    def _natural_touch_count(self, draft: LeadDraft) -> int:
        r = self.rng.random
        if draft.profile == PROFILE_HIGH:
            return 8 + int(r() * 11)
        if draft.profile == PROFILE_MID:
            return 3 + int(r() * 5)
        # Most leads that never moved left one page view or download.
        return 1 if r() < 0.7 else 2 + int(r() * 2)

    def _pattern(self, draft: LeadDraft, count: int) -> int:
        variant = int(self.rng.random() * self.PATTERN_VARIANTS)
        channel = _CHANNEL_INDEX[draft.source_channel]
        key = (draft.profile, count, draft.campaign_index, channel, variant)
        index = self._pattern_index.get(key)
        if index is None:
            sequence = tuple(self._touch_sequence(draft, count))
            index = self._pattern_index[key] = len(self.patterns)
            self.patterns.append((sequence, max((frac for _, frac in sequence), default=0.0)))
        return index

    def _touch_sequence(self, draft: LeadDraft, count: int) -> list[tuple[tuple[int, int], float]]:
        """(template key, share of the lead's time span) of each touchpoint; the first is the entry."""
        if count <= 0:
            return []
        r = self.rng.random
        entry = _ACTION_INDEX[_ENTRY_ACTION.get(draft.source_channel, "home")]
        if draft.profile == PROFILE_LOW and draft.source_channel in (Channel.ORGANIC_SEARCH, Channel.DIRECT):
            entry = _ACTION_INDEX["ebook" if r() < 0.4 else "blog"]
        sequence = [((entry, draft.campaign_index), 0.0)]
        cum = _PROFILE_CUM[draft.profile]
        total = cum[-1]
        recency = draft.profile == PROFILE_HIGH
        for _ in range(count - 1):
            action_index = bisect(cum, r() * total)
            u = r()
            if recency:
                u = max(u, r())  # skewed towards the latest activity
            sequence.append(((action_index, self._touch_campaign(action_index, draft)), u))
        return sequence

    def _touch_campaign(self, action_index: int, draft: LeadDraft) -> int:
        key = ACTIONS[action_index].key
        r = self.rng.random
        if key in _EMAIL_ACTIONS:
            return self._email_campaigns[int(r() * len(self._email_campaigns))]
        if key == "webinar":
            return self._webinar_campaign
        if key == "ad_click":
            if draft.campaign_index >= 0:
                return draft.campaign_index
            return self._paid_campaigns[int(r() * len(self._paid_campaigns))]
        if key in _SALES_ACTIONS:
            return -1
        return draft.campaign_index if r() < 0.35 else -1

    # Campaign spend ------------------------------------------------------------------------------

    def campaign_days(self, index: int) -> tuple[dt.date, dt.date | None]:
        spec = CAMPAIGNS[index]
        first = _date(self.start + spec.active[0] * (self.end - self.start))
        last = _date(self.start + spec.active[1] * (self.end - self.start))
        return first, (None if spec.active[1] >= 1.0 else last)

    def daily_spend(self, index: int) -> Iterator[tuple[dt.date, Decimal]]:
        spec = CAMPAIGNS[index]
        if spec.daily_spend is None:
            return
        first, last = self.campaign_days(index)
        day = first
        last_day = last or _date(self.end)
        low, high = spec.daily_spend
        while day <= last_day:
            amount = self.rng.uniform(low, high) * (0.55 if day.weekday() >= 5 else 1.0)
            yield day, Decimal(f"{amount:.2f}")
            day += dt.timedelta(days=1)


_SCORE_RANGE: dict[str, tuple[int, int]] = {
    Stage.COLD: (0, 45),
    Stage.MQL: (50, 80),
    Stage.PQL: (55, 85),
    Stage.SQL: (60, 92),
    Stage.OPPORTUNITY: (70, 100),
    Stage.CUSTOMER: (75, 100),
    Stage.DISQUALIFIED: (0, 30),
    Stage.RECYCLED: (20, 55),
}
_CHANNEL_INDEX = {channel: i for i, channel in enumerate(Channel.values)}


def _move_why(r: Callable[[], float], from_stage: str, to: str) -> tuple[int, int, bool]:
    """(rule code, reason code, moved by the owner) for one move."""
    if to == Stage.MQL:
        return (2, 2, False) if from_stage != Stage.RECYCLED else (5, 8, False)
    if to == Stage.PQL:
        return 3, 3, False
    if to == Stage.SQL:
        return (0, 7, True) if from_stage == Stage.OPPORTUNITY else (0, 4, True)
    if to == Stage.OPPORTUNITY:
        return 0, 5, True
    if to == Stage.CUSTOMER:
        return 0, 6, True
    if to == Stage.COLD:
        return 5, 8, False
    if to == Stage.DISQUALIFIED:
        reason = _DISQUALIFY_REASONS[int(r() * len(_DISQUALIFY_REASONS))]
        return (0, reason, True) if from_stage in SALES_STAGES else (4, reason, False)
    return 0, _RECYCLE_REASONS[int(r() * len(_RECYCLE_REASONS))], True


def touch_counts_fixed_mean(per_lead: int) -> Callable[[random.Random, list[LeadDraft]], list[int]]:
    """Exactly `per_lead` touchpoints per lead on average (every block sums to it), shared out by how far
    each lead went: converted leads carry several times more than the ones that never moved."""
    profile_weight = (0.45, 1.2, 2.6)

    def allocate(rng: random.Random, drafts: list[LeadDraft]) -> list[int]:
        if per_lead <= 0:
            return [0] * len(drafts)
        weights = [profile_weight[d.profile] * (0.6 + 0.8 * rng.random()) for d in drafts]
        total = per_lead * len(drafts)
        spare = total - len(drafts)  # everyone gets one first
        scale = spare / sum(weights)
        shares = [w * scale for w in weights]
        counts = [1 + int(s) for s in shares]
        left = total - sum(counts)
        by_remainder = sorted(range(len(drafts)), key=lambda i: shares[i] - int(shares[i]), reverse=True)
        for i in by_remainder[:left]:
            counts[i] += 1
        return counts

    return allocate


def _date(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).date()


def _date_iso(ts: float) -> str:
    return _date(ts).isoformat()


def to_datetime(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def history_window(days: int = HISTORY_DAYS, now: dt.datetime | None = None) -> tuple[float, float]:
    end = (now or dt.datetime.now(tz=dt.UTC)).timestamp()
    return end - days * DAY, end


# --- organization set-up shared by both commands ------------------------------------------------


def custom_fields_ensure() -> None:
    """The custom fields of the catalog, in the current tenant."""
    existing = set(CustomField.objects.values_list("entity", "key"))
    CustomField.objects.bulk_create(
        [
            CustomField(
                entity=entity, key=key, label=label, field_type=kind, choices=list(choices), position=i
            )
            for i, (entity, key, label, kind, choices) in enumerate(CUSTOM_FIELDS)
            if (entity, key) not in existing
        ]
    )


def campaigns_create(data: OrganizationData) -> list[int]:
    """The catalog's campaigns and their daily spend, in the current tenant; returns their ids by index."""
    campaigns = []
    for index, spec in enumerate(CAMPAIGNS):
        first, last = data.campaign_days(index)
        days = ((last or _date(data.end)) - first).days + 1
        budget = Decimal(spec.daily_spend[1] * days) if spec.daily_spend else None
        campaigns.append(
            Campaign(
                name=spec.name,
                channel=spec.channel,
                utm_source=spec.utm_source,
                utm_medium=spec.utm_medium,
                utm_campaign=spec.utm_campaign,
                start_date=first,
                end_date=last,
                budget=budget,
            )
        )
    Campaign.objects.bulk_create(campaigns)
    by_name = dict(Campaign.objects.filter(name__in=[c.name for c in CAMPAIGNS]).values_list("name", "id"))
    ids = [by_name[spec.name] for spec in CAMPAIGNS]
    CampaignSpend.objects.bulk_create(
        [
            CampaignSpend(campaign_id=ids[index], date=day, amount=amount)
            for index in range(len(CAMPAIGNS))
            for day, amount in data.daily_spend(index)
        ],
        batch_size=1000,
    )
    return ids


def ids_reserve(model: type, count: int) -> int:
    """Reserve `count` consecutive ids for `model` and return the first, so that children can point to
    parents before either is written. Call inside the transaction that writes them.

    PostgreSQL: the table is locked against other writers (SHARE ROW EXCLUSIVE, until commit) so that no
    other session draws from the sequence between our nextval and setval. SQLite: the IMMEDIATE
    transaction already holds the database's write lock, and ids continue after the highest one."""
    table = model._meta.db_table  # type: ignore[attr-defined]
    connection = connections[router.db_for_write(model)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f'LOCK TABLE "{table}" IN SHARE ROW EXCLUSIVE MODE')
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s)", [sequence])
            first = int(cursor.fetchone()[0])
            if count > 1:
                cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
            return first
        cursor.execute(f'SELECT MAX(id) FROM "{table}"')
        return int(cursor.fetchone()[0] or 0) + 1


# --- the ORM writer ---------------------------------------------------------------------------------


class OrmWriter:
    """Writes drafts with bulk_create in the current tenant (seed_demo; generate_dataset on SQLite)."""

    def __init__(
        self,
        *,
        data: OrganizationData,
        campaign_ids: Sequence[int],
        owner_ids: Sequence[int],
        batch_size: int = 2000,
    ) -> None:
        self.data = data
        self.campaign_ids = campaign_ids
        self.owner_ids = owner_ids
        self.batch_size = batch_size
        self.templates: dict[tuple[int, int], TouchTemplate] = {}
        self.counts = {"companies": 0, "contacts": 0, "leads": 0, "stage_changes": 0, "touchpoints": 0}

    def companies_write(self, companies: Sequence[CompanyDraft]) -> None:
        rows = [
            Company(
                id=c.id,
                name=c.name,
                domain=c.domain,
                industry=c.industry,
                employee_count=c.employee_count,
                annual_revenue=Decimal(c.annual_revenue),
                country=COUNTRIES[c.country_index][0],
                custom=c.custom,
                created_at=to_datetime(c.created_at),
            )
            for c in companies
        ]
        Company.objects.bulk_create(rows, batch_size=self.batch_size)
        self.counts["companies"] += len(rows)

    def leads_write(self, drafts: Iterator[LeadDraft], progress: Callable[[int], Any] | None = None) -> None:
        batch: list[LeadDraft] = []
        for draft in drafts:
            batch.append(draft)
            if len(batch) >= self.batch_size:
                self._flush(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            self._flush(batch)
            if progress:
                progress(len(batch))

    def _campaign(self, index: int) -> int | None:
        return self.campaign_ids[index] if index >= 0 else None

    def _template(self, key: tuple[int, int]) -> TouchTemplate:
        template = self.templates.get(key)
        if template is None:
            template = self.templates[key] = touch_template(key, self.data.site)
        return template

    def _flush(self, drafts: list[LeadDraft]) -> None:
        contacts, leads, changes, touchpoints = [], [], [], []
        for d in drafts:
            created = to_datetime(d.created_at)
            contacts.append(
                Contact(
                    id=d.contact_id,
                    email=d.email,
                    email_normalized=d.email,
                    first_name=d.first_name,
                    last_name=d.last_name,
                    job_title=d.job_title,
                    phone=d.phone,
                    country=d.country,
                    city=d.city,
                    company_id=d.company.id,
                    custom=d.contact_custom,
                    search_text=d.search_text,
                    created_at=created,
                )
            )
            owner = self.owner_ids[d.owner_index] if d.owner_index >= 0 else None
            touches = self.data.touches_of(d)
            first_touch = self._template(touches[0][0]) if touches else None
            leads.append(
                Lead(
                    id=d.lead_id,
                    contact_id=d.contact_id,
                    stage=d.stage,
                    owner_id=owner,
                    score=d.score,
                    grade=d.grade,
                    source_channel=d.source_channel,
                    campaign_id=self._campaign(d.campaign_index),
                    first_touch_at=to_datetime(touches[0][1]) if touches else None,
                    first_touch_channel=first_touch.channel if first_touch else "",
                    first_touch_campaign_id=self._campaign(first_touch.campaign_index)
                    if first_touch
                    else None,
                    first_touch_url=first_touch.url if first_touch else "",
                    last_touch_at=to_datetime(max(t[1] for t in touches)) if touches else None,
                    budget=d.bant[0],
                    authority=d.bant[1],
                    need=d.bant[2],
                    timing=d.bant[3],
                    stage_changed_at=to_datetime(d.stage_changed_at),
                    created_at=created,
                )
            )
            for from_code, to_code, at, rule, reason, by_owner in d.moves:
                changes.append(
                    StageChange(
                        lead_id=d.lead_id,
                        from_stage=STAGE_CODES[from_code],
                        to_stage=STAGE_CODES[to_code],
                        changed_at=to_datetime(at),
                        changed_by_user_id=owner if by_owner else None,
                        rule=MOVE_RULES[rule],
                        reason=MOVE_REASONS[reason],
                    )
                )
            for key, at in touches:
                t = self._template(key)
                when = to_datetime(at)
                touchpoints.append(
                    Touchpoint(
                        lead_id=d.lead_id,
                        contact_id=d.contact_id,
                        type=t.type,
                        occurred_at=when,
                        channel=t.channel,
                        campaign_id=self._campaign(t.campaign_index),
                        url=t.url,
                        referrer=t.referrer,
                        utm_source=t.utm_source,
                        utm_medium=t.utm_medium,
                        utm_campaign=t.utm_campaign,
                        utm_content=t.utm_content,
                        utm_term=t.utm_term,
                        properties=t.properties,
                        created_at=when,
                    )
                )
        Contact.objects.bulk_create(contacts, batch_size=self.batch_size)
        Lead.objects.bulk_create(leads, batch_size=self.batch_size)
        StageChange.objects.bulk_create(changes, batch_size=self.batch_size)
        Touchpoint.objects.bulk_create(touchpoints, batch_size=self.batch_size)
        self.counts["contacts"] += len(contacts)
        self.counts["leads"] += len(leads)
        self.counts["stage_changes"] += len(changes)
        self.counts["touchpoints"] += len(touchpoints)


def json_text(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
