"""The base of every tenant API view: the queryset is scoped to the request's organization, and a
subclass cannot replace that scoping by accident (overriding `get_queryset` raises at import time)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import viewsets
from rest_framework.request import Request

from leadhub.tenancy.models import Organization, TenantModel


class TenantScopedMixin:
    """Give subclasses `scoped_queryset(organization)` instead of `get_queryset()`."""

    model: ClassVar[type[Model] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset(); override scoped_queryset(organization) instead, "
                "so the tenant filter cannot be lost."
            )

    @property
    def organization(self) -> Organization:
        request: Request = self.request  # type: ignore[attr-defined]
        return request._request.organization  # type: ignore[attr-defined]

    def scoped_queryset(self, organization: Organization) -> QuerySet[Any]:
        assert self.model is not None, f"{type(self).__name__} must set `model`."
        return self.model._default_manager.all()

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False) and self.model is not None:
            # OpenAPI generation runs without a tenant and only needs the model: an empty queryset
            # that never reaches the database.
            return self.model._base_manager.none()
        organization = self.organization
        queryset = self.scoped_queryset(organization)
        model = queryset.model
        if issubclass(model, TenantModel):
            # Belt and braces: the default manager already filters by the context's tenant.
            queryset = queryset.filter(organization_id=organization.pk)
        elif hasattr(model, "organization_id"):
            queryset = queryset.filter(organization_id=organization.pk)
        else:
            raise TypeError(f"{model.__name__} has no organization; it cannot be served by a tenant view.")
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()  # type: ignore[misc]
        context["organization"] = self.organization
        return context


class TenantModelViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    pass


class TenantReadOnlyViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    pass


class TenantGenericViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    pass
