"""Lifecycle transitions driven by scores: cold or recycled -> MQL, -> PQL, MQL or PQL -> recycled.

Candidates are found with one query (leads whose scores cross a threshold for their stage); each move
then goes through `lead_change_stage`, which records the rule and the reason in plain words and publishes
LeadStageChanged: that event is how an MQL or PQL reaches sales (conversion reacts to it).

- PQL: product-usage points >= `pql_points`, from cold, recycled or MQL. It wins over MQL: product usage
  is the stronger signal.
- MQL: score >= `mql_score` with a grade at least `mql_min_grade`, from cold or recycled.
- Recycled: an MQL or PQL whose score fell below `recycle_floor` and that no longer qualifies as PQL.
Leads that sales already took (SQL and beyond) or that ended are never moved by scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from leadhub.tenancy.services import Actor
from leads.models import Lead, Stage
from leads.services import StageTransitionError, lead_change_stage
from scoring.engine.spec import points_by_rule, rule_orders
from scoring.models import GRADES, LeadScore, LifecyclePolicy, ModelVersion, Rule

TOP_RULES = 3


@dataclass(frozen=True)
class Move:
    lead_id: int
    to_stage: str
    rule: str
    reason: str


def _grades_at_least(grade: str) -> list[str]:
    return list(GRADES[: GRADES.index(grade) + 1]) if grade in GRADES else list(GRADES)


def _conditions(policy: LifecyclePolicy) -> tuple[Q, Q, Q]:
    pql = (
        Q(product__gte=policy.pql_points, lead__stage__in=[Stage.COLD, Stage.RECYCLED, Stage.MQL])
        if policy.pql_points is not None
        else Q(pk__in=[])
    )
    mql = Q(
        score__gte=policy.mql_score,
        grade__in=_grades_at_least(policy.mql_min_grade),
        lead__stage__in=[Stage.COLD, Stage.RECYCLED],
    ) & ~(Q(product__gte=policy.pql_points) if policy.pql_points is not None else Q(pk__in=[]))
    if policy.recycle_floor is None:
        recycle = Q(pk__in=[])
    else:
        recycle = Q(score__lt=policy.recycle_floor, lead__stage__in=[Stage.MQL, Stage.PQL])
        if policy.pql_points is not None:
            recycle &= Q(product__lt=policy.pql_points)
    return pql, mql, recycle


def _top_rules(
    contributions: dict[int, int], names: dict[int, str], *, product_only: set[int] | None = None
) -> str:
    ranked = sorted(
        (
            (int(k), v)
            for k, v in contributions.items()
            if v > 0 and (product_only is None or int(k) in product_only)
        ),
        key=lambda item: -item[1],
    )[:TOP_RULES]
    return ", ".join(f"{names.get(rule_id, f'rule #{rule_id}')} +{points}" for rule_id, points in ranked)


def lifecycle_moves(
    *,
    policy: LifecyclePolicy,
    version: ModelVersion | None,
    lead_ids: Sequence[int] | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> list[Move]:
    """The moves the thresholds call for, among `lead_ids` (or all leads with id > after_id), by lead id."""
    pql, mql, recycle = _conditions(policy)
    rows = LeadScore.objects.filter(pql | mql | recycle, lead__is_current=True)
    rows = rows.filter(lead_id__in=lead_ids) if lead_ids is not None else rows.filter(lead_id__gt=after_id)
    rows = rows.order_by("lead_id").values(
        "lead_id", "score", "grade", "product", "rule_points", "lead__stage", "version_id"
    )
    if limit is not None:
        rows = rows[:limit]
    found = list(rows)
    rules = Rule.objects.filter(version_id__in={r["version_id"] for r in found if r["version_id"]})
    names = {r.pk: r.name for r in rules}
    product_rules = {r.pk for r in rules if r.product_usage}
    label = f"{version.scoring_model.name} v{version.number}" if version is not None else "scoring"
    moves: list[Move] = []
    orders = rule_orders(r["version_id"] for r in found)
    for row in found:
        row["contributions"] = points_by_rule(orders.get(row["version_id"], []), row["rule_points"])
        stage, score, grade, product = row["lead__stage"], row["score"], row["grade"], row["product"]
        if policy.pql_points is not None and product >= policy.pql_points and stage != Stage.PQL:
            top = _top_rules(row["contributions"], names, product_only=product_rules)
            moves.append(
                Move(
                    row["lead_id"],
                    Stage.PQL,
                    f"scoring: PQL threshold ({label})"[:100],
                    f"Product usage earned {product} points, reaching the PQL threshold of "
                    f"{policy.pql_points}" + (f" (from {top})." if top else "."),
                )
            )
        elif stage in (Stage.COLD, Stage.RECYCLED) and score >= policy.mql_score:
            top = _top_rules(row["contributions"], names)
            moves.append(
                Move(
                    row["lead_id"],
                    Stage.MQL,
                    f"scoring: MQL threshold ({label})"[:100],
                    f"Score {score} reached the MQL threshold of {policy.mql_score} with grade {grade} "
                    f"(grade {policy.mql_min_grade} or better needed)"
                    + (f"; top rules: {top}." if top else "."),
                )
            )
        elif stage in (Stage.MQL, Stage.PQL) and policy.recycle_floor is not None:
            moves.append(
                Move(
                    row["lead_id"],
                    Stage.RECYCLED,
                    f"scoring: recycle floor ({label})"[:100],
                    f"Score decayed to {score}, below the recycle floor of {policy.recycle_floor}: "
                    "interest faded, back to nurturing.",
                )
            )
    return moves


def lifecycle_apply(moves: Sequence[Move]) -> int:
    """Make the moves through the stage service; returns how many were made."""
    leads = Lead.objects.in_bulk([m.lead_id for m in moves])
    done = 0
    for move in moves:
        lead = leads.get(move.lead_id)
        if lead is None:
            continue
        try:
            # A savepoint each: a lead that sales moved in the meantime is skipped, the others still move.
            with transaction.atomic():
                lead_change_stage(
                    lead=lead, to_stage=move.to_stage, actor=Actor.system(move.rule), reason=move.reason
                )
        except StageTransitionError:
            continue
        done += 1
    return done
