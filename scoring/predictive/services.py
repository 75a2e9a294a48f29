"""Every write of predictive scoring: settings, training runs and their versions, lead predictions.

A training run moves queued -> running -> done | insufficient | failed. Its progress is committed step by
step in short transactions of its own (the page polls it), the data is read in one transaction, the model
is fitted outside any transaction, and the new version, its switch to current and every lead's prediction
are written in one transaction at the end: readers see the old model or the new one, never half of each.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import joblib
import numpy as np
import sklearn
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from leadhub.tenancy.context import current_organization_id, tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Lead
from scoring.models_predictive import (
    MIN_LABELLED,
    MIN_PER_CLASS,
    LeadPrediction,
    PredictiveConfig,
    PredictiveModelVersion,
    PredictiveTrainingRun,
    RunStatus,
    RunTrigger,
)
from scoring.predictive.features import LeadFrame, field_catalogue, lead_frame_extract
from scoring.predictive.training import ALGORITHM, InsufficientData, TrainedModel, TrainingResult, train

logger = logging.getLogger(__name__)

SCORE_CHUNK = 5000
# A run still "running" after this is presumed dead (worker lost): a new one may start, or the task
# redelivered by the broker may take it over.
RUN_STALE_AFTER = timedelta(minutes=45)
FIELD_KEY_RE = re.compile(r"^[a-z_]+\.[-a-zA-Z0-9_.]{1,80}$")
MAX_EXCLUDED = 200


class TrainingAlreadyRunning(Exception):
    def __init__(self, run: PredictiveTrainingRun) -> None:
        super().__init__(f"Training run #{run.pk} is already {run.get_status_display().lower()}.")
        self.run = run


# --- settings ---------------------------------------------------------------------------------------------


def predictive_config_get() -> PredictiveConfig:
    """The organization's settings, or the defaults (unsaved) when it never changed them."""
    return PredictiveConfig.objects.filter().first() or PredictiveConfig(
        organization_id=current_organization_id()
    )


def predictive_config_update(
    *,
    actor: Actor,
    excluded_fields: Sequence[dict[str, Any]] | None = None,
    inactive_days: int | None = None,
    retrain_every_days: int | None = None,
) -> PredictiveConfig:
    """Change the settings; `excluded_fields` is the whole new list of {"field", "reason"}."""
    config = predictive_config_get()
    errors: dict[str, list[str]] = {}
    before = {
        "excluded_fields": config.excluded_keys,
        "inactive_days": config.inactive_days,
        "retrain_every_days": config.retrain_every_days,
    }
    if excluded_fields is not None:
        known = {spec.key for spec in field_catalogue()} | set(config.excluded_keys)
        previous = {item.get("field"): item for item in config.excluded_fields if isinstance(item, dict)}
        cleaned: list[dict[str, Any]] = []
        seen: set[str] = set()
        if len(excluded_fields) > MAX_EXCLUDED:
            errors["excluded_fields"] = [f"At most {MAX_EXCLUDED} fields can be excluded."]
        for index, item in enumerate(excluded_fields[:MAX_EXCLUDED]):
            key = str(item.get("field", "")).strip()
            reason = str(item.get("reason", "") or "").strip()
            if not FIELD_KEY_RE.match(key) or key not in known:
                errors[f"excluded_fields.{index}.field"] = [
                    f"'{key[:100]}' is not a field of this organization's model "
                    "(see the list of fields on the predictive model page)."
                ]
                continue
            if len(reason) > 300:
                errors[f"excluded_fields.{index}.reason"] = ["Keep the reason under 300 characters."]
                continue
            if key in seen:
                continue
            seen.add(key)
            kept = previous.get(key)
            if kept and (not reason or reason == kept.get("reason")):
                cleaned.append(kept)
                continue
            cleaned.append(
                {
                    "field": key,
                    "reason": reason or "Excluded by a user.",
                    "by": actor.label,
                    "at": timezone.now().isoformat(),
                }
            )
        config.excluded_fields = cleaned
    if inactive_days is not None:
        if not 0 <= inactive_days <= 3650:
            errors["inactive_days"] = ["Between 0 (never) and 3,650 days."]
        config.inactive_days = inactive_days
    if retrain_every_days is not None:
        if not 0 <= retrain_every_days <= 365:
            errors["retrain_every_days"] = ["Between 0 (never) and 365 days."]
        config.retrain_every_days = retrain_every_days
    if errors:
        raise ValidationError(errors)
    config.updated_by = actor.user
    config.updated_at = timezone.now()
    config.save()
    after = {
        "excluded_fields": config.excluded_keys,
        "inactive_days": config.inactive_days,
        "retrain_every_days": config.retrain_every_days,
    }
    changes = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if changes:
        audit_record(actor=actor, action="predictive.settings", target=config, changes=changes)
    return config


