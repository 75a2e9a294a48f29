"""Writing scores: incremental rescoring, recompute and decay jobs, manual adjustments, BANT answers.

Every path ends in `scoring.engine.ledger`, which writes the ledger row and the totals together, and
then in `scoring.services.lifecycle`, which moves leads whose scores crossed a threshold.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Lead
from leads.services import lead_update
from scoring.engine.ledger import (
    LOCK_BLOCK_BITS,
    ChunkResult,
    ScoreEvent,
    decay_candidates,
    decay_candidates_portable,
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
logger = logging.getLogger(__name__)

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


def _decay_candidates(spec: VersionSpec, lo: int, hi: int) -> list[int]:
    if connection.vendor == "postgresql":
        return decay_candidates(spec, lo, hi)
    return decay_candidates_portable(spec, lo, hi)


def _job_total(job: RecomputeJob, spec: VersionSpec) -> int:
    if job.kind == RecomputeKind.DECAY:
        return len(_decay_candidates(spec, 0, 2**62)) if spec.time_dependent else 0
    return Lead.objects.count()


def _block_ceiling(lead_id: int) -> int:
    block = 1 << LOCK_BLOCK_BITS
    return (lead_id + block - 1) // block * block


def _block_nearest(lead_id: int, lo: int) -> int:
    """The lock block boundary nearest to `lead_id`, but past `lo`."""
    block = 1 << LOCK_BLOCK_BITS
    nearest = (lead_id + block // 2) // block * block
    return nearest if nearest > lo else _block_ceiling(lo + 1)


def _balanced_size(total: int, size: int) -> int:
    """A chunk size near `size` that splits `total` leads into a multiple of the chunks scored at once,
    so that the workers finish together instead of one scoring the odd chunk alone at the end."""
    parallel = max(1, int(settings.SCORING_RECOMPUTE_PARALLEL))
    if total <= size or parallel == 1:
        return size
    chunks = -(-total // size)
    chunks = -(-chunks // parallel) * parallel
    return -(-total // chunks)


def _bounds(job: RecomputeJob, size: int) -> list[list[int]]:
    """The job's chunks as [lo, hi) lead id ranges of about `size` leads each (one short query per chunk:
    an index range skip)."""
    if job.kind == RecomputeKind.DECAY:
        ids = (
            LeadScore.objects.filter(version_id=job.version_id)
            .order_by("lead_id")
            .values_list("lead_id", flat=True)
        )
        column = "lead_id"
    else:
        ids = Lead.objects.order_by("pk").values_list("pk", flat=True)
        column = "pk"
    first = ids.first()
    if first is None:
        return []
    last = int(ids.order_by(f"-{column}").first() or first)
    bounds: list[list[int]] = []
    lo = int(first)
    done = 0  # leads in the chunks so far
    while True:
        # The k-th chunk ends near k x size leads from the start, so rounding to blocks does not drift.
        wanted = max(1, (len(bounds) + 1) * size - done)
        beyond = list(ids.filter(**{f"{column}__gte": lo})[wanted : wanted + 1])
        hi = int(beyond[0]) if beyond else last + 1
        # Chunks end on a lock block boundary, so that two chunks scored at once never wait for each
        # other (small chunks, as in tests, are left as they are).
        rounded = bool(beyond) and size >= 1 << LOCK_BLOCK_BITS
        if rounded:
            hi = _block_nearest(hi, lo)
        if hi > last:
            bounds.append([lo, last + 1])
            return bounds
        bounds.append([lo, hi])
        if not beyond:
            return bounds
        done += ids.filter(**{f"{column}__gte": lo, f"{column}__lt": hi}).count() if rounded else wanted
        lo = hi


def _chunk(job: RecomputeJob, spec: VersionSpec, lo: int, hi: int) -> ChunkResult:
    event = ScoreEvent(
        cause=Cause.DECAY if job.kind == RecomputeKind.DECAY else Cause.RECOMPUTE,
        note=f"{job.get_kind_display()} (job {job.pk})",
    )
    if job.kind == RecomputeKind.DECAY:
        ids = _decay_candidates(spec, lo, hi)
        result = score_leads(spec=spec, at=job.evaluated_at, event=event, lead_ids=ids)
        # The job counts the leads it looked at, including those decay did not change.
        result.leads = len(ids)
        return result
    if connection.vendor == "postgresql":
        return score_chunk_pg(spec=spec, at=job.evaluated_at, event=event, lo=lo, hi=hi)
    ids = list(Lead.objects.filter(pk__gte=lo, pk__lt=hi).values_list("pk", flat=True))
    return score_leads_portable(spec=spec, at=job.evaluated_at, event=event, lead_ids=ids)


def recompute_job_plan(*, organization_id: int, job_id: int, chunk_size: int | None = None) -> RecomputeJob:
    """Mark the job running and split it into chunks (once: a second call returns the same plan)."""
    size = chunk_size or (PG_CHUNK if connection.vendor == "postgresql" else PORTABLE_CHUNK)
    with tenant_context(organization_id):
        job = RecomputeJob.objects.select_for_update().select_related("version__scoring_model").get(pk=job_id)
        if job.status in (JobStatus.DONE, JobStatus.FAILED) or job.chunks:
            return job
        spec = version_spec(job.version)
        job.total = _job_total(job, spec)
        job.chunks = _bounds(job, size if chunk_size else _balanced_size(job.total, size))
        job.status, job.started_at = JobStatus.RUNNING, job.started_at or timezone.now()
        if not job.chunks:
            job.scored_at = timezone.now()
        job.save(update_fields=["chunks", "total", "status", "started_at", "scored_at"])
    return job


def recompute_chunk_run(*, organization_id: int, job_id: int, lo: int) -> tuple[RecomputeJob, bool]:
    """Score one planned chunk in one transaction with its progress. Returns the job and whether this
    chunk was the last one (its caller then starts the lifecycle moves, exactly once)."""
    try:
        with tenant_context(organization_id):
            job = RecomputeJob.objects.select_related("version__scoring_model").get(pk=job_id)
            if job.status != JobStatus.RUNNING or lo in job.done_chunks:
                return job, False
            hi = next(h for low, h in job.chunks if low == lo)
            result = _chunk(job, version_spec(job.version), lo, hi)
            if result.stale:  # a newer version went live: its own job rescores these leads
                return job, False
            job = RecomputeJob.objects.select_for_update().get(pk=job_id)
            if lo in job.done_chunks:  # a twin delivery finished first; its scores stand, ours added nothing
                return job, False
            job.done_chunks = [*job.done_chunks, lo]
            job.processed += result.leads
            job.changed += result.ledger_rows
            last = len(job.done_chunks) == len(job.chunks)
            if last:
                job.scored_at = timezone.now()
            job.save(update_fields=["done_chunks", "processed", "changed", "scored_at"])
            if result.timings:
                logger.info(
                    "Recompute %s chunk %s-%s: %s leads, %s ledger rows, %s",
                    job.pk,
                    lo,
                    hi,
                    result.leads,
                    result.ledger_rows,
                    {k: round(v, 2) for k, v in result.timings.items()},
                )
    except Exception as exc:
        _job_failed(organization_id, job_id, exc)
        raise
    if last and connection.vendor == "postgresql":
        # A recompute may have written a million rows since autovacuum last looked: without fresh
        # statistics the planner reads the whole table for each incremental rescoring that follows.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE scoring_leadscore")
            cursor.execute("ANALYZE scoring_scorechange")
    return job, last


def recompute_job_run(
    *,
    organization_id: int,
    job_id: int,
    workers: int = 1,
    chunk_size: int | None = None,
    max_chunks: int | None = None,
) -> RecomputeJob:
    """Run (or resume) a whole recompute here and now: plan, score the chunks left (`workers` at a time,
    each on its own database connection), then make the lifecycle moves. The Celery tasks do the same
    with one task per chunk. `max_chunks` stops early, as an interrupted run would."""
    job = recompute_job_plan(organization_id=organization_id, job_id=job_id, chunk_size=chunk_size)
    pending = [lo for lo, _ in job.chunks if lo not in job.done_chunks][:max_chunks]

    def score(lo: int) -> None:
        try:
            recompute_chunk_run(organization_id=organization_id, job_id=job_id, lo=lo)
        finally:
            if workers > 1:
                connection.close()  # this thread's own connection

    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(score, pending))
    else:
        for lo in pending:
            score(lo)
    with tenant_context(organization_id):
        job.refresh_from_db()
    if job.status == JobStatus.RUNNING and job.scored_at is not None:
        job = recompute_job_moves(organization_id=organization_id, job_id=job_id)
    return job


def _job_failed(organization_id: int, job_id: int, exc: Exception) -> None:
    with tenant_context(organization_id):
        RecomputeJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )


def recompute_job_moves(*, organization_id: int, job_id: int, deadline: float | None = None) -> RecomputeJob:
    """The lifecycle phase: the moves the new scores call for, in batches, resumable by lead id. With a
    `deadline` (time.monotonic()) it stops after the batch that passes it and leaves the job running."""
    with tenant_context(organization_id):
        job = RecomputeJob.objects.select_related("version__scoring_model").get(pk=job_id)
        policy = lifecycle_policy_get()
    try:
        while job.status == JobStatus.RUNNING:
            with tenant_context(organization_id):
                job.refresh_from_db()
                if job.status != JobStatus.RUNNING:
                    break
                moves = lifecycle_moves(
                    policy=policy, version=job.version, after_id=job.lifecycle_cursor, limit=LIFECYCLE_BATCH
                )
                if not moves:
                    RecomputeJob.objects.filter(pk=job.pk).update(
                        status=JobStatus.DONE, finished_at=timezone.now()
                    )
                    break
                moved = lifecycle_apply(moves)
                RecomputeJob.objects.filter(pk=job.pk).update(
                    lifecycle_cursor=moves[-1].lead_id, transitions=F("transitions") + moved
                )
            if deadline is not None and time.monotonic() > deadline:
                break
    except Exception as exc:
        _job_failed(organization_id, job.pk, exc)
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
    if not version_spec(version).time_dependent:
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
            score = LeadScore(lead_id=lead.pk, rule_points=[])
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
