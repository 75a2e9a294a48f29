"""The pipeline board, the deals API and the referral programme's results at scale, in process.

    DATABASE_URL=postgres://leadhub_app@127.0.0.1:5432/leadhub_deals REDIS_URL=redis://127.0.0.1:6379/14 \\
        python -m bench.deals_pipeline [--deals 10000] [--requests 30]

Migrates the database it is given, sets up (idempotently) an organization `deals-bench` with `--deals`
open deals spread over the default stages and currencies (each with its lead, contact and company, a
tenth of the leads referred, a twentieth of the deals won), then requests each page `--requests` times as
the organization's admin through Django's test client. Baseline of the same run: the pipeline stages API
(four rows). Prints one JSON object per line: median and p95 latency of each page.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from decimal import Decimal
from typing import Any

BENCH = "deals_pipeline"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}),
        flush=True,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def _populate(count: int) -> None:
    from django.utils import timezone

    from conversion.deals.services import pipeline_stages_ensure
    from conversion.models import Opportunity, ReferralAttribution
    from leads.models import Company, Contact, Lead, Stage

    if Opportunity.objects.count() >= count:
        return
    stages = pipeline_stages_ensure()
    now = timezone.now()
    companies = Company.objects.bulk_create(
        [Company(name=f"Bench company {i}", domain=f"bench{i}.example") for i in range(count)]
    )
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                email=f"buyer{i}@bench{i}.example", email_normalized=f"buyer{i}@bench{i}.example", company=c
            )
            for i, c in enumerate(companies)
        ]
    )
    leads = Lead.objects.bulk_create(
        [
            Lead(
                contact=c,
                stage=Stage.OPPORTUNITY,
                source_channel=("referral" if i % 10 == 0 else "organic_search"),
            )
            for i, c in enumerate(contacts)
        ]
    )
    currencies = ("EUR", "EUR", "EUR", "USD", "GBP")
    Opportunity.objects.bulk_create(
        [
            Opportunity(
                lead=lead,
                company_id=lead.contact.company_id,
                name=f"Bench deal {i}",
                stage=stages[i % len(stages)],
                amount=Decimal(1000 + (i * 37) % 90000),
                currency=currencies[i % len(currencies)],
                probability=stages[i % len(stages)].probability,
                status="won" if i % 20 == 0 else "open",
                won_at=now if i % 20 == 0 else None,
            )
            for i, lead in enumerate(leads)
        ],
        batch_size=2000,
    )
    ReferralAttribution.objects.bulk_create(
        [
            ReferralAttribution(lead=lead, referrer_id=contacts[(i + 1) % len(contacts)].pk)
            for i, lead in enumerate(leads)
            if i % 10 == 0
        ],
        batch_size=2000,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    os.environ.setdefault("LEADHUB_DEMO", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Membership, Organization, Role
    from leadhub.tenancy.services import user_get_or_create

    settings.ALLOWED_HOSTS = ["*"]
    # Plain static URLs: the pages are measured, not the manifest (which needs collectstatic).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)
    organization, _ = Organization.objects.get_or_create(slug="deals-bench", defaults={"name": "Deals bench"})
    user = user_get_or_create(email="admin@deals-bench.example", password=None)
    Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": Role.ADMIN})
    with tenant_context(organization):
        started = time.perf_counter()
        _populate(args.deals)
        if connection.vendor == "postgresql":
            # Fresh statistics, as autovacuum would give a loaded table: stale ones plan a nested loop.
            with connection.cursor() as cursor:
                cursor.execute(
                    "ANALYZE conversion_opportunity, conversion_referralattribution, leads_lead, "
                    "leads_contact, leads_company"
                )
        emit("setup", time.perf_counter() - started, "s", deals=args.deals)
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["organization_id"] = organization.pk
    session.save()
    pages = {
        "baseline_stages_api": "/api/v1/conversion/pipeline-stages/",
        "pipeline_board": "/conversion/pipeline/",
        "opportunities_api": "/api/v1/conversion/opportunities/?status=open",
        "opportunity_list": "/conversion/opportunities/",
        "referral_results_page": "/conversion/referrals/",
    }
    for metric, url in pages.items():
        timings: list[float] = []
        for _ in range(args.requests + 2):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        timings = timings[2:]  # warm-up
        emit(f"{metric}_p50", percentile(timings, 0.5), "ms", deals=args.deals, url=url)
        emit(f"{metric}_p95", percentile(timings, 0.95), "ms", deals=args.deals, url=url)


if __name__ == "__main__":
    main()
