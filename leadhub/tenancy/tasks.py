"""The base of every tenant task: ids in, tenant set, one service called."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from leadhub.tenancy.context import tenant_context

P = ParamSpec("P")
R = TypeVar("R")


def in_tenant(func: Callable[..., R]) -> Callable[..., R]:
    """Run a task body as the organization named by its first argument, in one transaction."""

    @functools.wraps(func)
    def wrapper(organization_id: int, *args: Any, **kwargs: Any) -> R:
        with tenant_context(int(organization_id)):
            return func(organization_id, *args, **kwargs)

    return wrapper
