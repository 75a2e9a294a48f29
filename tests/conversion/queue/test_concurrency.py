"""Round robin under concurrency (PostgreSQL): handoffs racing for the same team lock the team's member
rows, so they are served one after the other and never land on the same rep by accident."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from conversion.queue import services
from tests.conversion.queue.conftest import member, mql, rule, team_with

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_concurrent_handoffs_go_to_different_reps(org: Any, in_org: Any) -> None:
    reps = [member(org, f"rep{i}@acme.example") for i in range(4)]
    with in_org():
        team = team_with("EMEA", *reps)
        rule("EMEA", "round_robin", team=team)
        leads = [mql().pk for _ in range(4)]
    barrier = threading.Barrier(len(leads))
    chosen: list[int | None] = []
    errors: list[BaseException] = []

    def hand_off(lead_id: int) -> None:
        try:
            barrier.wait()
            with in_org():
                handoff = services.handoff_assign(lead_id=lead_id)
                chosen.append(handoff.assigned_to_id if handoff else None)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hand_off, args=(lead_id,)) for lead_id in leads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(chosen) == sorted(r.pk for r in reps)
