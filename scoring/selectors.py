"""Reads of qualification: a lead's scores and ledger, ledger sums, and the plain-words explanation of
why a lead has its score and stage."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet, Sum

from leads.models import Lead, Stage, StageChange
from scoring.engine.spec import points_by_rule, rule_orders
from scoring.models import (
    BantAnswer,
    Cause,
    Dimension,
    LeadScore,
    ModelVersion,
    RecomputeJob,
    Rule,
    ScoreChange,
    VersionStatus,
)
from scoring.services.versions import lifecycle_policy_get

LEDGER_DIMENSIONS = ("fit", "behaviour", "engagement", "maturity", "manual", "product")


def lead_score(lead: Lead) -> LeadScore | None:
    return LeadScore.objects.filter(lead_id=lead.pk).first()


def lead_ledger(lead: Lead) -> QuerySet[ScoreChange]:
    return ScoreChange.objects.filter(lead_id=lead.pk).select_related("author").order_by("-id")


def ledger_totals(lead_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
    """Each lead's ledger summed per dimension: what its LeadScore must hold."""
    rows = ScoreChange.objects.all()
    if lead_ids is not None:
        rows = rows.filter(lead_id__in=list(lead_ids))
    sums = rows.order_by().values("lead_id").annotate(**{d: Sum(d) for d in LEDGER_DIMENSIONS})
    return {row["lead_id"]: {d: int(row[d] or 0) for d in LEDGER_DIMENSIONS} for row in sums}


def ledger_rule_totals(lead: Lead) -> dict[int, int]:
    """Each rule's points summed over the lead's ledger (given less withdrawn), by rule id."""
    rows = list(
        ScoreChange.objects.filter(lead_id=lead.pk).values_list(
            "version_id", "rule_deltas", "withdrawn_version_id", "withdrawn_points"
        )
    )
    orders = rule_orders([r[0] for r in rows] + [r[2] for r in rows])
    totals: dict[int, int] = defaultdict(int)
    for version_id, deltas, withdrawn_version_id, withdrawn in rows:
        for rule_id, delta in points_by_rule(orders.get(version_id, []), deltas).items():
            totals[rule_id] += delta
        for rule_id, points in points_by_rule(orders.get(withdrawn_version_id, []), withdrawn).items():
            totals[rule_id] -= points
    return {k: v for k, v in totals.items() if v}


def ledger_row_rules(rows: list[ScoreChange]) -> dict[int, list[tuple[Rule | None, int]]]:
    """For each ledger row (by id), the rules it changed and by how much, withdrawn points negative."""
    orders = rule_orders([r.version_id for r in rows] + [r.withdrawn_version_id for r in rows])
    rules = rules_by_id(rule_id for order in orders.values() for rule_id in order)
    described: dict[int, list[tuple[Rule | None, int]]] = {}
    for row in rows:
        changes = list(points_by_rule(orders.get(row.version_id or 0, []), row.rule_deltas).items())
        changes += [
            (rule_id, -points)
            for rule_id, points in points_by_rule(
                orders.get(row.withdrawn_version_id or 0, []), row.withdrawn_points
            ).items()
        ]
        described[row.pk] = [
            (rules.get(rule_id), delta) for rule_id, delta in sorted(changes, key=lambda c: -abs(c[1]))
        ]
    return described


def rules_by_id(ids: Iterable[int]) -> dict[int, Rule]:
    return {r.pk: r for r in Rule.objects.filter(pk__in=set(ids)).select_related("version__scoring_model")}


def versions_by_id(ids: Iterable[int | None]) -> dict[int, ModelVersion]:
    wanted = {i for i in ids if i}
    return {v.pk: v for v in ModelVersion.objects.filter(pk__in=wanted).select_related("scoring_model")}


def live_version_with_rules() -> ModelVersion | None:
    return (
        ModelVersion.objects.filter(status=VersionStatus.LIVE)
        .select_related("scoring_model")
        .prefetch_related("rules")
        .first()
    )


def recompute_jobs(limit: int = 10) -> list[RecomputeJob]:
    return list(
        RecomputeJob.objects.select_related("version__scoring_model").order_by("-created_at", "-id")[:limit]
    )


def bant_history(lead: Lead) -> QuerySet[BantAnswer]:
    return (
        BantAnswer.objects.filter(lead_id=lead.pk)
        .select_related("answered_by")
        .order_by("-answered_at", "-id")
    )


@dataclass(frozen=True)
class Contribution:
    rule_id: int
    name: str
    dimension: str
    points: int


@dataclass
class Explanation:
    """Why a lead has its score and stage, in words a sales rep reads in ten seconds."""

    lead_id: int
    stage: str
    score: int = 0
    grade: str = ""
    priority: int = 0
    dimensions: dict[str, int] = field(default_factory=dict)
    maturity_stage: str = ""
    contributions: list[Contribution] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    qualified_at: dt.datetime | None = None
    crossed_at: dt.datetime | None = None


