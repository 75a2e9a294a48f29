"""The Celery application.

With `REDIS_URL` set, tasks go through Redis to `celery worker`; without it they run in-process
(eager), and `manage.py serve` runs the beat schedule in a thread, so the quick start needs no broker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")

app = Celery("leadhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["leadhub", "leads", "scoring", "nurturing", "conversion", "analytics"])
