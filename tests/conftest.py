"""Shared fixtures. Every test has two organizations at hand (`org`, `other_org`) so that isolation
can be checked anywhere, with an admin in each and API clients for both."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import ApiKeyScope, Organization, Role
from leadhub.tenancy.services import Actor, api_key_create
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

PASSWORD = "correct-horse-battery"


def clear_test_cache() -> None:
    """Empty the cache between tests. cache.clear() would FLUSHDB a Redis database that other programs
    may share, so on Redis only the keys under the tests' own prefix go."""
    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*", count=1000):
            client.delete(key)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    # Rate-limit counters and lockouts live in the cache; tests must not see each other's.
    clear_test_cache()
    yield


@pytest.fixture(autouse=True)
def _rate_limit_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate limits count per fixed one-minute window: a test's requests all fall in the middle of one, so
    that a test which runs across a minute's turn does not see its counter start again."""
    from leadhub.tenancy import throttling

    middle = (time.time() // throttling.WINDOW_SECONDS + 0.5) * throttling.WINDOW_SECONDS
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: middle))


@pytest.fixture
def org(db: Any) -> Organization:
    return OrganizationFactory(name="Acme Analytics", slug="acme")


@pytest.fixture
def other_org(db: Any) -> Organization:
    return OrganizationFactory(name="Globex Corp", slug="globex")


def _member(organization: Organization, role: str, email: str) -> Any:
    user = UserFactory(email=email)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def admin_user(org: Organization) -> Any:
    return _member(org, Role.ADMIN, "admin@acme.example")


@pytest.fixture
def marketer(org: Organization) -> Any:
    return _member(org, Role.MARKETER, "marketer@acme.example")


@pytest.fixture
def sales_rep(org: Organization) -> Any:
    return _member(org, Role.SALES_REP, "rep@acme.example")


@pytest.fixture
def other_admin(other_org: Organization) -> Any:
    return _member(other_org, Role.ADMIN, "admin@globex.example")


@pytest.fixture
def in_org(org: Organization) -> Callable[[], AbstractContextManager[int]]:
    """`with in_org(): ...` runs the block as `org`."""
    return lambda: tenant_context(org)


@pytest.fixture
def in_other_org(other_org: Organization) -> Callable[[], AbstractContextManager[int]]:
    return lambda: tenant_context(other_org)


def make_api_client(organization: Organization, scope: str = ApiKeyScope.FULL) -> APIClient:
    with tenant_context(organization):
        _, raw = api_key_create(
            organization=organization, name=f"test {scope}", scope=scope, actor=Actor.system("test")
        )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.raw_key = raw  # type: ignore[attr-defined]
    return client


@pytest.fixture
def api_client(org: Organization) -> APIClient:
    return make_api_client(org)


@pytest.fixture
def other_api_client(other_org: Organization) -> APIClient:
    return make_api_client(other_org)


@pytest.fixture
def capture_api_client(org: Organization) -> APIClient:
    return make_api_client(org, ApiKeyScope.CAPTURE)


def login(user: Any, organization: Organization | None = None) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    if organization is not None:
        session = client.session
        session["organization_id"] = organization.pk
        session.save()
    return client


@pytest.fixture
def admin_client(admin_user: Any, org: Organization) -> Client:
    return login(admin_user, org)


@pytest.fixture
def other_admin_client(other_admin: Any, other_org: Organization) -> Client:
    return login(other_admin, other_org)
