"""The beat schedule, run in a thread of the web process when there is no broker (the quick start).

With `REDIS_URL` set, `celery beat` does this job; this runner exists so that `make run` on a bare
machine still decays scores, sweeps the outbox and fires timers on time.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from celery.schedules import BaseSchedule
from celery.schedules import schedule as celery_schedule
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from leadhub.celery import app

logger = logging.getLogger(__name__)


class InProcessBeat(threading.Thread):
    def __init__(self, tick_seconds: float = 5.0) -> None:
        super().__init__(name="leadhub-beat", daemon=True)
        self.tick_seconds = tick_seconds
        self.stopped = threading.Event()
        self.last_run: dict[str, datetime] = {}
        # Celery imports the apps' tasks.py modules only when a worker or beat starts; here, this thread is
        # both, so without this the schedule's tasks (leadhub.tasks.*) would not be registered.
        app.loader.import_default_modules()

    def run(self) -> None:
        logger.info("In-process scheduler started with %d entries", len(settings.CELERY_BEAT_SCHEDULE))
        while not self.stopped.wait(self.tick_seconds):
            self.tick()

    def tick(self) -> list[str]:
        ran: list[str] = []
        now = timezone.now()
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            sched = entry["schedule"]
            # crontab is a BaseSchedule but not a `schedule`: only plain intervals need wrapping.
            if not isinstance(sched, BaseSchedule):
                sched = celery_schedule(sched)
            last = self.last_run.setdefault(name, now)
            due, _ = sched.is_due(last)
            if not due:
                continue
            self.last_run[name] = now
            try:
                app.tasks[entry["task"]].apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}))
                ran.append(name)
            except Exception:
                logger.exception("Scheduled task %s failed", name)
            finally:
                close_old_connections()
        return ran

    def stop(self) -> None:
        self.stopped.set()
