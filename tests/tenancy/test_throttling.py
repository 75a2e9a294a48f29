"""Rate-limit counting: one Redis round trip for every bucket of a request (a Lua script), or the cache API
where the cache is not Redis; both count the same way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache, caches
from django.test import override_settings

from leadhub.tenancy import throttling
from leadhub.tenancy.throttling import WINDOW_SECONDS, rate_limit_hit, rate_limit_hits

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttling"}}


@pytest.fixture(params=["redis", "locmem"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        if "RedisCache" not in settings.CACHES["default"]["BACKEND"]:
            pytest.skip("the cache is Redis only where REDIS_URL is set (CI sets it)")
        assert throttling._hits_script() is not None
        yield "redis"
        return
    with override_settings(CACHES=LOCMEM):
        assert throttling._hits_script() is None
        yield "locmem"
        cache.clear()


def _window() -> int:
    return int(throttling.time.time() // WINDOW_SECONDS)


def test_a_refused_hit_does_not_count_against_the_buckets_after_it(backend: str) -> None:
    buckets = [("visitor", 1), ("form", 2)]
    assert rate_limit_hits(buckets) is None
    wait = rate_limit_hits(buckets)
    assert wait is not None and 1 <= wait <= WINDOW_SECONDS + 1
    # "form" was counted once: one more hit is still within its limit of 2, the next is not.
    assert rate_limit_hit("form", 2) is None
    assert rate_limit_hit("form", 2) is not None


def test_counters_are_the_caches_own_keys_and_expire_after_the_window(backend: str) -> None:
    """The counters carry the cache's prefix (so clearing and per-worker prefixes apply to them) and
    expire shortly after their window."""
    for _ in range(3):
        rate_limit_hits([("a", 10), ("b", 10)])
    window = _window()
    assert (cache.get(f"rl:a:{window}"), cache.get(f"rl:b:{window}")) == (3, 3)
    if backend == "redis":
        client = caches["default"]._cache.get_client(write=True)
        ttl = client.ttl(cache.make_key(f"rl:a:{window}"))
        assert WINDOW_SECONDS < ttl <= WINDOW_SECONDS + 5


def test_a_new_window_starts_a_new_count(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert rate_limit_hit("w", 1) is None
    assert rate_limit_hit("w", 1) is not None
    later = throttling.time.time() + WINDOW_SECONDS
    monkeypatch.setattr(throttling, "time", type("Clock", (), {"time": staticmethod(lambda: later)}))
    assert rate_limit_hit("w", 1) is None
