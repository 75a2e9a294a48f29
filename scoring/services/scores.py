"""Writing scores: incremental rescoring, recompute and decay jobs, manual adjustments, BANT answers.

Every path ends in `scoring.engine.ledger`, which writes the ledger row and the totals together, and
then in `scoring.services.lifecycle`, which moves leads whose scores crossed a threshold.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Lead
from leads.services import lead_update
from scoring.engine.ledger import (
    ChunkResult,
    ScoreEvent,
    lock_leads,
    score_chunk_pg,
    score_leads,
    score_leads_portable,
)
from scoring.engine.spec import VersionSpec, grade_for, priority_for, version_spec
from scoring.models import (
    BantAnswer,
    BantField,
    BantSource,
    Cause,
    JobStatus,
    LeadScore,
    ModelVersion,
    RecomputeJob,
    RecomputeKind,
    ScoreChange,
    VersionStatus,
)
from scoring.services.lifecycle import lifecycle_apply, lifecycle_moves
from scoring.services.versions import lifecycle_policy_get, live_version

# Leads per chunk of a recompute: one transaction each. On PostgreSQL a chunk is a handful of set-based
# statements; the portable path evaluates lead by lead, so its chunks are small.
PG_CHUNK = 100_000
PORTABLE_CHUNK = 2_000
LIFECYCLE_BATCH = 200
MAX_ADJUSTMENT = 1000


@dataclass
class Rescored:
    leads: int
    ledger_rows: int
    moves: int


def leads_rescore(*, lead_ids: Sequence[int], event: ScoreEvent, at: dt.datetime | None = None) -> Rescored:
    """Rescore these leads with the live version now, and move those that crossed a threshold.
    Without a live version there is nothing to score with."""
    version = live_version()
    if version is None or not lead_ids:
        return Rescored(0, 0, 0)
    spec = version_spec(version)
    with transaction.atomic():
        result = score_leads(spec=spec, at=at or timezone.now(), event=event, lead_ids=lead_ids)
        moves = lifecycle_moves(policy=lifecycle_policy_get(), version=version, lead_ids=result.lead_ids)
        moved = lifecycle_apply(moves)
    return Rescored(result.leads, result.ledger_rows, moved)


def contact_leads(contact_id: int) -> list[int]:
    return list(Lead.objects.filter(contact_id=contact_id, is_current=True).values_list("pk", flat=True))


# --- recompute and decay ------------------------------------------------------------------------


def recompute_job_create(*, version: ModelVersion, kind: str, actor: Actor) -> RecomputeJob:
    from scoring import tasks  # tasks import the services

    if version.status != VersionStatus.LIVE:
        raise ValidationError({"version": ["Only the live version scores leads; publish it first."]})
    with transaction.atomic():
        job = RecomputeJob.objects.create(version=version, kind=kind, requested_by=actor.user)
        organization_id = version.organization_id
        transaction.on_commit(lambda: tasks.scoring_recompute_run.delay(organization_id, job.pk))
    return job


def _decay_keys(spec: VersionSpec) -> list[str]:
    return [r.key for r in spec.rules if r.time_dependent]


def _job_total(job: RecomputeJob, spec: VersionSpec) -> int:
    if job.kind == RecomputeKind.DECAY:
        keys = _decay_keys(spec)
        if not keys:
            return 0
        return LeadScore.objects.filter(version_id=spec.version_id, contributions__has_any_keys=keys).count()
    return Lead.objects.count()


def _next_bound(job: RecomputeJob, size: int) -> int | None:
    """The exclusive upper lead id of the chunk after job.cursor, or None when all are done."""
    if job.kind == RecomputeKind.DECAY:
        ids = (
            LeadScore.objects.filter(lead_id__gt=job.cursor)
            .order_by("lead_id")
            .values_list("lead_id", flat=True)
        )
    else:
        ids = Lead.objects.filter(pk__gt=job.cursor).order_by("pk").values_list("pk", flat=True)
    if not ids[:1]:
        return None
    beyond = list(ids[size : size + 1])
    if beyond:
        return int(beyond[0])
    last = ids.order_by("-lead_id" if job.kind == RecomputeKind.DECAY else "-pk").first()
    return int(last) + 1 if last is not None else None


def _chunk(job: RecomputeJob, spec: VersionSpec, lo: int, hi: int) -> ChunkResult:
    event = ScoreEvent(
        cause=Cause.DECAY if job.kind == RecomputeKind.DECAY else Cause.RECOMPUTE,
        note=f"{job.get_kind_display()} (job {job.pk})",
    )
    decay = job.kind == RecomputeKind.DECAY
    if connection.vendor == "postgresql":
        return score_chunk_pg(spec=spec, at=job.evaluated_at, event=event, lo=lo, hi=hi, decay_only=decay)
    if decay:
        keys = _decay_keys(spec)
        ids = LeadScore.objects.filter(
            lead_id__gte=lo, lead_id__lt=hi, version_id=spec.version_id, contributions__has_any_keys=keys
        ).values_list("lead_id", flat=True)
    else:
        ids = Lead.objects.filter(pk__gte=lo, pk__lt=hi).values_list("pk", flat=True)
    return score_leads_portable(spec=spec, at=job.evaluated_at, event=event, lead_ids=list(ids))


def recompute_job_run(
    *, organization_id: int, job_id: int, budget_seconds: float | None = None, chunk_size: int | None = None
) -> RecomputeJob:
    """Run (or resume) a recompute: score chunk after chunk, each committed with its progress, then make
    the lifecycle moves. Not inside a transaction. Returns the job; with a `budget_seconds` it stops after
    the chunk that exhausts it and leaves the job running (the task enqueues itself again)."""
    began = time.monotonic()
    size = chunk_size or (PG_CHUNK if connection.vendor == "postgresql" else PORTABLE_CHUNK)
    with tenant_context(organization_id):
        job = RecomputeJob.objects.select_related("version__scoring_model").get(pk=job_id)
        if job.status in (JobStatus.DONE, JobStatus.FAILED):
            return job
        spec = version_spec(job.version)
        if job.status == JobStatus.QUEUED:
            job.status, job.started_at, job.total = JobStatus.RUNNING, timezone.now(), _job_total(job, spec)
            job.save(update_fields=["status", "started_at", "total"])
    try:
        while job.scored_at is None:
            with tenant_context(organization_id):
                job.refresh_from_db()
                if job.status != JobStatus.RUNNING:
                    return job
                hi = _next_bound(job, size)
                if hi is None:
                    job.scored_at = timezone.now()
                    RecomputeJob.objects.filter(pk=job.pk).update(scored_at=job.scored_at)
                    break
                result = _chunk(job, spec, job.cursor + 1, hi)
                RecomputeJob.objects.filter(pk=job.pk).update(
                    cursor=hi - 1,
                    processed=F("processed") + result.leads,
                    changed=F("changed") + result.ledger_rows,
                )
            if budget_seconds is not None and time.monotonic() - began > budget_seconds:
                return job
        policy_and_version = None
        while True:
            with tenant_context(organization_id):
                job.refresh_from_db()
                if job.status != JobStatus.RUNNING:
                    return job
                if policy_and_version is None:
                    policy_and_version = (lifecycle_policy_get(), job.version)
                policy, version = policy_and_version
                moves = lifecycle_moves(
                    policy=policy, version=version, after_id=job.lifecycle_cursor, limit=LIFECYCLE_BATCH
                )
                if not moves:
                    RecomputeJob.objects.filter(pk=job.pk).update(
                        status=JobStatus.DONE, finished_at=timezone.now(), processed=F("total")
                    )
                    break
                moved = lifecycle_apply(moves)
                RecomputeJob.objects.filter(pk=job.pk).update(
                    lifecycle_cursor=moves[-1].lead_id, transitions=F("transitions") + moved
                )
            if budget_seconds is not None and time.monotonic() - began > budget_seconds:
                return job
    except Exception as exc:
        with tenant_context(organization_id):
            RecomputeJob.objects.filter(pk=job.pk).update(
                status=JobStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=timezone.now(),
            )
        raise
    with tenant_context(organization_id):
        job.refresh_from_db()
    return job


def decay_job_start() -> RecomputeJob | None:
    """A decay run for the organization of the context, unless one is already on its way."""
    from scoring import tasks

    version = live_version()
    if version is None:
        return None
    if RecomputeJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
        return None
    if not _decay_keys(version_spec(version)):
        return None
    job = RecomputeJob.objects.create(version=version, kind=RecomputeKind.DECAY)
    organization_id = version.organization_id
    transaction.on_commit(lambda: tasks.scoring_recompute_run.delay(organization_id, job.pk))
    return job


# --- manual adjustments and BANT ----------------------------------------------------------------


def score_adjust(*, lead: Lead, points: int, note: str, actor: Actor) -> ScoreChange:
    """Add (or take away) points by hand, with the author and why; the ledger keeps both."""
    errors: dict[str, list[str]] = {}
    if isinstance(points, bool) or not isinstance(points, int) or not points:
        errors["points"] = ["Give a whole number of points other than 0."]
    elif abs(points) > MAX_ADJUSTMENT:
        errors["points"] = [f"At most {MAX_ADJUSTMENT} points either way."]
    note = (note or "").strip()
    if not note:
        errors["note"] = ["Say why the score is adjusted; the lead's ledger shows it."]
    elif len(note) > 300:
        errors["note"] = ["At most 300 characters."]
    if errors:
        raise ValidationError(errors)
    version = live_version()
    spec = version_spec(version) if version is not None else None
    with transaction.atomic():
        lock_leads([lead.pk])
        score = LeadScore.objects.select_for_update().filter(lead_id=lead.pk).first()
        if score is None:
            score = LeadScore(lead_id=lead.pk, contributions={})
            score.grade = grade_for(0, spec.grade_thresholds) if spec is not None else ""
        score.manual += points
        score.score += points
        score.priority = priority_for(score.score, score.grade)
        score.updated_at = timezone.now()
        score.save()
        change = ScoreChange.objects.create(
            lead_id=lead.pk,
            version_id=score.version_id,
            cause=Cause.MANUAL,
            author=actor.user,
            author_label=actor.label[:200],
            note=note,
            manual=points,
        )
        Lead.objects.filter(pk=lead.pk).update(score=score.score, grade=score.grade)
        lead.score, lead.grade = score.score, score.grade
        audit_record(
            actor=actor,
            action="scoring.score_adjusted",
            target=lead,
            changes={"points": points, "note": note},
        )
        if version is not None:
            lifecycle_apply(
                lifecycle_moves(policy=lifecycle_policy_get(), version=version, lead_ids=[lead.pk])
            )
    return change


def bant_answer_record(
    *, lead: Lead, field: str, value: str, actor: Actor, source: str = BantSource.SALES
) -> BantAnswer:
    """Store who answered a BANT question and when, and set the lead's field; the lead update publishes
    LeadUpdated, which rescores the lead (fit rules may read BANT)."""
    errors: dict[str, list[str]] = {}
    if field not in BantField.values:
        errors["field"] = [f"Choose one of: {', '.join(BantField.values)}."]
    if not isinstance(value, str):
        errors["value"] = ["Give the answer as text."]
    elif len(value) > (500 if field == BantField.NEED else 200):
        errors["value"] = [f"At most {500 if field == BantField.NEED else 200} characters."]
    if source not in BantSource.values:
        errors["source"] = [f"Choose one of: {', '.join(BantSource.values)}."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        answer = BantAnswer.objects.create(
            lead=lead, field=field, value=value.strip(), answered_by=actor.user, source=source
        )
        lead_update(lead=lead, data={field: value.strip()}, actor=actor)
    return answer
