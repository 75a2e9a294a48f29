"""factory-boy factories. Tenant factories take the organization from their parent (contact from
company, lead from contact, touchpoint from lead), so a test cannot build a cross-tenant object by
accident; top-level ones take it from the current tenant context."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.models import Membership, Organization, Role
from leads.models import (
    Campaign,
    Channel,
    Company,
    Contact,
    Lead,
    Stage,
    StageChange,
    Touchpoint,
    TouchpointType,
)


def _current_org() -> Organization:
    return Organization.objects.get(pk=current_organization_id())


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("correct-horse-battery")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.MARKETER


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    organization = factory.LazyFunction(_current_org)
    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"company{n}.example")
    industry = "Software"
    employee_count = 120
    country = "Germany"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    company = factory.SubFactory(CompanyFactory)
    organization = factory.LazyAttribute(lambda o: o.company.organization if o.company else _current_org())
    email = factory.Sequence(lambda n: f"contact{n}@company.example")
    email_normalized = factory.LazyAttribute(lambda o: o.email.strip().lower())
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    job_title = "Head of Marketing"
    search_text = factory.LazyAttribute(
        lambda o: f"{o.first_name} {o.last_name} {o.email_normalized}".lower()
    )


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    organization = factory.LazyFunction(_current_org)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = Channel.PAID_SEARCH
    utm_source = "google"
    utm_medium = "cpc"
    utm_campaign = factory.Sequence(lambda n: f"campaign-{n}")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead
        skip_postgeneration_save = True

    contact = factory.SubFactory(ContactFactory)
    organization = factory.LazyAttribute(lambda o: o.contact.organization)
    stage = Stage.COLD
    source_channel = Channel.ORGANIC_SEARCH

    @factory.post_generation
    def history(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            StageChange.objects.create(
                organization=self.organization, lead=self, from_stage="", to_stage=self.stage, rule="factory"
            )


class TouchpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touchpoint

    lead = factory.SubFactory(LeadFactory)
    contact = factory.LazyAttribute(lambda o: o.lead.contact if o.lead else None)
    organization = factory.LazyAttribute(lambda o: o.lead.organization if o.lead else _current_org())
    type = TouchpointType.PAGE_VIEW
    url = factory.Sequence(lambda n: f"https://www.example.com/page/{n}")
    channel = Channel.ORGANIC_SEARCH
