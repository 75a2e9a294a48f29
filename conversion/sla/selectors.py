"""Reads of the SLA part: compliance per rep and team over a period, the live clocks at risk, and the
settings' lists."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from conversion.models import BusinessHours, ClockKind, ClockOutcome, Holiday, SalesTeam, SlaClock, SlaPolicy

# A running clock is "at risk" once warned, breached, or due within this long.
AT_RISK_WITHIN = dt.timedelta(hours=1)


DEFAULT_PERIOD_DAYS = 30


def minutes_text(minutes: float | None) -> str:
    """90 → "1 h 30 min"; 2000 → "33 h 20 min" (business time has no days)."""
    if minutes is None:
        return "-"
    whole = round(minutes)
    hours, rest = divmod(whole, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def period_bounds(*, start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime, dt.datetime]:
    """Whole UTC days: [start 00:00, the day after end 00:00); by default the last 30 days."""
    end = end or timezone.now().astimezone(dt.UTC).date()
    start = start or end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    low = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    return low, dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)


@dataclass
class Figures:
    """Compliance of one rep, one team or everyone. Only concluded clocks count toward the rates (met
    or breached); a clock withdrawn before its deadline counts nowhere."""

    key: int | None
    label: str
    accept_met: int = 0
    accept_total: int = 0
    contact_met: int = 0
    contact_total: int = 0
    breaches: int = 0
    running: int = 0
    accept_minutes: list[float] = field(default_factory=list, repr=False)
    contact_minutes: list[float] = field(default_factory=list, repr=False)

    def add(self, kind: str, outcome: str, elapsed: float | None, breached: bool) -> None:
        if breached or outcome == ClockOutcome.BREACHED:
            self.breaches += 1
        if not outcome:
            self.running += 1
            return
        if outcome not in (ClockOutcome.MET, ClockOutcome.BREACHED):
            return
        met = outcome == ClockOutcome.MET
        if kind == ClockKind.ACCEPT:
            self.accept_total += 1
            self.accept_met += met
            if elapsed is not None:
                self.accept_minutes.append(elapsed)
        else:
            self.contact_total += 1
            self.contact_met += met
            if elapsed is not None:
                self.contact_minutes.append(elapsed)

    @staticmethod
    def _rate(met: int, total: int) -> float | None:
        return round(100 * met / total, 1) if total else None

    @property
    def accept_rate(self) -> float | None:
        return self._rate(self.accept_met, self.accept_total)

    @property
    def contact_rate(self) -> float | None:
        return self._rate(self.contact_met, self.contact_total)

    @property
    def median_accept_minutes(self) -> float | None:
        return round(statistics.median(self.accept_minutes), 1) if self.accept_minutes else None

    @property
    def median_contact_minutes(self) -> float | None:
        return round(statistics.median(self.contact_minutes), 1) if self.contact_minutes else None

    @property
    def median_accept_text(self) -> str:
        return minutes_text(self.median_accept_minutes)

    @property
    def median_contact_text(self) -> str:
        return minutes_text(self.median_contact_minutes)


@dataclass
class Compliance:
    start: dt.datetime
    end: dt.datetime
    team: SalesTeam | None
    overall: Figures
    teams: list[Figures]
    reps: list[Figures]


def compliance(*, start: dt.datetime, end: dt.datetime, team: SalesTeam | None = None) -> Compliance:
    """SLA compliance of the clocks started in [start, end), per rep, per team and overall; medians are
    business minutes (in each team's hours) from handoff to acceptance and to first contact."""
    clocks = SlaClock.objects.filter(started_at__gte=start, started_at__lt=end)
    if team is not None:
        clocks = clocks.filter(team=team)
    rows = clocks.values_list(
        "assigned_to_id", "team_id", "kind", "outcome", "elapsed_minutes", "breached_at"
    )
    overall = Figures(key=None, label="Everyone")
    by_team: dict[int | None, Figures] = {}
    by_rep: dict[int | None, Figures] = {}
    for rep_id, team_id, kind, outcome, elapsed, breached_at in rows.iterator(chunk_size=5000):
        breached = breached_at is not None
        overall.add(kind, outcome, elapsed, breached)
        by_team.setdefault(team_id, Figures(key=team_id, label="")).add(kind, outcome, elapsed, breached)
        by_rep.setdefault(rep_id, Figures(key=rep_id, label="")).add(kind, outcome, elapsed, breached)
    team_names = dict(SalesTeam.objects.filter(pk__in=[k for k in by_team if k]).values_list("pk", "name"))
    for key, figures in by_team.items():
        figures.label = team_names.get(key, "No team") if key else "No team"
    users = get_user_model().objects.filter(pk__in=[k for k in by_rep if k])
    rep_names = {user.pk: user.get_full_name() or user.email for user in users}
    for key, figures in by_rep.items():
        figures.label = rep_names.get(key, "Former member") if key else "Fallback queue"
    return Compliance(
        start=start,
        end=end,
        team=team,
        overall=overall,
        teams=sorted(by_team.values(), key=lambda f: f.label.lower()),
        reps=sorted(by_rep.values(), key=lambda f: (f.key is None, f.label.lower())),
    )


@dataclass(frozen=True)
class RiskRow:
    clock: SlaClock
    state: str  # breached / warning / due soon
    left: str  # "42 min left" or "overdue 1 h 5 min"


def risk_rows(clocks: Iterable[SlaClock], now: dt.datetime) -> list[RiskRow]:
    rows = []
    for clock in clocks:
        seconds = (clock.due_at - now).total_seconds()
        if seconds <= 0 or clock.breached_at is not None:
            state, left = "breached", f"overdue {minutes_text(max(-seconds, 0) / 60)}"
        else:
            state = "warning" if clock.warned_at is not None or clock.warn_at <= now else "due soon"
            left = f"{minutes_text(seconds / 60)} left"
        rows.append(RiskRow(clock=clock, state=state, left=left))
    return rows


def clocks_at_risk(*, team: SalesTeam | None = None, now: dt.datetime | None = None) -> QuerySet[SlaClock]:
    """Running clocks that are warned, breached, or due within the hour; soonest deadline first."""
    now = now or timezone.now()
    clocks = SlaClock.objects.filter(stopped_at__isnull=True).filter(
        Q(warned_at__isnull=False) | Q(breached_at__isnull=False) | Q(due_at__lte=now + AT_RISK_WITHIN)
    )
    if team is not None:
        clocks = clocks.filter(team=team)
    return clocks.select_related("handoff__lead__contact", "assigned_to", "team").order_by("due_at", "id")


def policies() -> QuerySet[SlaPolicy]:
    return SlaPolicy.objects.order_by("position", "id")


def business_hours_rows() -> QuerySet[BusinessHours]:
    return BusinessHours.objects.select_related("team").order_by("team__name", "id")


def holidays(*, team: SalesTeam | None = None) -> QuerySet[Holiday]:
    rows = Holiday.objects.select_related("team").order_by("date", "id")
    return rows.filter(team=team) if team is not None else rows


def teams() -> QuerySet[SalesTeam]:
    return SalesTeam.objects.order_by("name")
