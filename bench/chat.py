"""The qualification chat's answer path, in process: how long a visitor waits for the next question.

    DATABASE_URL=postgres://leadhub_app@127.0.0.1:5432/leadhub_chat REDIS_URL=redis://127.0.0.1:6379/7 \\
        python -m bench.chat [--conversations 100]

Migrates the database it is given, sets up (idempotently) an organization `chat-bench` with the nine
question flow of the tests, then runs `--conversations` whole conversations through Django's test client
as the widget sends them (start, nine answers, the meeting request), each a new visitor and email. The
answer that carries the email is measured apart: it captures the lead, records the chat touchpoint and
stitches the visitor. Baseline of the same run: the widget's read of the flow (`GET /embed/chat/<key>/`,
no write). Prints one JSON object per line: median and p95 latency of each step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from typing import Any

BENCH = "chat"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra}),
        flush=True,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    os.environ.setdefault("LEADHUB_DEMO", "1")
    os.environ.setdefault("LEADHUB_CHAT_RATE_PER_IP_PER_MINUTE", "1000000")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from leadhub.tenancy.context import tenant_context
    from leadhub.tenancy.models import Organization
    from scoring.models_chat import ChatFlow

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    organization, _ = Organization.objects.get_or_create(slug="chat-bench", defaults={"name": "Chat bench"})
    with tenant_context(organization):
        flow = ChatFlow.objects.filter(name="Pricing chat").first()
    if flow is None:
        sys.path.insert(0, os.getcwd())
        from tests.scoring.chat_fixtures import build_flow

        flow = build_flow(organization)
    from tests.scoring.chat_fixtures import QUALIFIED_ANSWERS

    client = Client(HTTP_ORIGIN="https://www.customer.example")
    base = f"/embed/chat/{flow.public_key}/"
    day = timezone.localdate() + dt.timedelta(days=3)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    timings: dict[str, list[float]] = {
        "read_flow": [],
        "start": [],
        "answer": [],
        "answer_email": [],
        "meeting": [],
    }

    def timed(step: str, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        began = time.perf_counter()
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data=json.dumps(body or {}), content_type="application/json")
        timings[step].append((time.perf_counter() - began) * 1000)
        if response.status_code >= 300:
            raise SystemExit(f"{step}: {response.status_code} {response.content[:300]!r}")
        return response.json()

    for _ in range(args.conversations):
        timed("read_flow", "GET", base)
        token = timed("start", "POST", base + "conversations/", {"visitor_id": uuid.uuid4().hex})[
            "conversation"
        ]
        for key, value in QUALIFIED_ANSWERS:
            if key == "email":
                value = f"{uuid.uuid4().hex[:12]}@bench.example"
            timed(
                "answer_email" if key == "email" else "answer",
                "POST",
                f"{base}conversations/{token}/answers/",
                {"question": key, "value": value, "consent": True},
            )
        timed(
            "meeting",
            "POST",
            f"{base}conversations/{token}/meeting/",
            {"day": day.isoformat(), "slot": "morning"},
        )
    for step, values in timings.items():
        extra = {"database": connection.vendor, "requests": len(values)}
        emit(f"{step}_p50", percentile(values, 0.5), "ms", **extra)
        emit(f"{step}_p95", percentile(values, 0.95), "ms", **extra)


if __name__ == "__main__":
    main()
