"""Every write of landing pages and experiments. Each public function is one unit of work (one
transaction), validates with messages naming the field, and audits what changes what the public sees
(publishing, stopping an experiment, deleting)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.text import slugify

from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.models import PublicKey, PublicKeyKind
from leadhub.tenancy.services import Actor, audit_record
from leads.landing.blocks import DEFAULT_CONTENT, content_clean, content_problems
from leads.models import Touchpoint, TouchpointType
from leads.models_pages import Block, BlockType, LandingPage, PageStatus, PageVisitor, Variant

VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
VARIANT_NAMES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_VARIANTS = 6
MAX_BLOCKS = 40
RESERVED_SLUGS = frozenset({"convert", "static", "embed"})
PAGE_FIELDS = ("name", "slug", "seo_title", "seo_description", "minimum_effect", "expected_rate")
# The hidden fields a form on a landing page submits (the forms part copies them into the touchpoint).
VARIANT_FIELD = "lh_variant"
PAGE_FIELD = "lh_page"
VISITOR_FIELD = "lh_vid"


def visitor_id_new() -> str:
    return secrets.token_urlsafe(16)


def visitor_id_valid(value: str | None) -> bool:
    return bool(value) and bool(VISITOR_ID.match(value or ""))


# --- pages -------------------------------------------------------------------------------------------


def _page_apply(page: LandingPage, data: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for field in ("name", "seo_title", "seo_description"):
        if field in data:
            setattr(page, field, " ".join(str(data[field] or "").split()))
    if "slug" in data:
        page.slug = slugify(str(data["slug"] or "")) if data["slug"] else slugify(page.name)
    if not page.name:
        errors["name"] = ["A page needs a name."]
    if not page.slug:
        errors["slug"] = ["The address needs letters or digits."]
    elif page.slug in RESERVED_SLUGS:
        errors["slug"] = [f"“{page.slug}” is reserved; choose another address."]
    elif LandingPage.objects.filter(slug=page.slug).exclude(pk=page.pk).exists():
        errors["slug"] = [f"Another page already uses the address “{page.slug}”."]
    for field, low, high, label in (
        ("minimum_effect", 0.01, 5.0, "The minimum detectable effect"),
        ("expected_rate", 0.001, 0.9, "The expected conversion rate"),
    ):
        if field in data:
            try:
                value = float(data[field])
            except (TypeError, ValueError):
                errors[field] = [f"{label} must be a number."]
                continue
            if not low <= value <= high:
                errors[field] = [f"{label} must be between {low:.0%} and {high:.0%}."]
            setattr(page, field, value)
    for field, limit in (("name", 120), ("slug", 80), ("seo_title", 70), ("seo_description", 160)):
        if len(getattr(page, field)) > limit and field not in errors:
            errors[field] = [f"At most {limit} characters."]
    if errors:
        raise ValidationError(errors)


def page_create(*, name: str, slug: str = "", actor: Actor) -> LandingPage:
    """A draft page with a control variant holding a starter set of blocks to edit."""
    page = LandingPage(created_by=actor.user)
    _page_apply(page, {"name": name, "slug": slug or name})
    with transaction.atomic():
        page.save()
        control = Variant.objects.create(page=page, name="A", is_control=True, weight=50)
        starters = (BlockType.HEADLINE, BlockType.TEXT, BlockType.CTA)
        Block.objects.bulk_create(
            Block(variant=control, type=t, position=i, content=dict(DEFAULT_CONTENT[t]))
            for i, t in enumerate(starters)
        )
        audit_record(actor=actor, action="landing_page.created", target=page, changes={"slug": page.slug})
    return page


def page_update(*, page: LandingPage, data: Mapping[str, Any], actor: Actor) -> LandingPage:
    before = {field: getattr(page, field) for field in PAGE_FIELDS}
    _page_apply(page, {k: v for k, v in data.items() if k in PAGE_FIELDS})
    changes = {f: [before[f], getattr(page, f)] for f in PAGE_FIELDS if before[f] != getattr(page, f)}
    with transaction.atomic():
        page.save()
        if changes:
            audit_record(actor=actor, action="landing_page.updated", target=page, changes=changes)
    return page


def page_problems(*, page: LandingPage) -> list[str]:
    """What stops the page from being published, in words for the editor."""
    problems: list[str] = []
    for variant in active_variants(page):
        blocks = list(variant.blocks.all())
        if not blocks:
            problems.append(f"Variant {variant.name} has no blocks.")
        for index, block in enumerate(blocks, start=1):
            found = content_problems(block.type, block.content)
            problems += [
                f"Variant {variant.name}, block {index} ({block.get_type_display()}): {p}" for p in found
            ]
            if block.type == BlockType.FORM and not found and not _form_key_known(block.content["form_key"]):
                problems.append(
                    f"Variant {variant.name}, block {index} (Form): no form of this organization has "
                    f"the key {block.content['form_key']}."
                )
    return problems


def _form_key_known(key: str) -> bool:
    # PublicKey sits outside row-level security (it is read before a tenant is known): filter by hand.
    return PublicKey.objects.filter(
        organization_id=current_organization_id(), kind=PublicKeyKind.FORM, key=key, revoked_at__isnull=True
    ).exists()


def page_publish(*, page: LandingPage, actor: Actor) -> LandingPage:
    problems = page_problems(page=page)
    if problems:
        raise ValidationError({"status": problems})
    with transaction.atomic():
        page.status = PageStatus.PUBLISHED
        page.published_at = timezone.now()
        page.save(update_fields=["status", "published_at", "updated_at"])
        audit_record(actor=actor, action="landing_page.published", target=page, changes={"slug": page.slug})
    return page


def page_unpublish(*, page: LandingPage, actor: Actor) -> LandingPage:
    with transaction.atomic():
        page.status = PageStatus.DRAFT
        page.save(update_fields=["status", "updated_at"])
        audit_record(actor=actor, action="landing_page.unpublished", target=page)
    return page


def page_delete(*, page: LandingPage, actor: Actor) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="landing_page.deleted", target=page, changes={"slug": page.slug})
        page.delete()


# --- blocks ------------------------------------------------------------------------------------------


def _touch(variant: Variant) -> None:
    LandingPage.objects.filter(pk=variant.page_id).update(updated_at=timezone.now())


def _editable(variant: Variant) -> None:
    if not variant.is_active:
        raise ValidationError(
            {"variant": [f"Variant {variant.name} is stopped; its blocks are kept as they ran."]}
        )


def block_add(*, variant: Variant, block_type: str, actor: Actor) -> Block:
    _editable(variant)
    if block_type not in BlockType.values:
        raise ValidationError({"type": [f"Unknown block type “{block_type}”."]})
    with transaction.atomic():
        blocks = Block.objects.select_for_update().filter(variant=variant)
        if blocks.count() >= MAX_BLOCKS:
            raise ValidationError({"type": [f"A variant holds at most {MAX_BLOCKS} blocks."]})
        last = blocks.aggregate(last=Max("position"))["last"]
        block = Block.objects.create(
            variant=variant,
            type=block_type,
            position=0 if last is None else last + 1,
            content=dict(DEFAULT_CONTENT[block_type]),
        )
        _touch(variant)
    return block


def block_update(*, block: Block, content: Mapping[str, Any], actor: Actor) -> Block:
    _editable(block.variant)
    cleaned = content_clean(block.type, content)
    if block.type == BlockType.FORM and not _form_key_known(cleaned["form_key"]):
        raise ValidationError({"form_key": ["No form of your organization has this key."]})
    with transaction.atomic():
        block.content = cleaned
        block.save(update_fields=["content", "updated_at"])
        _touch(block.variant)
    return block


def block_delete(*, block: Block, actor: Actor) -> None:
    _editable(block.variant)
    with transaction.atomic():
        block.delete()
        _touch(block.variant)


def block_move(*, block: Block, offset: int, actor: Actor) -> list[Block]:
    """Move a block up (-1) or down (+1) among its variant's blocks; returns them in the new order."""
    _editable(block.variant)
    with transaction.atomic():
        blocks = list(
            Block.objects.select_for_update().filter(variant_id=block.variant_id).order_by("position", "id")
        )
        index = next(i for i, b in enumerate(blocks) if b.pk == block.pk)
        target = min(max(index + offset, 0), len(blocks) - 1)
        blocks.insert(target, blocks.pop(index))
        for position, item in enumerate(blocks):
            item.position = position
        Block.objects.bulk_update(blocks, ["position"])
        _touch(block.variant)
    return blocks


