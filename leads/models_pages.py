"""Hosted landing pages and their A/B(/n) experiments.

A page has one or more variants; each variant is its own ordered list of blocks. The first variant is
the control. A visitor is assigned to one variant per page, once, and keeps it (`PageVisitor`, one row
per visitor and page: the unit the statistics count). Rows are written by the visitor's own requests
only, so counting never contends on a shared counter row.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadhub.tenancy.models import TenantModel

__all__ = ["Block", "BlockType", "LandingPage", "PageStatus", "PageVisitor", "Variant"]


def _salt() -> str:
    return secrets.token_hex(8)


class PageStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class BlockType(models.TextChoices):
    HEADLINE = "headline", "Headline"
    TEXT = "text", "Value proposition"
    TESTIMONIALS = "testimonials", "Testimonials"
    IMAGE = "image", "Image"
    FORM = "form", "Form"
    CTA = "cta", "Call to action"


class LandingPage(TenantModel):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80)
    status = models.CharField(max_length=10, choices=PageStatus.choices, default=PageStatus.DRAFT)
    seo_title = models.CharField(max_length=70, blank=True)
    seo_description = models.CharField(max_length=160, blank=True)
    # Hashing salt of the current experiment: a new experiment reshuffles who sees what.
    experiment_salt = models.CharField(max_length=32, default=_salt)
    experiment_started_at = models.DateTimeField(null=True, blank=True)
    experiment_stopped_at = models.DateTimeField(null=True, blank=True)
    # The smallest relative lift worth detecting, and the rate assumed for the control until it has data.
    minimum_effect = models.FloatField(default=0.2)
    expected_rate = models.FloatField(default=0.05)
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="leads_landingpage_org_id_uniq"),
            models.UniqueConstraint(fields=["organization", "slug"], name="landingpage_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_published(self) -> bool:
        return self.status == PageStatus.PUBLISHED


class Variant(TenantModel):
    page = models.ForeignKey(LandingPage, on_delete=models.CASCADE, related_name="variants", db_index=False)
    name = models.CharField(max_length=60)
    is_control = models.BooleanField(default=False)
    # Relative traffic share among the page's active variants (0 pauses a variant).
    weight = models.PositiveSmallIntegerField(default=50)
    # Stopped variants keep their blocks and figures for the results, but are no longer served.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-is_control", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="leads_variant_org_id_uniq"),
            models.UniqueConstraint(
                fields=["organization", "page"],
                condition=models.Q(is_control=True),
                name="variant_one_control_per_page",
            ),
        ]
        indexes = [models.Index(fields=["organization", "page", "id"], name="variant_org_page")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.archived_at is None


class Block(TenantModel):
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="blocks", db_index=False)
    type = models.CharField(max_length=20, choices=BlockType.choices)
    position = models.PositiveIntegerField(default=0)
    # Validated per type by leads.landing.blocks; plain text only, escaped when rendered.
    content = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["organization", "variant", "position"], name="block_org_variant")]

    def __str__(self) -> str:
        return f"{self.get_type_display()} #{self.pk}"


class PageVisitor(TenantModel):
    """One visitor of one page: the variant they were assigned, their views (at most one per day) and
    whether they converted (once). Results are counted from these rows."""

    page = models.ForeignKey(LandingPage, on_delete=models.CASCADE, related_name="visitors", db_index=False)
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="visitors", db_index=False)
    visitor_id = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_view_day = models.DateField(default=timezone.localdate)
    views = models.PositiveIntegerField(default=1)
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "page", "visitor_id"], name="pagevisitor_unique_visitor"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "variant", "converted_at"], name="pagevisitor_org_variant"),
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id} on {self.variant_id}"