# --- runs ---------------------------------------------------------------------------------------------------


def training_run_active() -> PredictiveTrainingRun | None:
    stale = timezone.now() - RUN_STALE_AFTER
    return (
        PredictiveTrainingRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        .filter(created_at__gte=stale)
        .order_by("-created_at")
        .first()
    )


def training_run_request(*, actor: Actor, trigger: str = RunTrigger.MANUAL) -> PredictiveTrainingRun:
    """Queue a training run (the task starts after commit); refuse while another one is under way."""
    from scoring.predictive import tasks

    active = training_run_active()
    if active is not None:
        raise TrainingAlreadyRunning(active)
    run = PredictiveTrainingRun.objects.create(
        trigger=trigger, requested_by=actor.user, step="Waiting for a worker"
    )
    audit_record(actor=actor, action="predictive.train", target=run, changes={"trigger": trigger})
    organization_id = run.organization_id
    transaction.on_commit(lambda: tasks.predictive_train_task.delay(organization_id, run.pk))
    return run


def _run_update(organization_id: int, run_id: int, **values: Any) -> None:
    with tenant_context(organization_id):
        PredictiveTrainingRun.objects.filter(pk=run_id).update(**values)


def _claim(organization_id: int, run_id: int) -> bool:
    """Take the run: only a queued one, or one whose worker died long ago (the task may run twice)."""
    now = timezone.now()
    with tenant_context(organization_id):
        claimable = PredictiveTrainingRun.objects.filter(pk=run_id).filter(
            Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, started_at__lt=now - RUN_STALE_AFTER)
        )
        return bool(
            claimable.update(status=RunStatus.RUNNING, started_at=now, progress=5, step="Reading leads")
        )


def _user_excluded(config: PredictiveConfig) -> dict[str, str]:
    return {
        str(item.get("field")): str(item.get("reason") or "Excluded by a user.")
        for item in config.excluded_fields
        if isinstance(item, dict) and item.get("field")
    }


def training_run_execute(*, organization_id: int, run_id: int) -> PredictiveTrainingRun | None:
    """Do the run's work. Returns None when another delivery of the task already took it."""
    if not _claim(organization_id, run_id):
        return None
    started = time.perf_counter()

    def progress(percent: int, step: str) -> None:
        _run_update(organization_id, run_id, progress=percent, step=step[:200])

    try:
        with tenant_context(organization_id):
            config = predictive_config_get()
            requested_by_id, trigger = PredictiveTrainingRun.objects.values_list(
                "requested_by_id", "trigger"
            ).get(pk=run_id)
            extract_started = time.perf_counter()
            frame = lead_frame_extract(inactive_days=config.inactive_days)
            extract_seconds = time.perf_counter() - extract_started
        progress(15, f"Read {len(frame):,} leads; {len(frame.labelled):,} have a known outcome")
        result = train(
            frame,
            user_excluded=_user_excluded(config),
            min_labelled=MIN_LABELLED,
            min_per_class=MIN_PER_CLASS,
            progress=progress,
        )
        result.seconds["extract"] = extract_seconds
        progress(85, f"Scoring {len(frame):,} leads")
        with tenant_context(organization_id):
            version = _version_store(
                frame=frame,
                result=result,
                config=config,
                trigger=trigger,
                trained_by_id=requested_by_id,
                started=started,
            )
            PredictiveTrainingRun.objects.filter(pk=run_id).update(
                status=RunStatus.DONE,
                progress=100,
                step=f"Version {version.number} is live",
                version=version,
                finished_at=timezone.now(),
            )
    except InsufficientData as exc:
        _run_update(
            organization_id,
            run_id,
            status=RunStatus.INSUFFICIENT,
            message=exc.message,
            step="Not enough data",
            finished_at=timezone.now(),
        )
    except Exception as exc:
        logger.exception("Predictive training run %s of organization %s failed", run_id, organization_id)
        _run_update(
            organization_id,
            run_id,
            status=RunStatus.FAILED,
            message=f"Training failed: {type(exc).__name__}: {exc}"[:2000],
            step="Failed",
            finished_at=timezone.now(),
        )
    with tenant_context(organization_id):
        return PredictiveTrainingRun.objects.get(pk=run_id)


