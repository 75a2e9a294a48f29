"""Which channel a visit came from, read from its UTM values, click ids, referral code and referrer.

UTM values win because the marketer set them on purpose; a click id (gclid, msclkid) means a paid
search ad even without UTM values; then the referrer's host decides; no referrer (or the site itself)
is direct. The rules follow the usual default channel groupings of web analytics tools.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from leads.models import Channel

SEARCH_ENGINES = (
    "google",
    "bing",
    "yahoo",
    "duckduckgo",
    "baidu",
    "yandex",
    "ecosia",
    "qwant",
    "startpage",
    "search.brave",
    "naver",
    "seznam",
    "ask",
)
SOCIAL_SITES = (
    "facebook",
    "fb",
    "instagram",
    "linkedin",
    "lnkd",
    "twitter",
    "x",
    "t",
    "youtube",
    "reddit",
    "pinterest",
    "tiktok",
    "threads",
    "mastodon",
    "bsky",
    "xing",
    "quora",
)
WEBMAIL_HOSTS = ("mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com", "webmail")

PAID_MEDIUMS = frozenset(
    {"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "sem", "cpa", "cpv"}
)
PAID_SOCIAL_MEDIUMS = frozenset(
    {"paid_social", "paidsocial", "paid-social", "social_paid", "social-paid", "sponsored"}
)
DISPLAY_MEDIUMS = frozenset({"display", "banner", "cpm", "programmatic", "retargeting", "interstitial"})
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "e_mail", "newsletter", "mail"})
SOCIAL_MEDIUMS = frozenset(
    {"social", "social-network", "social-media", "sm", "social_media", "organic_social"}
)
REFERRAL_MEDIUMS = frozenset({"referral", "link", "refer"})
PARTNER_MEDIUMS = frozenset({"affiliate", "partner", "partners", "affiliates"})
EVENT_MEDIUMS = frozenset({"event", "events", "webinar", "conference", "trade-show", "tradeshow"})
ORGANIC_MEDIUMS = frozenset({"organic", "seo"})
PAID_CLICK_IDS = ("gclid", "gbraid", "wbraid", "msclkid", "dclid")
PAID_SOCIAL_CLICK_IDS = ("li_fat_id", "ttclid", "twclid")


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def _labels(host: str) -> list[str]:
    return [label for label in host.split(".") if label]


def _is_search(name: str) -> bool:
    """A host ("www.google.co.uk") or utm_source ("google") of a search engine."""
    name = name.lower()
    if "." not in name:
        return name in SEARCH_ENGINES
    # Whole labels only: "google.co.uk" and "search.brave.com" match, "tasks.example.com" does not.
    return any(f".{engine}." in f".{name}." for engine in SEARCH_ENGINES)


def _is_social(name: str) -> bool:
    name = name.lower()
    if "." not in name:
        return name in SOCIAL_SITES
    labels = _labels(name)
    # The registrable name is the label before the public suffix: "m.facebook.com" -> "facebook".
    return len(labels) >= 2 and labels[-2] in SOCIAL_SITES


def _is_webmail(host: str) -> bool:
    return any(host == w or host.endswith(f".{w}") or host.startswith(f"{w}.") for w in WEBMAIL_HOSTS)


def channel_classify(
    *,
    utm_source: str = "",
    utm_medium: str = "",
    referrer: str = "",
    page_url: str = "",
    click_ids: tuple[str, ...] | list[str] = (),
    referral_code: str = "",
) -> str:
    """The Channel value of one visit."""
    source = utm_source.strip().lower()
    medium = utm_medium.strip().lower()
    if medium or source:
        if medium in PAID_SOCIAL_MEDIUMS or (medium in PAID_MEDIUMS and _is_social(source)):
            return Channel.PAID_SOCIAL
        if medium in PAID_MEDIUMS:
            return Channel.PAID_SEARCH
        if medium in DISPLAY_MEDIUMS:
            return Channel.DISPLAY
        if medium in EMAIL_MEDIUMS or source in EMAIL_MEDIUMS:
            return Channel.EMAIL
        if medium in SOCIAL_MEDIUMS:
            return Channel.SOCIAL
        if medium in PARTNER_MEDIUMS:
            return Channel.PARTNER
        if medium in EVENT_MEDIUMS:
            return Channel.EVENTS
        if medium in REFERRAL_MEDIUMS:
            return Channel.REFERRAL
        if medium in ORGANIC_MEDIUMS or (not medium and _is_search(source)):
            return Channel.ORGANIC_SEARCH
        if not medium and _is_social(source):
            return Channel.SOCIAL
    clicked = {c.lower() for c in click_ids}
    if clicked & set(PAID_CLICK_IDS):
        return Channel.PAID_SEARCH
    if clicked & set(PAID_SOCIAL_CLICK_IDS):
        return Channel.PAID_SOCIAL
    if referral_code:
        return Channel.REFERRAL
    if medium or source:
        return Channel.OTHER
    host = _host(referrer)
    page_host = _host(page_url)
    if not host or (page_host and (host == page_host or host.endswith(f".{page_host}"))):
        return Channel.DIRECT
    if _is_webmail(host):
        return Channel.EMAIL
    if _is_search(host):
        return Channel.ORGANIC_SEARCH
    if _is_social(host):
        return Channel.SOCIAL
    return Channel.REFERRAL
