"""Per-key (or per-user) rate limits, counted atomically in the cache (Redis in production).

A fixed one-minute window per bucket: the counter is created with its expiry and counted with an atomic
INCR, so concurrent workers never lose a count. Where the cache is Redis, every bucket a request counts
in goes in one round trip (a Lua script, atomic as a whole); elsewhere (the in-process cache of the
embedded setup) through `cache.add` and `cache.incr`. The answer to an excess request is 429 with the
seconds left in the window as `Retry-After`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60

# KEYS: the buckets' counters in order; ARGV[1]: their expiry; ARGV[1 + i]: bucket i's limit. Counts in
# each bucket in turn and stops at the first over its limit (returns its position, else 0): a refused
# hit does not count against the buckets after it (a flooding visitor does not use up a form's limit).
HITS_SCRIPT = """
for i, key in ipairs(KEYS) do
    redis.call('SET', key, 0, 'EX', ARGV[1], 'NX')
    if redis.call('INCR', key) > tonumber(ARGV[i + 1]) then
        return i
    end
end
return 0
"""


def _hits_script() -> Any | None:
    """HITS_SCRIPT registered with the cache's Redis client, kept on the cache (which settings
    overrides replace), or None when the cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    script = getattr(backend, "_leadhub_hits_script", None)
    if script is None:
        script = backend._cache.get_client(write=True).register_script(HITS_SCRIPT)
        backend._leadhub_hits_script = script  # type: ignore[attr-defined]
    return script


def rate_limit_hits(buckets: Sequence[tuple[str, int]], window: int = WINDOW_SECONDS) -> int | None:
    """Count one hit in each (bucket, limit) in turn, up to the first over its limit; None when every
    bucket allows it, else the seconds to wait."""
    now = time.time()
    window_index = int(now // window)
    keys = [f"rl:{bucket}:{window_index}" for bucket, _ in buckets]
    script = _hits_script()
    if script is not None:
        limits = [limit for _, limit in buckets]
        over = int(script(keys=[cache.make_key(k) for k in keys], args=[window + 5, *limits]))
    else:
        over = next((i + 1 for i, key in enumerate(keys) if _hit(key, buckets[i][1], window)), 0)
    if over:
        return max(1, int((window_index + 1) * window - now) + 1)
    return None


def _hit(key: str, limit: int, window: int) -> bool:
    """One hit on `key` through the cache API; True when it goes over `limit`."""
    cache.add(key, 0, timeout=window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 5)
        count = 1
    return bool(count > limit)


def rate_limit_hit(bucket: str, limit: int, window: int = WINDOW_SECONDS) -> int | None:
    """Count one hit in `bucket`; None when allowed, else the seconds to wait."""
    return rate_limit_hits([(bucket, limit)], window)


class TenantRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        key = getattr(request._request, "api_key", None)
        if key is not None:
            bucket = f"key:{key.pk}"
        elif request.user and request.user.is_authenticated:
            bucket = f"user:{request.user.pk}"
        else:
            bucket = f"ip:{request.META.get('REMOTE_ADDR', '')}"
        limit = getattr(view, "rate_per_minute", None) or settings.LEADHUB_API_RATE_PER_MINUTE
        self._wait = rate_limit_hit(bucket, limit)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
