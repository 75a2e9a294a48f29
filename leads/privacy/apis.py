"""API of a contact's data rights and merges: /api/v1/contacts/<id>/{merge,export,erase}/.

A viewset of its own on the `contacts` prefix: it defines only these actions, so the router adds no
list or detail routes beside ContactViewSet's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.api.base import TenantGenericViewSet
from leadhub.api.schema import LeadHubAutoSchema
from leadhub.tenancy.models import Organization, Role
from leadhub.tenancy.services import Actor
from leads.dedupe.services import MERGE_FIELDS, contacts_merge
from leads.models import Contact
from leads.privacy.services import contact_erase, contact_export
from leads.serializers import ContactOutputSerializer


class MergeInputSerializer(serializers.Serializer):
    merge_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=10,
        help_text="Contacts merged INTO this one (they are deleted; everything pointing at them moves here).",
    )
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.IntegerField(),
        required=False,
        help_text=f"Per field ({', '.join(MERGE_FIELDS)}), the id of the contact whose value is kept. "
        "Default: this contact's, unless blank and another has one.",
    )
    custom_fields = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Per custom field key, the id of the contact whose value is kept.",
    )


class EraseInputSerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="The contact's email address, repeated to confirm the erasure.")


class EraseOutputSerializer(serializers.Serializer):
    deleted = serializers.DictField(child=serializers.IntegerField())
    scrubbed = serializers.DictField(child=serializers.IntegerField())


class ContactRightsViewSet(TenantGenericViewSet):
    """Merge duplicates into a surviving contact; export everything held about a contact; erase it."""

    model = Contact
    schema = LeadHubAutoSchema()
    lookup_value_regex = r"\d+"
    serializer_class = ContactOutputSerializer
    # Merging is a marketer's task; export and erasure are the tenant admin's (DESIGN: "data export and
    # erasure"). Full-scope API keys may do all three.
    roles: ClassVar[dict[str, frozenset[str]]] = {
        "merge": frozenset({Role.ADMIN, Role.MARKETER}),
        "export": frozenset({Role.ADMIN}),
        "erase": frozenset({Role.ADMIN}),
    }

    @property
    def allowed_roles(self) -> frozenset[str] | None:
        return self.roles.get(getattr(self, "action", "") or "")

    def scoped_queryset(self, organization: Organization) -> QuerySet[Contact]:
        return Contact.objects.select_related("company")

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request._request)

    @extend_schema(request=MergeInputSerializer, responses=ContactOutputSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def merge(self, request: Request, pk: str) -> Response:
        survivor = self.get_object()
        serializer = MergeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        others = list(Contact.objects.filter(pk__in=data["merge_ids"]))
        found = {o.pk for o in others}
        missing = [i for i in data["merge_ids"] if i not in found]
        if missing:
            raise serializers.ValidationError(
                {"merge_ids": [f"No such contact: {', '.join(map(str, missing))}."]}
            )
        contact = contacts_merge(
            survivor=survivor,
            others=sorted(others, key=lambda o: data["merge_ids"].index(o.pk)),
            actor=self.actor,
            field_choices=data.get("fields"),
            custom_choices=data.get("custom_fields"),
        )
        return Response(ContactOutputSerializer(contact, context=self.get_serializer_context()).data)

    @extend_schema(
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Everything held about the contact.")
        },
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def export(self, request: Request, pk: str) -> Response:
        data = contact_export(contact=self.get_object(), actor=self.actor)
        response = Response(data)
        response["Content-Disposition"] = f'attachment; filename="contact-{pk}.json"'
        return response

    @extend_schema(request=EraseInputSerializer, responses=EraseOutputSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def erase(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        serializer = EraseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = contact_erase(
            contact=contact, actor=self.actor, confirm=serializer.validated_data["confirm"]
        )
        return Response(report)