def predictive_train_now(*, organization: Organization, actor: Actor, trigger: str) -> PredictiveTrainingRun:
    """Train in this process (the command line): a run row like any other, so the page shows it."""
    with tenant_context(organization):
        active = training_run_active()
        if active is not None:
            raise TrainingAlreadyRunning(active)
        run = PredictiveTrainingRun.objects.create(trigger=trigger, requested_by=actor.user)
        audit_record(actor=actor, action="predictive.train", target=run, changes={"trigger": trigger})
    finished = training_run_execute(organization_id=organization.pk, run_id=run.pk)
    assert finished is not None
    return finished


def estimator_dump(model: TrainedModel) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    return buffer.getvalue()


def _version_store(
    *,
    frame: LeadFrame,
    result: TrainingResult,
    config: PredictiveConfig,
    trigger: str,
    trained_by_id: int | None,
    started: float,
) -> PredictiveModelVersion:
    """The new version, made current, with every lead's prediction (one transaction: the caller's)."""
    number = (PredictiveModelVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
    evaluation = result.metrics.get("random", {})
    version = PredictiveModelVersion.objects.create(
        number=number,
        algorithm=f"{ALGORITHM}, C={result.model.C:g}",
        metrics=result.metrics,
        features=result.features_json(),
        excluded=[e.as_json() for e in result.exclusions],
        global_factors=result.global_factors,
        settings_used={
            "inactive_days": config.inactive_days,
            "excluded_fields": config.excluded_keys,
            "min_labelled": MIN_LABELLED,
            "min_per_class": MIN_PER_CLASS,
        },
        n_labelled=result.n_labelled,
        n_positive=result.n_positive,
        n_train=int(evaluation.get("n_train") or 0),
        n_test=int(evaluation.get("n_test") or 0),
        positive_rate=round(result.n_positive / result.n_labelled, 4) if result.n_labelled else None,
        estimator=estimator_dump(result.model),
        library_version=f"scikit-learn {sklearn.__version__}",
        trained_by_id=trained_by_id,
        trigger=trigger,
    )
    PredictiveModelVersion.objects.filter(is_current=True).update(is_current=False)
    PredictiveModelVersion.objects.filter(pk=version.pk).update(is_current=True)
    version.is_current = True
    scoring_started = time.perf_counter()
    scored = predictions_write(version=version, model=result.model, frame=frame)
    result.seconds["score"] = time.perf_counter() - scoring_started
    result.seconds["total"] = time.perf_counter() - started
    version.leads_scored = scored
    version.training_seconds = round(result.seconds["total"], 2)
    version.metrics = {**result.metrics, "seconds": {k: round(v, 2) for k, v in result.seconds.items()}}
    version.save(update_fields=["leads_scored", "training_seconds", "metrics"])
    return version


# --- predictions ------------------------------------------------------------------------------------


def predictions_write(
    *, version: PredictiveModelVersion, model: TrainedModel, frame: LeadFrame, rows: np.ndarray | None = None
) -> int:
    """Score `rows` of the frame (all by default) and upsert one prediction per lead, in chunks: one
    INSERT ... ON CONFLICT DO UPDATE statement per chunk."""
    rows = np.arange(len(frame)) if rows is None else rows
    now = timezone.now()
    written = 0
    for start in range(0, len(rows), SCORE_CHUNK):
        chunk = rows[start : start + SCORE_CHUNK]
        probability, factors = model.factors(frame, chunk, model.matrix(frame, chunk))
        if connection.vendor == "postgresql":
            written += _predictions_upsert_pg(version, frame.lead_ids[chunk], probability, factors, now)
            continue
        objects = [
            LeadPrediction(
                lead_id=int(frame.lead_ids[row]),
                version=version,
                probability=float(p),
                factors=f,
                scored_at=now,
            )
            for row, p, f in zip(chunk, probability, factors, strict=True)
        ]
        LeadPrediction.objects.bulk_create(
            objects,
            update_conflicts=True,
            unique_fields=["organization", "lead"],
            update_fields=["version", "probability", "factors", "scored_at"],
            batch_size=SCORE_CHUNK,
        )
        written += len(objects)
    return written


PREDICTIONS_UPSERT_SQL = f"""
    INSERT INTO {LeadPrediction._meta.db_table}
        (organization_id, lead_id, version_id, probability, factors, scored_at)
    SELECT %s, r.lead_id, %s, r.probability, r.factors, %s
    FROM jsonb_to_recordset(%s::jsonb) AS r(lead_id bigint, probability double precision, factors jsonb)
    ON CONFLICT (organization_id, lead_id) DO UPDATE SET
        version_id = EXCLUDED.version_id, probability = EXCLUDED.probability,
        factors = EXCLUDED.factors, scored_at = EXCLUDED.scored_at"""


def _predictions_upsert_pg(
    version: PredictiveModelVersion,
    lead_ids: np.ndarray,
    probability: np.ndarray,
    factors: list[dict[str, Any]],
    now: Any,
) -> int:
    """The chunk as one JSON document unpacked by jsonb_to_recordset: one statement and four parameters,
    instead of six bound parameters a row."""
    document = json.dumps(
        [
            {"lead_id": int(lead), "probability": float(p), "factors": f}
            for lead, p, f in zip(lead_ids, probability, factors, strict=True)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(PREDICTIONS_UPSERT_SQL, [version.organization_id, version.pk, now, document])
        return cursor.rowcount


_loaded: dict[tuple[int, int, str], TrainedModel] = {}


def version_model(version: PredictiveModelVersion) -> TrainedModel | None:
    """The fitted model of a version (cached per process: versions never change once stored), or None
    when its bytes cannot be read (stored by an incompatible library version, or damaged)."""
    # The creation time too: a database restored or rolled back may hand out an id again.
    key = (version.organization_id, version.pk, version.created_at.isoformat())
    if key not in _loaded:
        raw = version.estimator
        if raw is None:
            version.refresh_from_db(fields=["estimator"])
            raw = version.estimator
        try:
            model = joblib.load(io.BytesIO(bytes(raw)))
        except Exception:
            logger.warning("Predictive model version %s cannot be loaded; retrain it", version.pk)
            return None
        if not isinstance(model, TrainedModel):
            return None
        if len(_loaded) > 32:
            _loaded.clear()
        _loaded[key] = model
    return _loaded[key]


def current_version() -> PredictiveModelVersion | None:
    return PredictiveModelVersion.objects.filter(is_current=True).defer("estimator").first()


def predictions_score_leads(*, lead_ids: Sequence[int]) -> int:
    """Rescore some leads with the current model (a lead captured, touched or changed)."""
    version = current_version()
    if version is None or not lead_ids:
        return 0
    model = version_model(version)
    if model is None:
        return 0
    inactive_days = int(version.settings_used.get("inactive_days", predictive_config_get().inactive_days))
    existing = list(Lead.objects.filter(pk__in=list(lead_ids)).values_list("pk", flat=True))
    if not existing:
        return 0
    frame = lead_frame_extract(inactive_days=inactive_days, lead_ids=existing, required=model.keys)
    return predictions_write(version=version, model=model, frame=frame)


def predictions_score_contact(*, contact_id: int) -> int:
    """Rescore a contact's leads (its fit or custom fields changed)."""
    return predictions_score_leads(
        lead_ids=list(Lead.objects.filter(contact_id=contact_id).values_list("pk", flat=True))
    )


def predictions_score_all() -> int:
    """Rescore every lead with the current model (after an import)."""
    version = current_version()
    if version is None:
        return 0
    model = version_model(version)
    if model is None:
        return 0
    inactive_days = int(version.settings_used.get("inactive_days", predictive_config_get().inactive_days))
    frame = lead_frame_extract(inactive_days=inactive_days, required=model.keys)
    return predictions_write(version=version, model=model, frame=frame)


def retrain_due(*, now: Any = None) -> bool:
    """Whether the schedule asks for a new version now: the organization has a model (the first one is
    trained on demand, when someone decides the history is worth it), retraining is on, no run is under
    way, and the last run is older than the configured interval."""
    config = predictive_config_get()
    if config.retrain_every_days == 0 or training_run_active() is not None:
        return False
    if not PredictiveModelVersion.objects.filter(is_current=True).exists():
        return False
    now = now or timezone.now()
    last = PredictiveTrainingRun.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    return last is None or now - last >= timedelta(days=config.retrain_every_days)
