"""Assignment rules: how a lead handed to sales finds its rep.

Rules are evaluated in `position` order; the first active rule whose conditions match the lead and that
yields an available rep wins. A rule's `kind` says how it picks the rep:

- territory      the lead's country/region/industry/size/grade/stage match; the target user, or the target
                 team's next member in round-robin order.
- account_owner  a contact of a company that already has an owner goes to that owner (another current lead
                 of the company with an owner, or an accepted handoff of the company).
- round_robin    the target team's active member served longest ago (TeamMember.last_assigned_at).
- capacity       the target team's active member with the fewest open handoffs, never above
                 TeamMember.max_open_leads.

No rule matched: the lead waits in the fallback queue (Handoff.assigned_to empty) for a manager.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone as tz

from conversion.models.core import SalesTeam
from leadhub.tenancy.models import TenantModel


class RuleKind(models.TextChoices):
    TERRITORY = "territory", "Territory"
    ACCOUNT_OWNER = "account_owner", "Account owner"
    ROUND_ROBIN = "round_robin", "Round robin"
    CAPACITY = "capacity", "Capacity"


# Regions a territory may name instead of listing countries. Countries are stored as typed (names or
# ISO codes), so each region lists both; matching ignores case.
REGIONS: dict[str, tuple[str, frozenset[str]]] = {
    "dach": ("DACH", frozenset({"germany", "austria", "switzerland", "de", "at", "ch"})),
    "nordics": (
        "Nordics",
        frozenset({"sweden", "norway", "denmark", "finland", "iceland", "se", "no", "dk", "fi", "is"}),
    ),
    "benelux": (
        "Benelux",
        frozenset({"belgium", "netherlands", "luxembourg", "be", "nl", "lu"}),
    ),
    "uk_ireland": (
        "UK & Ireland",
        frozenset({"united kingdom", "uk", "gb", "great britain", "england", "ireland", "ie"}),
    ),
    "southern_europe": (
        "Southern Europe",
        frozenset({"france", "spain", "italy", "portugal", "greece", "fr", "es", "it", "pt", "gr"}),
    ),
    "north_america": (
        "North America",
        frozenset({"united states", "usa", "us", "canada", "ca", "mexico", "mx"}),
    ),
    "latam": (
        "Latin America",
        frozenset({"brazil", "argentina", "chile", "colombia", "peru", "br", "ar", "cl", "co", "pe"}),
    ),
    "apac": (
        "Asia-Pacific",
        frozenset(
            {
                "australia",
                "new zealand",
                "japan",
                "singapore",
                "india",
                "china",
                "south korea",
                "au",
                "nz",
                "jp",
                "sg",
                "in",
                "cn",
                "kr",
            }
        ),
    ),
}


class AssignmentRule(TenantModel):
    name = models.CharField(max_length=100)
    # Evaluated in ascending position (ties by id); the editor renumbers on reorder.
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    kind = models.CharField(max_length=20, choices=RuleKind.choices, default=RuleKind.ROUND_ROBIN)
    # Validated by conversion.queue.assignment.conditions_clean: countries, regions, industries,
    # size_min, size_max, grades, stages. An empty object matches every lead.
    conditions = models.JSONField(default=dict, blank=True)
    team = models.ForeignKey(
        SalesTeam, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=tz.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "id"], name="conversion_assignmentrule_org_id_uniq"
            ),
        ]
        indexes = [models.Index(fields=["organization", "position", "id"], name="assignrule_org_position")]

    def __str__(self) -> str:
        return f"{self.get_kind_display().lower()}: {self.name}"