# --- variants and the experiment ---------------------------------------------------------------------


def active_variants(page: LandingPage) -> list[Variant]:
    return list(Variant.objects.filter(page=page, archived_at__isnull=True).order_by("-is_control", "id"))


def _control(page: LandingPage) -> Variant:
    return Variant.objects.get(page=page, is_control=True)


def variant_create(*, page: LandingPage, actor: Actor, name: str = "") -> Variant:
    """A new variant holding a copy of the control's blocks. The second active variant starts an
    experiment: a fresh assignment salt and a start time from which visitors are counted."""
    with transaction.atomic():
        LandingPage.objects.select_for_update().filter(pk=page.pk).first()
        active = active_variants(page)
        if len(active) >= MAX_VARIANTS:
            raise ValidationError({"variant": [f"A page runs at most {MAX_VARIANTS} variants at a time."]})
        used = set(Variant.objects.filter(page=page).values_list("name", flat=True))
        name = " ".join(name.split())[:60] or next(
            (n for n in VARIANT_NAMES if n not in used), f"V{len(used) + 1}"
        )
        if name in used:
            raise ValidationError({"name": [f"This page already has a variant named “{name}”."]})
        control = _control(page)
        variant = Variant.objects.create(page=page, name=name, weight=control.weight or 50)
        Block.objects.bulk_create(
            Block(variant=variant, type=b.type, position=b.position, content=b.content)
            for b in control.blocks.all()
        )
        if len(active) == 1:
            now = timezone.now()
            page.experiment_salt = secrets.token_hex(8)
            page.experiment_started_at = now
            page.experiment_stopped_at = None
            page.save(
                update_fields=[
                    "experiment_salt",
                    "experiment_started_at",
                    "experiment_stopped_at",
                    "updated_at",
                ]
            )
            audit_record(actor=actor, action="experiment.started", target=page, changes={"variant": name})
        else:
            _touch(variant)
    return variant


