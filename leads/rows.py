"""The lead list's table rows, rendered in Python.

The list is the page marketers open most, and the template engine spent more time resolving the
fifty rows' few hundred variables than the database spent finding them. `format_html` escapes every
value exactly as the template did (tests/leads/test_views.py renders XSS payloads through it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from leadhub.tenancy.templatetags.ui import stage_badge
from leads.models import Channel, Lead, Stage

_UNASSIGNED = mark_safe('<span class="faint">Unassigned</span>')
_NO_TOUCHES = mark_safe('<span class="faint">No touches</span>')
_NO_COMPANY = mark_safe("<span>—</span>")

# What `_row` reads; the list's queryset loads only these (a deferred field read here would cost a query
# per row, which tests/leads/test_views.py would catch by counting queries).
LEAD_ROW_FIELDS = (
    "organization_id",
    "stage",
    "score",
    "grade",
    "source_channel",
    "last_touch_at",
    "created_at",
    "contact__first_name",
    "contact__last_name",
    "contact__email",
    "contact__job_title",
    "contact__company__name",
    "contact__company__industry",
    "owner__first_name",
    "owner__last_name",
    "owner__email",
    "campaign__name",
)

ROW = (
    '<tr><td class="check"><input type="checkbox" name="lead" value="{}" form="bulk-form" data-select-row '
    'aria-label="Select {}"></td>'
    '<td><div class="person"><span class="avatar avatar-sm">{}{}</span><div class="grow clip">'
    '<a class="person-name" href="{}">{}</a><span class="person-sub">{}</span></div></div></td>'
    '<td class="company-cell clip-sm">{}</td>'
    "<td>{}</td>"
    '<td><span class="score">{}{}</span></td>'
    '<td class="nowrap">{}</td>'
    '<td class="clip-sm"><span>{}</span>{}</td>'
    '<td class="muted nowrap">{}</td>'
    '<td class="muted nowrap">{}</td></tr>'
)


class _Labels:
    """Per-page lookups the rows share: display labels, the time zone and today's neighbours."""

    def __init__(self) -> None:
        self.stage = {value: str(label) for value, label in Stage.choices}
        self.channel = {value: str(label) for value, label in Channel.choices}
        self.zone = timezone.get_current_timezone()
        today = timezone.localdate()
        self.near_days = {
            today: str(_("today")),
            today - dt.timedelta(days=1): str(_("yesterday")),
            today + dt.timedelta(days=1): str(_("tomorrow")),
        }
        self.months = [""] + [str(MONTHS_3[month]).title() for month in range(1, 13)]

    def natural_day(self, moment: dt.datetime) -> str:
        """humanize's `naturalday:"M j"`."""
        day = moment.astimezone(self.zone).date()
        return self.near_days.get(day) or f"{self.months[day.month]} {day.day}"

    def date(self, moment: dt.datetime) -> str:
        """The `date:"M j, Y"` filter."""
        day = moment.astimezone(self.zone).date()
        return f"{self.months[day.month]} {day.day}, {day.year}"


def _row(lead: Lead, detail_prefix: str, labels: _Labels) -> tuple[object, ...]:
    contact = lead.contact
    company = contact.company
    owner = lead.owner
    name = str(contact)
    return (
        lead.pk,
        name,
        contact.first_name[:1].upper() or "?",
        contact.last_name[:1].upper(),
        f"{detail_prefix}{lead.pk}/",
        name,
        contact.email,
        format_html(
            '<strong>{}</strong><span class="person-sub">{}</span>',
            company.name,
            contact.job_title or company.industry,
        )
        if company
        else _NO_COMPANY,
        stage_badge(lead.stage, labels.stage.get(lead.stage, lead.stage)),
        lead.score,
        format_html('<span class="grade grade-{}">{}</span>', lead.grade, lead.grade) if lead.grade else "",
        (owner.get_full_name() or owner.email) if owner else _UNASSIGNED,
        labels.channel.get(lead.source_channel, lead.source_channel),
        format_html('<span class="person-sub">{}</span>', lead.campaign.name) if lead.campaign else "",
        labels.natural_day(lead.last_touch_at) if lead.last_touch_at else _NO_TOUCHES,
        labels.date(lead.created_at),
    )


def lead_rows_html(leads: Iterable[Lead]) -> SafeString:
    """The `<tr>`s of the lead table, for leads loaded with contact, company, owner and campaign."""
    detail_prefix = reverse("lead-detail", args=[0]).removesuffix("0/")
    labels = _Labels()
    return format_html_join("\n", ROW, (_row(lead, detail_prefix, labels) for lead in leads))
