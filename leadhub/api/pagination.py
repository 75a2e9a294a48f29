from __future__ import annotations

from typing import Any

from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class DefaultCursorPagination(CursorPagination):
    """Cursor pagination: constant cost per page at any depth, stable while rows are being added.

    The ordering comes from `?ordering=` (one of the view's `ordering_fields`) or the view's default;
    `id` breaks ties so that pages never repeat or skip a row.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        ordering = tuple(super().get_ordering(request, queryset, view))
        if ordering and ordering[0].lstrip("-") != "id":
            tiebreak = "-id" if ordering[0].startswith("-") else "id"
            ordering = (*ordering, tiebreak)
        return ordering
