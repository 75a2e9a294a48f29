"""Which channel and campaign a form submission came from, read from its UTM values and referrer."""

from __future__ import annotations

from urllib.parse import urlsplit

from leads.models import Campaign, Channel

_PAID = frozenset({"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "sem", "cpm_search"})
_SOCIAL_SOURCES = frozenset(
    {"facebook", "fb", "instagram", "linkedin", "twitter", "x", "tiktok", "reddit", "youtube", "pinterest"}
)
_MEDIUM_CHANNEL = {
    "paid_social": Channel.PAID_SOCIAL,
    "paidsocial": Channel.PAID_SOCIAL,
    "paid-social": Channel.PAID_SOCIAL,
    "social": Channel.SOCIAL,
    "social-media": Channel.SOCIAL,
    "social_media": Channel.SOCIAL,
    "email": Channel.EMAIL,
    "newsletter": Channel.EMAIL,
    "display": Channel.DISPLAY,
    "banner": Channel.DISPLAY,
    "cpm": Channel.DISPLAY,
    "referral": Channel.REFERRAL,
    "partner": Channel.PARTNER,
    "affiliate": Channel.PARTNER,
    "event": Channel.EVENTS,
    "events": Channel.EVENTS,
    "organic": Channel.ORGANIC_SEARCH,
}
_SEARCH_HOSTS = ("google.", "bing.", "duckduckgo.", "yahoo.", "ecosia.", "baidu.", "yandex.", "qwant.")
_SOCIAL_HOSTS = ("facebook.", "linkedin.", "twitter.", "t.co", "x.com", "instagram.", "reddit.", "youtube.")


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def channel_infer(
    *, utm_source: str = "", utm_medium: str = "", referrer: str = "", page_url: str = ""
) -> str:
    medium, source = utm_medium.strip().lower(), utm_source.strip().lower()
    if medium in _PAID:
        return Channel.PAID_SOCIAL if source in _SOCIAL_SOURCES else Channel.PAID_SEARCH
    if medium in _MEDIUM_CHANNEL:
        return _MEDIUM_CHANNEL[medium]
    if source:
        return Channel.SOCIAL if source in _SOCIAL_SOURCES else Channel.OTHER
    referrer_host = _host(referrer)
    if not referrer_host or referrer_host == _host(page_url):
        return Channel.DIRECT
    if any(referrer_host.startswith(h) or f".{h}" in f".{referrer_host}" for h in _SEARCH_HOSTS):
        return Channel.ORGANIC_SEARCH
    if any(referrer_host.startswith(h) or referrer_host == h for h in _SOCIAL_HOSTS):
        return Channel.SOCIAL
    return Channel.REFERRAL


def campaign_for(utm_campaign: str) -> Campaign | None:
    if not utm_campaign:
        return None
    return Campaign.objects.filter(utm_campaign=utm_campaign).order_by("id").first()