def variant_update(*, variant: Variant, data: Mapping[str, Any], actor: Actor) -> Variant:
    _editable(variant)
    errors: dict[str, list[str]] = {}
    if "name" in data:
        name = " ".join(str(data["name"] or "").split())
        if not name:
            errors["name"] = ["A variant needs a name."]
        elif len(name) > 60:
            errors["name"] = ["At most 60 characters."]
        elif Variant.objects.filter(page_id=variant.page_id, name=name).exclude(pk=variant.pk).exists():
            errors["name"] = [f"This page already has a variant named “{name}”."]
        else:
            variant.name = name
    if "weight" in data:
        try:
            weight = int(data["weight"])
        except (TypeError, ValueError):
            errors["weight"] = ["The traffic weight must be a whole number."]
        else:
            if not 0 <= weight <= 100:
                errors["weight"] = ["The traffic weight is between 0 and 100."]
            variant.weight = weight
    if not errors and "weight" in data:
        others = Variant.objects.filter(page_id=variant.page_id, archived_at__isnull=True).exclude(
            pk=variant.pk
        )
        if variant.weight == 0 and not others.filter(weight__gt=0).exists():
            errors["weight"] = ["At least one variant must receive traffic."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        variant.save(update_fields=["name", "weight"])
        _touch(variant)
    return variant


def variant_archive(*, variant: Variant, actor: Actor) -> Variant:
    """Take a variant out of the experiment; its figures stay in the results."""
    _editable(variant)
    if variant.is_control:
        raise ValidationError(
            {"variant": ["The control cannot be removed; promote another variant instead."]}
        )
    with transaction.atomic():
        variant.archived_at = timezone.now()
        variant.save(update_fields=["archived_at"])
        page = variant.page
        if len(active_variants(page)) == 1:
            page.experiment_stopped_at = variant.archived_at
        page.save(update_fields=["experiment_stopped_at", "updated_at"])
        audit_record(
            actor=actor, action="experiment.variant_removed", target=page, changes={"variant": variant.name}
        )
    return variant


def experiment_stop(*, page: LandingPage, actor: Actor, promote: Variant | None = None) -> LandingPage:
    """End the experiment: `promote` (or the control) becomes the page everyone sees; the other
    variants stop, keeping their blocks and figures."""
    if promote is not None and (promote.page_id != page.pk or not promote.is_active):
        raise ValidationError({"promote": ["Choose one of this page's running variants."]})
    with transaction.atomic():
        now = timezone.now()
        control = _control(page)
        winner = promote or control
        if winner.pk != control.pk:
            Variant.objects.filter(pk=control.pk).update(is_control=False)
            Variant.objects.filter(pk=winner.pk).update(is_control=True)
        Variant.objects.filter(page=page, archived_at__isnull=True).exclude(pk=winner.pk).update(
            archived_at=now
        )
        page.experiment_stopped_at = now
        page.save(update_fields=["experiment_stopped_at", "updated_at"])
        audit_record(
            actor=actor,
            action="experiment.stopped",
            target=page,
            changes={"kept": winner.name, "promoted": winner.pk != control.pk},
        )
    return page


def variant_for_visitor(salt: str, visitor_id: str, weights: Sequence[tuple[int, int]]) -> int:
    """The variant id a visitor gets: a hash of salt and visitor id, mapped onto the weights.

    Deterministic, so the same visitor lands on the same variant on every server without any stored
    state; `weights` are (variant id, weight) in a stable order (the control first, then by id).
    """
    total = sum(max(0, w) for _, w in weights)
    if total <= 0:
        return weights[0][0]
    digest = hashlib.sha256(f"{salt}:{visitor_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * total
    cumulative = 0.0
    for variant_id, weight in weights:
        cumulative += max(0, weight)
        if point < cumulative:
            return variant_id
    return weights[-1][0]


def page_view_record(*, page: LandingPage, variants: Sequence[Variant], visitor_id: str) -> Variant:
    """The variant `visitor_id` sees on `page`, counting the view (at most one per visitor and day).

    A returning visitor keeps the variant stored for them (so changing weights later moves nobody);
    a new one is placed by `variant_for_visitor`. Visitors of a stopped variant see the control.
    """
    by_id = {v.pk: v for v in variants}
    today = timezone.localdate()
    seen = (
        PageVisitor.objects.filter(page=page, visitor_id=visitor_id)
        .values_list("variant_id", "last_view_day")
        .first()
    )
    if seen is None:
        chosen = by_id[
            variant_for_visitor(page.experiment_salt, visitor_id, [(v.pk, v.weight) for v in variants])
        ]
        try:
            with transaction.atomic():
                PageVisitor.objects.create(
                    page=page, variant=chosen, visitor_id=visitor_id, last_view_day=today
                )
        except IntegrityError:
            # The same visitor's parallel request won: its row stands, this view is the same visit.
            stored = (
                PageVisitor.objects.filter(page=page, visitor_id=visitor_id)
                .values_list("variant_id", flat=True)
                .first()
            )
            return by_id.get(stored or 0, chosen)
        return chosen
    variant_id, last_day = seen
    if variant_id not in by_id:
        return next(v for v in variants if v.is_control)
    if last_day < today:
        # Conditional, so two requests of the same day count once.
        PageVisitor.objects.filter(page=page, visitor_id=visitor_id, last_view_day__lt=today).update(
            views=F("views") + 1, last_view_day=today
        )
    return by_id[variant_id]


def experiment_conversion_record(*, variant_id: int, visitor_id: str) -> bool:
    """Count `visitor_id` as converted on `variant_id`; True if this was their first conversion.

    Deduplicated per visitor and page. A visitor whose view was never recorded (another id, a blocked
    cookie) is still counted, as a visitor of that variant: a conversion from it proves they saw it.
    A conversion for a variant other than the one the visitor was assigned is ignored.
    """
    if not visitor_id_valid(visitor_id):
        return False
    variant = Variant.objects.filter(pk=variant_id).first()
    if variant is None:
        return False
    now = timezone.now()
    with transaction.atomic():
        updated = PageVisitor.objects.filter(
            page_id=variant.page_id, visitor_id=visitor_id, variant_id=variant.pk, converted_at__isnull=True
        ).update(converted_at=now)
        if updated:
            return True
        if (
            PageVisitor.objects.filter(page_id=variant.page_id, visitor_id=visitor_id).exists()
            or not variant.is_active
        ):
            return False
        try:
            with transaction.atomic():
                PageVisitor.objects.create(
                    page_id=variant.page_id, variant=variant, visitor_id=visitor_id, views=0, converted_at=now
                )
        except IntegrityError:
            return False
    return True


def experiment_conversions_from_touchpoints(*, touchpoint_ids: Sequence[int]) -> int:
    """Count the form submissions among these touchpoints that came from a landing page variant
    (their properties carry `lh_variant`). Idempotent: each visitor converts once."""
    counted = 0
    rows = (
        Touchpoint.objects.filter(pk__in=list(touchpoint_ids)[:1000], type=TouchpointType.FORM_SUBMIT)
        .filter(properties__has_key=VARIANT_FIELD)
        .values_list("properties", "anonymous_id", "contact_id")
    )
    for properties, anonymous_id, contact_id in rows:
        try:
            variant_id = int(str(properties.get(VARIANT_FIELD, "")).strip())
        except ValueError:
            continue
        visitor = str(properties.get(VISITOR_FIELD) or anonymous_id or "")
        if not visitor_id_valid(visitor):
            if contact_id is None:
                continue
            visitor = f"contact-{contact_id}"
        counted += experiment_conversion_record(variant_id=variant_id, visitor_id=visitor)
    return counted
