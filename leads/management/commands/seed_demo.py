"""`python manage.py seed_demo`: the Northwind Demo organization with six months of realistic history.

Idempotent: when the demo organization exists, nothing is written and the command says so. Everything
is written in one transaction, so an interrupted run leaves nothing behind and the next run starts over.
The history is written as it would have been recorded (stage changes, touchpoints, spend), without
publishing domain events: nothing downstream needs to react to the past.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization, Role
from leadhub.tenancy.services import Actor, membership_set, organization_create
from leads.demo import (
    DEMO_LEADS,
    DEMO_ORG_NAME,
    DEMO_ORG_SLUG,
    DEMO_PASSWORD,
    DEMO_SECOND_ORG_LEADS,
    DEMO_SECOND_ORG_NAME,
    DEMO_SECOND_ORG_SLUG,
    DEMO_USERS,
    OrganizationData,
    OrmWriter,
    Pools,
    campaigns_create,
    custom_fields_ensure,
    history_window,
    ids_reserve,
)
from leads.demo_capture import demo_capture_create
from leads.models import Campaign, Company, Contact, Lead, StageChange, Touchpoint

ACTOR = Actor.system("seed_demo")


class Command(BaseCommand):
    help = "Create the demo organization, its users (one per role) and six months of history. Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=2024, help="Random seed (same seed, same data).")
        parser.add_argument("--leads", type=int, default=DEMO_LEADS, help="Leads in the demo organization.")

    def handle(self, *args: Any, **options: Any) -> None:
        if Organization.objects.filter(slug=DEMO_ORG_SLUG).exists():
            self.stdout.write(f"The demo organization '{DEMO_ORG_NAME}' already exists; nothing changed.")
            self._login_print()
            return
        started = time.monotonic()
        seed: int = options["seed"]
        with transaction.atomic():
            users = self._users_create()
            pools = Pools.build(seed)
            demo = organization_create(name=DEMO_ORG_NAME, slug=DEMO_ORG_SLUG)
            reps = [users[email] for email, _, _, role in DEMO_USERS if role == Role.SALES_REP]
            with tenant_context(demo):
                for email, _, _, role in DEMO_USERS:
                    membership_set(organization=demo, user=users[email], role=role, actor=ACTOR)
                counts = self._history_write(
                    seed=seed,
                    pools=pools,
                    leads=options["leads"],
                    owners=[u.pk for u in reps],
                    site="www.northwind.example",
                )
                demo_capture_create(site="www.northwind.example", actor=ACTOR)
            # A second, smaller organization the admin also belongs to, so the switcher has somewhere to go.
            labs = organization_create(name=DEMO_SECOND_ORG_NAME, slug=DEMO_SECOND_ORG_SLUG)
            admin = users[DEMO_USERS[0][0]]
            with tenant_context(labs):
                membership_set(organization=labs, user=admin, role=Role.ADMIN, actor=ACTOR)
                self._history_write(
                    seed=seed + 1,
                    pools=pools,
                    leads=DEMO_SECOND_ORG_LEADS,
                    owners=[admin.pk],
                    site="www.northwind-labs.example",
                )
        if connection.vendor == "postgresql":
            # Fresh statistics, so the planner knows the tables are no longer empty before autovacuum
            # gets round to them (without them the first pages join contacts by scanning).
            with connection.cursor() as cursor:
                for model in (Company, Contact, Lead, StageChange, Touchpoint, Campaign):
                    cursor.execute(f'ANALYZE "{model._meta.db_table}"')
        self.stdout.write(
            f"Created '{DEMO_ORG_NAME}': {counts['companies']:,} companies, {counts['contacts']:,} contacts, "
            f"{counts['leads']:,} leads, {counts['stage_changes']:,} stage changes, "
            f"{counts['touchpoints']:,} touchpoints; and '{DEMO_SECOND_ORG_NAME}' "
            f"({DEMO_SECOND_ORG_LEADS} leads) in {time.monotonic() - started:.1f} s."
        )
        self._login_print()

    def _users_create(self) -> dict[str, Any]:
        User = get_user_model()
        # One hash for all: hashing is deliberately slow, and they share the published demo password.
        password = make_password(DEMO_PASSWORD)
        users = {}
        for email, first_name, last_name, _ in DEMO_USERS:
            user = User.objects.filter(username=email).first()
            if user is None:
                user = User.objects.create(
                    username=email, email=email, first_name=first_name, last_name=last_name, password=password
                )
            users[email] = user
        return users

    def _history_write(
        self, *, seed: int, pools: Pools, leads: int, owners: list[int], site: str
    ) -> dict[str, int]:
        start, end = history_window()
        data = OrganizationData(
            seed=seed, pools=pools, leads=leads, start=start, end=end, owners=len(owners), site=site
        )
        custom_fields_ensure()
        campaign_ids = campaigns_create(data)
        company_count = max(5, leads // 8)
        data.companies_generate(company_count, ids_reserve(Company, company_count))
        writer = OrmWriter(data=data, campaign_ids=campaign_ids, owner_ids=owners)
        writer.companies_write(data.companies)
        first_contact = ids_reserve(Contact, leads)
        first_lead = ids_reserve(Lead, leads)
        writer.leads_write(data.leads_generate(first_lead_id=first_lead, first_contact_id=first_contact))
        return writer.counts

    def _login_print(self) -> None:
        others = ", ".join(f"{email} ({role.replace('_', ' ')})" for email, _, _, role in DEMO_USERS[1:])
        self.stdout.write(
            f"Demo login: {DEMO_USERS[0][0]} / {DEMO_PASSWORD} (admin of both demo organizations).\n"
            f"Same password for: {others}."
        )
