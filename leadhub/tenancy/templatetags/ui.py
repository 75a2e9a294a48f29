"""Template tags shared by every page.

Registered as a template builtin (settings.TEMPLATES), so templates use them without `{% load %}`.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from leadhub.tenancy.templatetags.icons import FALLBACK_ICON, ICON_PATHS

register = template.Library()


@register.simple_tag
def icon(name: str, size: str = "") -> SafeString:
    """`{% icon "home" size="sm" %}`: an inline SVG icon; unknown names draw a plain circle.

    A dictionary lookup rather than an if/elif chain in a template: the lead list draws dozens of
    icons per page, and walking that chain cost more than rendering the rows themselves.
    """
    paths = mark_safe(ICON_PATHS.get(str(name), FALLBACK_ICON))  # noqa: S308  (constant markup)
    size_class = f" icon-{size}" if size else ""
    return format_html(
        '<svg class="icon{}" viewBox="0 0 24 24" aria-hidden="true">{}</svg>', size_class, paths
    )


@register.simple_tag
def stage_badge(stage: str, label: str) -> SafeString:
    """`{% stage_badge lead.stage lead.get_stage_display %}`: a funnel stage as a coloured badge."""
    return format_html('<span class="badge stage-{}">{}</span>', stage, label)


@register.filter
def first_items(value: Any, count: int = 6) -> list[tuple[str, Any]]:
    """The first `count` (key, value) pairs of a mapping (free properties shown in a line); [] otherwise."""
    if not isinstance(value, dict):
        return []
    return list(value.items())[: int(count)]