def _describe_row(row: ScoreChange) -> str:
    if row.cause == Cause.MANUAL:
        return f"a manual adjustment by {row.author_label or 'someone'} ({row.note})"
    if row.cause == Cause.TOUCHPOINT:
        return f"touchpoint #{row.touchpoint_id}" if row.touchpoint_id else "new touchpoints"
    if row.cause == Cause.FIELD_CHANGE:
        return f"a change of {row.changed_fields}" if row.changed_fields else "a field change"
    words: dict[str, str] = {Cause.CAPTURE: "capture", Cause.DECAY: "decay", Cause.RECOMPUTE: "a recompute"}
    return words.get(row.cause, row.cause)


def lead_explanation(lead: Lead) -> Explanation:
    """The score broken down by rule (from the lead's current points per rule, which equal its ledger), the
    threshold it crossed and when (walking the ledger in order), and the stage change that followed."""
    explanation = Explanation(lead_id=lead.pk, stage=lead.stage)
    score = lead_score(lead)
    if score is None:
        explanation.sentences.append("This lead has not been scored yet: no scoring model is live.")
        return explanation
    explanation.score, explanation.grade, explanation.priority = score.score, score.grade, score.priority
    explanation.maturity_stage = score.maturity_stage
    explanation.dimensions = {
        Dimension.FIT: score.fit,
        Dimension.BEHAVIOUR: score.behaviour,
        Dimension.ENGAGEMENT: score.engagement,
        Dimension.MATURITY: score.maturity,
        "manual": score.manual,
    }
    current = points_by_rule(
        rule_orders([score.version_id]).get(score.version_id or 0, []), score.rule_points
    )
    rules = rules_by_id(current)
    explanation.contributions = sorted(
        (
            Contribution(
                rule_id,
                rules[rule_id].name if rule_id in rules else f"rule #{rule_id}",
                rules[rule_id].dimension if rule_id in rules else "",
                points,
            )
            for rule_id, points in current.items()
        ),
        key=lambda c: (-abs(c.points), c.name),
    )
    policy = lifecycle_policy_get()
    interest = [c for c in explanation.contributions if c.dimension != Dimension.FIT and c.points > 0]
    top = ", ".join(f"{c.name} (+{c.points})" for c in interest[:3])
    fit_words = ", ".join(
        f"{c.name} ({c.points:+d})" for c in explanation.contributions if c.dimension == Dimension.FIT
    )
    explanation.sentences.append(
        f"Score {score.score} = behaviour {score.behaviour} + engagement {score.engagement} + maturity "
        f"{score.maturity}" + (f" + manual {score.manual}" if score.manual else "") + "."
    )
    if top:
        explanation.sentences.append(f"Most of the interest comes from {top}.")
    explanation.sentences.append(
        f"Grade {score.grade} from a fit of {score.fit}" + (f": {fit_words}." if fit_words else ".")
    )
    if score.maturity_stage:
        explanation.sentences.append(
            f"Recent signals show the {score.get_maturity_stage_display().lower()} stage."
        )
    qualified = (
        StageChange.objects.filter(lead_id=lead.pk, to_stage__in=[Stage.MQL, Stage.PQL])
        .order_by("-changed_at", "-id")
        .first()
    )
    crossed = _threshold_crossing(lead, policy.mql_score)
    if crossed is not None:
        explanation.crossed_at = crossed.created_at
        explanation.sentences.append(
            f"The score first reached the MQL threshold of {policy.mql_score} on "
            f"{crossed.created_at:%Y-%m-%d %H:%M} UTC, through {_describe_row(crossed)}."
        )
    if qualified is not None:
        explanation.qualified_at = qualified.changed_at
        who = qualified.rule or "someone"
        explanation.sentences.append(
            f"It became {qualified.get_to_stage_display()} on {qualified.changed_at:%Y-%m-%d %H:%M} UTC "
            f"({who}): {qualified.reason or 'no reason recorded'}"
        )
    elif lead.stage in (Stage.COLD, Stage.RECYCLED):
        missing = policy.mql_score - score.score
        if missing > 0:
            explanation.sentences.append(
                f"It is not an MQL: {missing} more points are needed to reach {policy.mql_score}."
            )
        else:
            explanation.sentences.append(
                f"It is not an MQL: its grade {score.grade} is below the {policy.mql_min_grade} required."
            )
    return explanation


def _threshold_crossing(lead: Lead, threshold: int) -> ScoreChange | None:
    """The ledger row at which the lead's score last rose to the threshold from below."""
    running = 0
    crossing: ScoreChange | None = None
    for row in ScoreChange.objects.filter(lead_id=lead.pk).order_by("id"):
        before = running
        running += row.score_delta
        if before < threshold <= running:
            crossing = row
    return crossing
