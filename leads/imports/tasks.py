"""The import's background task: ids in, the service does the rest (it sets the tenant per chunk)."""

from __future__ import annotations

import logging

from celery import shared_task

from leads.imports.services import import_job_run

logger = logging.getLogger(__name__)

# Long files take minutes; the broker's visibility timeout (an hour) stays above the hard limit, and a
# redelivered task resumes after the last committed chunk.
IMPORT_TIME_LIMIT = 3000


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=IMPORT_TIME_LIMIT,
    soft_time_limit=IMPORT_TIME_LIMIT - 60,
)
def import_run_task(organization_id: int, job_id: int) -> int:
    try:
        job = import_job_run(job_id=job_id, organization_id=organization_id)
    except Exception:
        # The job is marked failed with the reason, which the dashboard shows; retrying would fail alike.
        logger.exception("Import %s of organization %s failed", job_id, organization_id)
        return -1
    return job.processed_rows
