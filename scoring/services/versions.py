"""Scoring models, their versions and rules, publishing, and the lifecycle thresholds.

A draft is the only editable version. Publishing retires the live version, makes the draft live (one live
version per organization, held by a database constraint) and starts the full recompute that brings every
lead's scores, and their ledger, to the new rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from leadhub.tenancy.services import Actor, audit_record
from scoring.models import (
    GRADES,
    LifecyclePolicy,
    ModelVersion,
    RecomputeJob,
    RecomputeKind,
    Rule,
    ScoringModel,
    VersionStatus,
    default_grade_thresholds,
    rule_summary,
)
from scoring.services.rules import RULE_FIELDS, grade_thresholds_clean, rule_clean

MAX_RULES = 200


def scoring_model_create(
    *, name: str, description: str = "", actor: Actor, rules: Sequence[Mapping[str, Any]] | None = None
) -> ScoringModel:
    """A new model with a first draft (empty, or holding `rules`)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the model a name."]})
    if len(name) > 100:
        raise ValidationError({"name": ["At most 100 characters."]})
    with transaction.atomic():
        if ScoringModel.objects.filter(name=name).exists():
            raise ValidationError({"name": [f"A scoring model named '{name}' already exists."]})
        model = ScoringModel.objects.create(name=name, description=description or "", created_by=actor.user)
        version = ModelVersion.objects.create(scoring_model=model, number=1, created_by=actor.user)
        for index, data in enumerate(rules or []):
            rule_create(version=version, data={"position": index, **data}, actor=actor)
        audit_record(actor=actor, action="scoring.model_created", target=model)
    return model


def scoring_model_update(*, model: ScoringModel, data: Mapping[str, Any], actor: Actor) -> ScoringModel:
    with transaction.atomic():
        if "name" in data:
            name = str(data["name"] or "").strip()
            if not name:
                raise ValidationError({"name": ["Give the model a name."]})
            if ScoringModel.objects.filter(name=name).exclude(pk=model.pk).exists():
                raise ValidationError({"name": [f"A scoring model named '{name}' already exists."]})
            model.name = name[:100]
        if "description" in data:
            model.description = str(data["description"] or "")
        model.save()
    return model


def scoring_model_delete(*, model: ScoringModel, actor: Actor) -> None:
    """Only a model that never went live can be deleted: a published version explains ledger rows."""
    with transaction.atomic():
        if model.versions.exclude(status=VersionStatus.DRAFT).exists():
            raise ValidationError(
                {"scoring_model": ["This model has been published; its versions explain scores and stay."]}
            )
        audit_record(actor=actor, action="scoring.model_deleted", target=model)
        model.delete()


def version_create(
    *, scoring_model: ScoringModel, actor: Actor, based_on: ModelVersion | None = None
) -> ModelVersion:
    """A new draft, copying the rules and grade thresholds of `based_on` (default: the newest version)."""
    with transaction.atomic():
        versions = ModelVersion.objects.select_for_update().filter(scoring_model=scoring_model)
        last = versions.aggregate(n=Max("number"))["n"] or 0
        if based_on is None:
            based_on = versions.order_by("-number").first()
        elif based_on.scoring_model_id != scoring_model.pk:
            raise ValidationError({"based_on": ["That version belongs to another scoring model."]})
        draft = ModelVersion.objects.create(
            scoring_model=scoring_model,
            number=last + 1,
            created_by=actor.user,
            based_on=based_on,
            grade_thresholds=dict(based_on.grade_thresholds) if based_on else default_grade_thresholds(),
        )
        if based_on is not None:
            Rule.objects.bulk_create(
                [
                    Rule(version=draft, **rule_summary(rule))
                    for rule in based_on.rules.order_by("position", "id")
                ]
            )
    return draft


def _draft_only(version: ModelVersion) -> None:
    if not version.is_draft:
        raise ValidationError(
            {
                "version": [
                    f"Version {version.number} is {version.status}; create a draft to change the rules."
                ]
            }
        )


def version_update(*, version: ModelVersion, data: Mapping[str, Any], actor: Actor) -> ModelVersion:
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        _draft_only(version)
        if "grade_thresholds" in data:
            version.grade_thresholds = grade_thresholds_clean(data["grade_thresholds"])
        if "note" in data:
            note = str(data["note"] or "")
            if len(note) > 300:
                raise ValidationError({"note": ["At most 300 characters."]})
            version.note = note
        version.save()
    return version


def version_delete(*, version: ModelVersion, actor: Actor) -> None:
    with transaction.atomic():
        _draft_only(version)
        version.delete()


