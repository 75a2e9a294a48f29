"""Every write of qualification. Each public function is one unit of work in one transaction, with errors
that name the field. The package splits them by subject; import from here."""

from scoring.services.lifecycle import Move, lifecycle_apply, lifecycle_moves
from scoring.services.rules import grade_thresholds_clean, rule_clean
from scoring.services.scores import (
    Rescored,
    bant_answer_record,
    contact_leads,
    decay_job_start,
    leads_rescore,
    recompute_job_create,
    recompute_job_run,
    score_adjust,
)
from scoring.services.versions import (
    lifecycle_policy_get,
    lifecycle_policy_update,
    live_version,
    rule_create,
    rule_delete,
    rule_update,
    scoring_model_create,
    scoring_model_delete,
    scoring_model_update,
    version_create,
    version_delete,
    version_publish,
    version_update,
)

__all__ = [
    "Move",
    "Rescored",
    "bant_answer_record",
    "contact_leads",
    "decay_job_start",
    "grade_thresholds_clean",
    "leads_rescore",
    "lifecycle_apply",
    "lifecycle_moves",
    "lifecycle_policy_get",
    "lifecycle_policy_update",
    "live_version",
    "recompute_job_create",
    "recompute_job_run",
    "rule_clean",
    "rule_create",
    "rule_delete",
    "rule_update",
    "score_adjust",
    "scoring_model_create",
    "scoring_model_delete",
    "scoring_model_update",
    "version_create",
    "version_delete",
    "version_publish",
    "version_update",
]
