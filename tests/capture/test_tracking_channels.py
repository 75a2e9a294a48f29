"""The channel classifier: UTM values first, then click ids, a referral code, then the referrer."""

from __future__ import annotations

import pytest

from leads.models import Channel
from leads.tracking.channels import channel_classify


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"utm_source": "google", "utm_medium": "cpc"}, Channel.PAID_SEARCH),
        ({"utm_source": "bing", "utm_medium": "ppc"}, Channel.PAID_SEARCH),
        ({"utm_source": "linkedin", "utm_medium": "cpc"}, Channel.PAID_SOCIAL),
        ({"utm_source": "facebook", "utm_medium": "paid_social"}, Channel.PAID_SOCIAL),
        ({"utm_source": "newsletter", "utm_medium": "email"}, Channel.EMAIL),
        ({"utm_source": "twitter", "utm_medium": "social"}, Channel.SOCIAL),
        ({"utm_source": "twitter"}, Channel.SOCIAL),
        ({"utm_source": "google"}, Channel.ORGANIC_SEARCH),
        ({"utm_source": "gdn", "utm_medium": "display"}, Channel.DISPLAY),
        ({"utm_source": "acme-partner", "utm_medium": "affiliate"}, Channel.PARTNER),
        ({"utm_source": "saastr", "utm_medium": "event"}, Channel.EVENTS),
        ({"utm_source": "something", "utm_medium": "weird"}, Channel.OTHER),
        ({"click_ids": ["gclid"]}, Channel.PAID_SEARCH),
        ({"click_ids": ["li_fat_id"]}, Channel.PAID_SOCIAL),
        ({"referral_code": "jane"}, Channel.REFERRAL),
        ({"referrer": "https://www.google.co.uk/search?q=leads"}, Channel.ORGANIC_SEARCH),
        ({"referrer": "https://duckduckgo.com/"}, Channel.ORGANIC_SEARCH),
        ({"referrer": "https://search.brave.com/search?q=x"}, Channel.ORGANIC_SEARCH),
        ({"referrer": "https://m.facebook.com/"}, Channel.SOCIAL),
        ({"referrer": "https://t.co/abc"}, Channel.SOCIAL),
        ({"referrer": "https://www.linkedin.com/feed/"}, Channel.SOCIAL),
        ({"referrer": "https://mail.google.com/mail/u/0/"}, Channel.EMAIL),
        ({"referrer": "https://blog.partner.example/post"}, Channel.REFERRAL),
        ({"referrer": "https://tasks.example.org/"}, Channel.REFERRAL),
        ({"referrer": ""}, Channel.DIRECT),
        (
            {"referrer": "https://shop.acme.example/a", "page_url": "https://shop.acme.example/b"},
            Channel.DIRECT,
        ),
        ({"referrer": "not a url"}, Channel.DIRECT),
    ],
)
def test_channel_classify(kwargs, expected):
    assert channel_classify(**kwargs) == expected


def test_utm_values_win_over_the_referrer_and_the_referral_code():
    assert (
        channel_classify(
            utm_source="google", utm_medium="cpc", referrer="https://facebook.com/", referral_code="jane"
        )
        == Channel.PAID_SEARCH
    )
    assert channel_classify(referrer="https://www.google.com/", referral_code="jane") == Channel.REFERRAL
