"""Helpers of the scoring tests: a published version with the given rules, leads with touchpoints."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from leads.models import Lead, Touchpoint
from scoring import services
from scoring.engine.ledger import ScoreEvent
from scoring.models import LeadScore, ModelVersion, VersionStatus
from tests.factories import LeadFactory, TouchpointFactory

ACTOR = Actor.system("test")
NOW = timezone.now().replace(microsecond=0)


_names = itertools.count(1)


def make_version(
    rules: list[dict[str, Any]], *, name: str = "", thresholds: dict[str, int] | None = None
) -> ModelVersion:
    model = services.scoring_model_create(name=name or f"Model {next(_names)}", actor=ACTOR, rules=rules)
    version = model.versions.get()
    if thresholds is not None:
        services.version_update(version=version, data={"grade_thresholds": thresholds}, actor=ACTOR)
    return version


def go_live(version: ModelVersion) -> None:
    """Publish without running the recompute (tests run it themselves when they want it)."""
    ModelVersion.objects.filter(status=VersionStatus.LIVE).update(status=VersionStatus.RETIRED)
    ModelVersion.objects.filter(pk=version.pk).update(status=VersionStatus.LIVE, published_at=timezone.now())
    version.refresh_from_db()


def rescore(lead: Lead, at: dt.datetime | None = None, cause: str = "recompute") -> LeadScore:
    services.leads_rescore(lead_ids=[lead.pk], event=ScoreEvent(cause=cause), at=at or NOW)
    return LeadScore.objects.get(lead_id=lead.pk)


def touch(
    lead: Lead, kind: str = "page_view", *, days_ago: float = 0, url: str = "", **properties: Any
) -> Touchpoint:
    return TouchpointFactory.create(
        lead=lead,
        type=kind,
        occurred_at=NOW - dt.timedelta(days=days_ago),
        url=url or f"https://acme.example/{kind}",
        properties=properties,
    )


@pytest.fixture
def scored(org: Organization) -> Iterator[Callable[..., Any]]:
    """`scored(rules, lead=None)`: publish a version with `rules` and return (version, lead) in org."""
    with tenant_context(org):

        def build(rules: list[dict[str, Any]], **lead_kwargs: Any) -> tuple[ModelVersion, Lead]:
            version = make_version(rules)
            go_live(version)
            return version, LeadFactory.create(**lead_kwargs)

        yield build
