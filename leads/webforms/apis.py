"""Forms API: CRUD of forms (with their fields and consent checkboxes), submissions from servers (an
API key with the capture scope is enough), and consent records."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from leadhub.tenancy.models import Organization
from leads.apis.base import MARKETING_ROLES, ApiViewSet
from leads.models_forms import (
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    Form,
    FormSubmission,
    SubmissionSource,
)
from leads.webforms import consent, guard, services
from leads.webforms.schema import CONSENT_PREFIX, definition_build, submission_clean
from leads.webforms.serializers import (
    ConsentRecordCreateSerializer,
    ConsentRecordSerializer,
    FormOutputSerializer,
    FormWriteSerializer,
    SubmissionCreateSerializer,
    SubmissionOutputSerializer,
)


def _form_write(form: Form | None, data: dict[str, Any], viewset: ApiViewSet) -> Form:
    fields = data.pop("fields", None)
    consents = data.pop("consents", None)
    with transaction.atomic():
        if form is None:
            form = services.form_create(data=data, actor=viewset.actor)
        else:
            services.form_update(form=form, data=data, actor=viewset.actor)
        if fields is not None:
            services.form_fields_set(form=form, fields=[dict(f) for f in fields], actor=viewset.actor)
        if consents is not None:
            services.form_consents_set(form=form, consents=[dict(c) for c in consents], actor=viewset.actor)
    form.refresh_from_db()
    return form


class FormViewSet(ApiViewSet):
    """Forms with their fields (in order) and current consent texts. PATCH with `fields` or `consents`
    replaces the whole list; a changed consent text becomes a new version."""

    model = Form
    output_serializer = FormOutputSerializer
    ordering_fields = ["id", "name", "created_at"]
    ordering = "id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[Form]:
        return Form.objects.all()

    @extend_schema(request=FormWriteSerializer, responses={201: FormOutputSerializer})
    def create(self, request: Request) -> Response:
        return self.render(_form_write(None, self.parse(FormWriteSerializer), self), status.HTTP_201_CREATED)

    @extend_schema(request=FormWriteSerializer, responses=FormOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        form = self.get_object()
        return self.render(_form_write(form, self.parse(FormWriteSerializer, partial=True), self))

    def destroy(self, request: Request, pk: str) -> Response:
        services.form_delete(form=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FormSubmissionViewSet(ApiViewSet):
    """A form's submissions. POST submits one from a server: validated like the form, stored, answered
    with 202 while the lead is captured in the background (200 with the same submission for a repeat
    of the same payload within minutes)."""

    model = FormSubmission
    output_serializer = SubmissionOutputSerializer
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["id", "created_at"]
    ordering = "-id"
    write_roles = MARKETING_ROLES

    @property
    def capture_scope_allowed(self) -> bool:
        # A capture-only key may submit, as a website would; reading submissions needs full access.
        return self.request.method == "POST"

    def _form(self) -> Form:
        return get_object_or_404(Form, pk=self.kwargs["form_pk"])

    def scoped_queryset(self, organization: Organization) -> QuerySet[FormSubmission]:
        return FormSubmission.objects.filter(form=self._form())

    def list(self, request: Request, form_pk: str = "") -> Response:
        return super().list(request)

    def retrieve(self, request: Request, pk: str, form_pk: str = "") -> Response:
        return super().retrieve(request, pk)

    @extend_schema(
        request=SubmissionCreateSerializer,
        responses={
            202: SubmissionOutputSerializer,
            200: OpenApiResponse(
                SubmissionOutputSerializer, description="The same payload was already submitted."
            ),
        },
    )
    def create(self, request: Request, form_pk: str) -> Response:
        form = self._form()
        data = self.parse(SubmissionCreateSerializer)
        definition = definition_build(form)
        raw: dict[str, Any] = {**data.get("hidden", {}), **data["values"]}
        raw.update(
            {f"{CONSENT_PREFIX}{purpose}": given for purpose, given in data.get("consents", {}).items()}
        )
        cleaned = submission_clean(definition, raw)
        submission, duplicate = services.submission_accept(
            form_id=form.pk,
            cleaned=cleaned,
            raw=raw,
            source=SubmissionSource.API,
            visitor_id=data.get("visitor_id", ""),
            ip_hash=guard.ip_hash(guard.client_ip(request._request)),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            base_url=request.build_absolute_uri("/"),
            api_key=getattr(request._request, "api_key", None),
        )
        return self.render(submission, status.HTTP_200_OK if duplicate else status.HTTP_202_ACCEPTED)


class ConsentViewSet(ApiViewSet):
    """Consent records, newest first; filter with `?contact=<id>`. POST records consent given or
    withdrawn through your own systems (source `api`)."""

    model = ConsentRecord
    output_serializer = ConsentRecordSerializer
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["id", "recorded_at"]
    ordering = "-id"
    write_roles = MARKETING_ROLES

    def scoped_queryset(self, organization: Organization) -> QuerySet[ConsentRecord]:
        queryset = ConsentRecord.objects.all()
        contact = self.request.query_params.get("contact", "")
        return queryset.filter(contact_id=int(contact)) if contact.isdigit() else queryset

    @extend_schema(request=ConsentRecordCreateSerializer, responses={201: ConsentRecordSerializer})
    def create(self, request: Request) -> Response:
        data = self.parse(ConsentRecordCreateSerializer)
        if data["status"] == ConsentStatus.WITHDRAWN:
            record = consent.consent_withdraw(
                contact=data["contact"], purpose=data["purpose"], source=ConsentSource.API, actor=self.actor
            )
        else:
            record = consent.consent_record(
                contact=data["contact"],
                purpose=data["purpose"],
                status=ConsentStatus.GRANTED,
                source=ConsentSource.API,
                text=data.get("text", ""),
                actor=self.actor,
            )
        return self.render(record, status.HTTP_201_CREATED)
