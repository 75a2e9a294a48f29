"""Input and output serializers of the forms API. Inputs check shapes; the services check meaning."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leads.models import Contact
from leads.models_forms import (
    ConsentChange,
    ConsentPurpose,
    ConsentRecord,
    ConsentText,
    Form,
    FormField,
    FormStatus,
    FormSubmission,
)
from leads.serializers import TenantRelatedField


class FormFieldSerializer(serializers.ModelSerializer):
    target = serializers.CharField(
        max_length=100,
        help_text="contact.<field>, company.<field>, lead.<field> or custom.<contact|company>.<key>.",
    )
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)  # type: ignore[assignment]
    choices = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=200
    )

    class Meta:
        model = FormField
        fields = [
            "id",
            "target",
            "label",
            "required",
            "placeholder",
            "help_text",
            "min_length",
            "max_length",
            "pattern",
            "choices",
            "position",
        ]
        read_only_fields = ["id", "position"]


class ConsentTextSerializer(serializers.ModelSerializer):
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    text = serializers.CharField(max_length=2000)

    class Meta:
        model = ConsentText
        fields = ["id", "purpose", "version", "text", "required", "created_at"]
        read_only_fields = ["id", "version", "created_at"]


class FormEmbedSerializer(serializers.Serializer):
    script = serializers.CharField()
    hosted_page = serializers.CharField()
    submit_url = serializers.CharField()


class FormOutputSerializer(serializers.ModelSerializer):
    # Not get_fields(): that name is the serializer's own method.
    fields = serializers.SerializerMethodField(method_name="form_fields")  # type: ignore[assignment]
    consents = serializers.SerializerMethodField()
    embed = serializers.SerializerMethodField()

    class Meta:
        model = Form
        fields = [
            "id",
            "name",
            "status",
            "public_key",
            "submit_label",
            "success_message",
            "redirect_url",
            "allowed_domains",
            "hidden_fields",
            "max_fields_shown",
            "double_opt_in",
            "fields",
            "consents",
            "embed",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(FormFieldSerializer(many=True))
    def form_fields(self, form: Form) -> list[dict[str, Any]]:
        return list(FormFieldSerializer(form.fields.order_by("position", "id"), many=True).data)

    @extend_schema_field(ConsentTextSerializer(many=True))
    def get_consents(self, form: Form) -> list[dict[str, Any]]:
        return list(
            ConsentTextSerializer(form.consent_texts.filter(is_current=True).order_by("id"), many=True).data
        )

    @extend_schema_field(FormEmbedSerializer)
    def get_embed(self, form: Form) -> dict[str, str]:
        request = self.context.get("request")
        base = request.build_absolute_uri("/").rstrip("/") if request is not None else ""
        return {
            "script": f'<script src="{base}/embed/forms/{form.public_key}.js" async></script>',
            "hosted_page": f"{base}/f/{form.public_key}/",
            "submit_url": f"{base}/f/{form.public_key}/",
        }


class FormWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    status = serializers.ChoiceField(choices=FormStatus.choices, required=False)
    submit_label = serializers.CharField(max_length=60, required=False)
    success_message = serializers.CharField(max_length=5000, required=False)
    redirect_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    allowed_domains = serializers.ListField(
        child=serializers.CharField(max_length=260), required=False, max_length=50
    )
    hidden_fields = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), required=False
    )
    max_fields_shown = serializers.IntegerField(min_value=0, max_value=50, required=False)
    double_opt_in = serializers.BooleanField(required=False)
    fields = FormFieldSerializer(  # type: ignore[assignment]
        many=True,
        required=False,
        help_text="The whole list, in order; the email field stays even if omitted.",
    )
    consents = ConsentTextSerializer(
        many=True, required=False, help_text="The whole list of consent checkboxes."
    )


class SubmissionCreateSerializer(serializers.Serializer):
    values = serializers.DictField(help_text='Answers by target, e.g. {"contact.email": "ada@example.com"}.')
    hidden = serializers.DictField(
        child=serializers.CharField(max_length=2000, allow_blank=True),
        required=False,
        help_text="utm_source/medium/campaign/content/term, referrer, page_url and any lh_* keys.",
    )
    consents = serializers.DictField(
        child=serializers.BooleanField(),
        required=False,
        help_text='Given consent by purpose: {"marketing_email": true}.',
    )
    visitor_id = serializers.RegexField(
        r"^[A-Za-z0-9._-]{1,64}$", required=False, help_text="The lh_vid visitor id."
    )


class SubmissionOutputSerializer(serializers.ModelSerializer):
    values = serializers.SerializerMethodField()
    hidden = serializers.SerializerMethodField()

    class Meta:
        model = FormSubmission
        fields = [
            "id",
            "form",
            "status",
            "reason",
            "source",
            "values",
            "hidden",
            "consents",
            "email_normalized",
            "visitor_id",
            "contact",
            "lead",
            "created_at",
            "processed_at",
        ]

    def get_values(self, submission: FormSubmission) -> dict[str, Any]:
        return dict(submission.payload.get("values") or {})

    def get_hidden(self, submission: FormSubmission) -> dict[str, str]:
        return dict(submission.payload.get("hidden") or {})


class ConsentRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "contact",
            "purpose",
            "status",
            "source",
            "form",
            "submission",
            "text_version",
            "text",
            "actor_label",
            "recorded_at",
        ]


class ConsentRecordCreateSerializer(serializers.Serializer):
    contact = TenantRelatedField(Contact)
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    status = serializers.ChoiceField(choices=ConsentChange.choices)
    text = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="The text agreed to."
    )
