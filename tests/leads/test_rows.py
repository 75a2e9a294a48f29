"""The lead list's Python-rendered rows say exactly what Django's template filters said."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.humanize.templatetags.humanize import naturalday
from django.utils import timezone
from django.utils.dateformat import format as date_format

from leads.rows import _Labels


@pytest.mark.parametrize("days", [0, -1, 1, -2, -40, -400, 3])
@pytest.mark.parametrize("hour", [0, 12, 23])
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_dates_match_the_template_filters(days: int, hour: int, zone: str) -> None:
    with timezone.override(zone):
        moment = (timezone.now() + dt.timedelta(days=days)).replace(hour=hour, minute=30)
        labels = _Labels()
        local = timezone.localtime(moment)
        assert labels.natural_day(moment) == str(naturalday(local, "M j"))
        assert labels.date(moment) == date_format(local, "M j, Y")
