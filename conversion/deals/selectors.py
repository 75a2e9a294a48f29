"""Reads of deals and customers: the pipeline board with its totals, opportunity lists by role, accounts
and their onboarding checklists."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, QuerySet, Sum
from django.utils import timezone

from conversion.deals.services import pipeline_stages_ensure
from conversion.models import (
    Account,
    OnboardingEnrollment,
    OnboardingStep,
    Opportunity,
    OpportunityHistory,
    OpportunityStatus,
    PipelineStage,
)
from leadhub.tenancy.models import Role

# Managers and admins see every deal; a rep sees their own; marketers read the pipeline too.
SEES_ALL_ROLES = frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.MARKETER})
BOARD_COLUMN_SIZE = 25


def opportunities_visible(*, user: Any, role: str | None) -> QuerySet[Opportunity]:
    """The deals `user` may see: all of them for managers, admins, marketers and API keys (role None),
    their own for a sales rep."""
    queryset = Opportunity.objects.select_related("stage", "owner", "company", "lead__contact")
    if role is not None and role not in SEES_ALL_ROLES:
        queryset = queryset.filter(owner=user)
    return queryset


def opportunities_filter(queryset: QuerySet[Opportunity], params: Any, *, user: Any) -> QuerySet[Opportunity]:
    """Filters shared by the pipeline, the list and the API: owner (me, none or an id), stage, status,
    lead, text in the name; unknown values filter nothing out rather than fail."""
    owner = str(params.get("owner") or "")
    if owner == "me":
        queryset = queryset.filter(owner=user)
    elif owner == "none":
        queryset = queryset.filter(owner__isnull=True)
    elif owner.isdigit():
        queryset = queryset.filter(owner_id=int(owner))
    stage = str(params.get("stage") or "")
    if stage.isdigit():
        queryset = queryset.filter(stage_id=int(stage))
    status = str(params.get("status") or "")
    if status in OpportunityStatus.values:
        queryset = queryset.filter(status=status)
    lead = str(params.get("lead") or "")
    if lead.isdigit():
        queryset = queryset.filter(lead_id=int(lead))
    q = str(params.get("q") or "").strip()[:100]
    if q:
        queryset = queryset.filter(name__icontains=q)
    return queryset


@dataclass
class Money:
    """Totals of deals in several currencies, each summed on its own (never converted)."""

    by_currency: dict[str, Decimal] = field(default_factory=dict)

    def add(self, currency: str, amount: Decimal | None) -> None:
        self.by_currency[currency] = self.by_currency.get(currency, Decimal(0)) + (amount or Decimal(0))

    @property
    def items(self) -> list[tuple[str, Decimal]]:
        return sorted(self.by_currency.items(), key=lambda item: (-item[1], item[0]))


@dataclass
class BoardColumn:
    stage: PipelineStage
    deals: list[Opportunity]
    count: int
    total: Money
    weighted: Money

    @property
    def more(self) -> int:
        return self.count - len(self.deals)


@dataclass
class Board:
    columns: list[BoardColumn]
    total: Money
    weighted: Money
    count: int


def pipeline_board(queryset: QuerySet[Opportunity], *, size: int = BOARD_COLUMN_SIZE) -> Board:
    """Open deals per stage: the first `size` of each (closing soonest first), with counts, amounts and
    weighted amounts (amount times probability) summed per currency in one grouped query."""
    stages = pipeline_stages_ensure()
    open_deals = queryset.filter(status=OpportunityStatus.OPEN)
    sums = (
        open_deals.order_by()
        .values("stage_id", "currency")
        .annotate(n=Count("id"), total=Sum("amount"), weighted=Sum(F("amount") * F("probability")))
    )
    totals: dict[int, Money] = defaultdict(Money)
    weighted: dict[int, Money] = defaultdict(Money)
    counts: dict[int, int] = defaultdict(int)
    all_total, all_weighted = Money(), Money()
    for row in sums:
        counts[row["stage_id"]] += row["n"]
        w = (Decimal(row["weighted"] or 0) / 100).quantize(Decimal("0.01"))
        totals[row["stage_id"]].add(row["currency"], row["total"])
        weighted[row["stage_id"]].add(row["currency"], w)
        all_total.add(row["currency"], row["total"])
        all_weighted.add(row["currency"], w)
    columns = []
    for stage in stages:
        count = counts.get(stage.pk, 0)
        if not stage.is_active and not count:
            continue
        deals = (
            list(
                open_deals.filter(stage=stage).order_by(
                    F("expected_close_date").asc(nulls_last=True), "-amount", "id"
                )[:size]
            )
            if count
            else []
        )
        columns.append(
            BoardColumn(
                stage=stage, deals=deals, count=count, total=totals[stage.pk], weighted=weighted[stage.pk]
            )
        )
    return Board(columns=columns, total=all_total, weighted=all_weighted, count=sum(counts.values()))


def opportunity_history(*, opportunity: Opportunity) -> QuerySet[OpportunityHistory]:
    return OpportunityHistory.objects.filter(opportunity=opportunity).select_related(
        "from_stage", "to_stage", "changed_by"
    )


def account_list() -> QuerySet[Account]:
    return Account.objects.select_related("company", "owner", "first_opportunity")


def account_enrollment(*, account: Account) -> OnboardingEnrollment | None:
    return OnboardingEnrollment.objects.filter(account=account).select_related("opportunity").first()


@dataclass
class Checklist:
    steps: list[OnboardingStep]
    done: int
    overdue: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / len(self.steps)) if self.steps else 0


def onboarding_checklist(*, enrollment: OnboardingEnrollment) -> Checklist:
    steps = list(
        OnboardingStep.objects.filter(enrollment=enrollment)
        .select_related("owner", "completed_by")
        .order_by("due_date", "position", "id")
    )
    today = timezone.localdate()
    return Checklist(
        steps=steps,
        done=sum(1 for s in steps if s.completed_at is not None),
        overdue=sum(1 for s in steps if s.completed_at is None and s.due_date < today),
    )


def onboarding_steps(*, user: Any, role: str | None) -> QuerySet[OnboardingStep]:
    queryset = OnboardingStep.objects.select_related("owner", "enrollment__account__company")
    if role is not None and role not in SEES_ALL_ROLES:
        queryset = queryset.filter(owner=user)
    return queryset
