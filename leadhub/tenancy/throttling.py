"""Per-key (or per-user) rate limits, counted atomically in the cache (Redis in production).

A fixed one-minute window: `cache.add` creates the counter with its expiry, `cache.incr` is an atomic
INCR, so concurrent workers never lose a count. The answer to an excess request is 429 with the
seconds left in the window as `Retry-After`.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60


def rate_limit_hit(bucket: str, limit: int, window: int = WINDOW_SECONDS) -> int | None:
    """Count one hit in `bucket`; None when allowed, else the seconds to wait."""
    now = time.time()
    window_index = int(now // window)
    key = f"rl:{bucket}:{window_index}"
    cache.add(key, 0, timeout=window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 5)
        count = 1
    if count > limit:
        return max(1, int((window_index + 1) * window - now) + 1)
    return None


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