def rule_create(*, version: ModelVersion, data: Mapping[str, Any], actor: Actor) -> Rule:
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        _draft_only(version)
        if Rule.objects.filter(version=version).count() >= MAX_RULES:
            raise ValidationError({"version": [f"A version holds at most {MAX_RULES} rules."]})
        cleaned = rule_clean(data)
        if "position" not in data:
            cleaned["position"] = (
                Rule.objects.filter(version=version).aggregate(p=Max("position"))["p"] or 0
            ) + 1
        return Rule.objects.create(version=version, **cleaned)


def rule_update(*, rule: Rule, data: Mapping[str, Any], actor: Actor) -> Rule:
    """Change a draft's rule; `data` may hold some fields only, the others keep their values."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=rule.version_id)
        _draft_only(version)
        current = rule_summary(rule)
        merged = {**current, **{k: v for k, v in data.items() if k in RULE_FIELDS}}
        cleaned = rule_clean(merged)
        for name, value in cleaned.items():
            setattr(rule, name, value)
        rule.save()
    return rule


def rule_delete(*, rule: Rule, actor: Actor) -> None:
    with transaction.atomic():
        _draft_only(ModelVersion.objects.select_for_update().get(pk=rule.version_id))
        rule.delete()


def version_publish(*, version: ModelVersion, actor: Actor) -> RecomputeJob:
    """Make the draft the organization's live version and start recomputing every lead with it."""
    from scoring import tasks  # tasks import the services

    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        _draft_only(version)
        if not Rule.objects.filter(version=version).exists():
            raise ValidationError({"rules": ["A version needs at least one rule before it goes live."]})
        live = list(ModelVersion.objects.select_for_update().filter(status=VersionStatus.LIVE))
        ModelVersion.objects.filter(pk__in=[v.pk for v in live]).update(status=VersionStatus.RETIRED)
        now = timezone.now()
        version.status = VersionStatus.LIVE
        version.published_at = now
        version.published_by = actor.user
        version.save(update_fields=["status", "published_at", "published_by"])
        # A queued or running recompute of the retired version would only be undone by this one.
        RecomputeJob.objects.filter(status__in=["queued", "running"]).exclude(version=version).update(
            status="failed", error="Superseded by the publication of a newer version.", finished_at=now
        )
        job = RecomputeJob.objects.create(
            version=version, kind=RecomputeKind.PUBLISH, evaluated_at=now, requested_by=actor.user
        )
        audit_record(
            actor=actor,
            action="scoring.version_published",
            target=version,
            changes={"retired": [v.pk for v in live], "recompute_job": job.pk},
        )
        organization_id = version.organization_id
        transaction.on_commit(lambda: tasks.scoring_recompute_run.delay(organization_id, job.pk))
    return job


def live_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=VersionStatus.LIVE).select_related("scoring_model").first()


def lifecycle_policy_get() -> LifecyclePolicy:
    """The organization's thresholds (the defaults until someone saves them)."""
    return LifecyclePolicy.objects.first() or LifecyclePolicy()


def lifecycle_policy_update(*, data: Mapping[str, Any], actor: Actor) -> LifecyclePolicy:
    with transaction.atomic():
        policy = LifecyclePolicy.objects.select_for_update().first() or LifecyclePolicy()
        errors: dict[str, list[str]] = {}
        for name in ("mql_score", "pql_points", "recycle_floor"):
            if name not in data:
                continue
            value = data[name]
            if value is None and name != "mql_score":
                setattr(policy, name, None)
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not -100_000 <= value <= 100_000:
                errors[name] = [
                    "Give a whole number." if name == "mql_score" else "Give a whole number, or null."
                ]
                continue
            setattr(policy, name, value)
        if "mql_min_grade" in data:
            if data["mql_min_grade"] not in GRADES:
                errors["mql_min_grade"] = [f"Choose one of {', '.join(GRADES)}."]
            else:
                policy.mql_min_grade = data["mql_min_grade"]
        if policy.pql_points is not None and policy.pql_points <= 0 and "pql_points" not in errors:
            errors["pql_points"] = [
                "PQL needs at least 1 product-usage point; leave it empty to turn PQL off."
            ]
        if policy.recycle_floor is not None and policy.recycle_floor >= policy.mql_score and not errors:
            errors["recycle_floor"] = [
                f"The recycle floor must be below the MQL score ({policy.mql_score}), or leads would flap."
            ]
        if errors:
            raise ValidationError(errors)
        policy.updated_by = actor.user
        policy.updated_at = timezone.now()
        policy.save()
        audit_record(
            actor=actor,
            action="scoring.thresholds_changed",
            target=policy,
            changes={
                k: data[k] for k in data if k in {"mql_score", "mql_min_grade", "pql_points", "recycle_floor"}
            },
        )
    return policy
