"""`python manage.py predictive_train --organization SLUG [--evaluate] [--split random|time]`

Trains the organization's predictive model in this process (a training run like the dashboard's, so the
page shows it), makes it the current version and scores every lead. With `--evaluate` it prints one JSON
object: the held-out evaluation of the chosen split (roc_auc, log_loss, brier, n_train, n_test,
positive_rate, calibration, lift) with the version, training time and excluded fields. With too little
labelled history it trains nothing, says why on stderr and exits with status 1.

`--exclude FIELD` (repeatable) adds a field to the organization's excluded fields before training, with
`--reason` as the reason shown to users; field keys are listed on the predictive model page
(`cf.<key>` for contact custom fields).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import Organization
from leadhub.tenancy.services import Actor
from scoring.models_predictive import PredictiveModelVersion, RunStatus, RunTrigger
from scoring.predictive.services import (
    TrainingAlreadyRunning,
    predictive_config_get,
    predictive_config_update,
    predictive_train_now,
)


class Command(BaseCommand):
    help = "Train an organization's predictive model; --evaluate prints its held-out evaluation as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="The organization's slug.")
        parser.add_argument(
            "--evaluate", action="store_true", help="Print the evaluation as one JSON object."
        )
        parser.add_argument(
            "--split",
            choices=("random", "time"),
            default="random",
            help="Held-out split to report: random (stratified) or time (newest leads by created_at, id).",
        )
        parser.add_argument(
            "--exclude", action="append", default=[], metavar="FIELD", help="Exclude a field before training."
        )
        parser.add_argument("--reason", default="", help="Why the --exclude fields are excluded.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug '{options['organization']}'.")
        actor = Actor.system("predictive_train command")
        if options["exclude"]:
            with tenant_context(organization):
                config = predictive_config_get()
                wanted = [*config.excluded_fields]
                known = set(config.excluded_keys)
                wanted += [
                    {"field": key, "reason": options["reason"]}
                    for key in options["exclude"]
                    if key not in known
                ]
                try:
                    predictive_config_update(actor=actor, excluded_fields=wanted)
                except ValidationError as exc:
                    raise CommandError(
                        "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                    ) from None
        try:
            run = predictive_train_now(organization=organization, actor=actor, trigger=RunTrigger.COMMAND)
        except TrainingAlreadyRunning as exc:
            raise CommandError(f"{exc} Wait for it to finish.") from None
        if run.status != RunStatus.DONE or run.version_id is None:
            raise CommandError(run.message or f"Training stopped: {run.get_status_display()}.")
        with tenant_context(organization):
            version = PredictiveModelVersion.objects.defer("estimator").get(pk=run.version_id)
        evaluation = version.evaluation(options["split"])
        if options["evaluate"]:
            self.stdout.write(json.dumps(evaluation_summary(version, options["split"], organization.slug)))
            return
        auc = evaluation.get("roc_auc")
        self.stdout.write(
            f"Version {version.number} of {organization.slug} trained on {version.n_labelled:,} leads with a "
            f"known outcome in {version.training_seconds:.1f} s and scored {version.leads_scored:,} leads; "
            f"ROC AUC {auc if auc is not None else 'n/a'} on the held-out {options['split']} split."
        )
        for item in version.excluded:
            if item.get("source") != "data":
                self.stdout.write(f"  excluded {item.get('field')}: {item.get('reason')}")


def evaluation_summary(version: PredictiveModelVersion, split: str, slug: str) -> dict[str, Any]:
    evaluation = version.evaluation(split)
    other = "time" if split == "random" else "random"
    return {
        "organization": slug,
        "version": version.number,
        "split": split,
        "roc_auc": evaluation.get("roc_auc"),
        "log_loss": evaluation.get("log_loss"),
        "brier": evaluation.get("brier"),
        "n_train": evaluation.get("n_train"),
        "n_test": evaluation.get("n_test"),
        "positive_rate": evaluation.get("positive_rate"),
        "positive_rate_train": evaluation.get("positive_rate_train"),
        "mean_predicted": evaluation.get("mean_predicted"),
        "n_labelled": version.n_labelled,
        "n_positive": version.n_positive,
        "n_features": len(version.features),
        "training_seconds": version.training_seconds,
        "seconds": version.metrics.get("seconds", {}),
        "leads_scored": version.leads_scored,
        "algorithm": version.algorithm,
        "excluded": [
            {"field": e.get("field"), "source": e.get("source"), "reason": e.get("reason")}
            for e in version.excluded
        ],
        "calibration": evaluation.get("calibration", []),
        "lift": evaluation.get("lift", []),
        "note": evaluation.get("note", ""),
        other: {
            key: version.evaluation(other).get(key)
            for key in ("roc_auc", "log_loss", "brier", "n_train", "n_test", "positive_rate")
        },
    }
