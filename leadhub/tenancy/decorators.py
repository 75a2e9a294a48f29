"""Declarations the isolation sweep reads: which model a URL's id refers to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Model

F = TypeVar("F", bound=Callable[..., Any])


def for_model(model: type[Model]) -> Callable[[F], F]:
    """Mark a function view whose URL carries an id of `model` (class-based views set `model`)."""

    def mark(view: F) -> F:
        view.model = model  # type: ignore[attr-defined]
        return view

    return mark
