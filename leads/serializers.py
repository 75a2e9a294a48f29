"""Input and output serializers of the funnel's API. Inputs only parse and check shapes; the services
validate meaning and write. Ids in bodies are looked up within the request's organization, so another
organization's id gets the same "does not exist" as a missing one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leadhub.tenancy.models import Membership
from leads.models import (
    Campaign,
    CampaignSpend,
    Channel,
    Company,
    Contact,
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    Lead,
    Stage,
    StageChange,
    Touchpoint,
    TouchpointType,
)

User = get_user_model()


# --- fields ---------------------------------------------------------------------------------


class TenantRelatedField(serializers.PrimaryKeyRelatedField):
    """An id of a row of the current organization (the tenant manager scopes the lookup)."""

    default_error_messages = {
        "required": "This field is required.",
        "does_not_exist": "No such record with id {pk_value} exists.",
        "incorrect_type": "Expected an id (a number), got {data_type}.",
    }

    def __init__(self, model: type[Model], **kwargs: Any) -> None:
        self.model = model
        if not kwargs.get("read_only"):
            # Unscoped and empty: only its model is read (by the schema); lookups use get_queryset().
            kwargs["queryset"] = model._base_manager.none()
        super().__init__(**kwargs)
        self.error_messages["does_not_exist"] = f"No {model._meta.verbose_name} with id {{pk_value}} exists."

    def get_queryset(self) -> QuerySet[Any]:
        return self.model._default_manager.all()


class MemberField(serializers.PrimaryKeyRelatedField):
    """A user id that must belong to a member of the request's organization."""

    default_error_messages = {
        "does_not_exist": "User {pk_value} is not a member of this organization.",
        "incorrect_type": "Expected a user id (a number), got {data_type}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", User._default_manager.none())
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        organization = self.context["organization"]
        return User._default_manager.filter(
            pk__in=Membership.objects.filter(organization=organization).values("user_id")
        )


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"nullable": True},
        "description": (
            "Custom field values by key (see /api/v1/custom-fields/). Values are checked against the "
            "field's type; null clears a value."
        ),
        "example": {"seats": 25, "plan": "pro"},
    }
)
class CustomFieldsField(serializers.DictField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", serializers.JSONField(allow_null=True))
        super().__init__(**kwargs)


# --- compact nested records -----------------------------------------------------------------


class CompanyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user: Any) -> str:
        return f"{user.first_name} {user.last_name}".strip() or user.email


class LeadContactSerializer(serializers.ModelSerializer):
    company = CompanyRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Contact
        fields = ["id", "email", "first_name", "last_name", "job_title", "company"]
        read_only_fields = fields


# --- companies ------------------------------------------------------------------------------


class CompanyOutputSerializer(serializers.ModelSerializer):
    custom_fields = CustomFieldsField(source="custom", read_only=True)

    class Meta:
        model = Company
        ref_name = "Company"
        fields = [
            "id",
            "name",
            "domain",
            "industry",
            "employee_count",
            "annual_revenue",
            "country",
            "custom_fields",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CompanyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    domain = serializers.CharField(max_length=253, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=100, required=False, allow_blank=True)
    employee_count = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    annual_revenue = serializers.DecimalField(
        max_digits=16, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    country = serializers.CharField(max_length=100, required=False, allow_blank=True)
    custom_fields = CustomFieldsField(required=False)


class CompanyCaptureSerializer(CompanyInputSerializer):
    """A company described inside a captured contact; found by domain, else by name."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs.get("name") or attrs.get("domain")):
            raise serializers.ValidationError({"name": ["Give the company's name or domain."]})
        return attrs


# --- contacts -------------------------------------------------------------------------------


class ContactOutputSerializer(serializers.ModelSerializer):
    company = CompanyRefSerializer(read_only=True, allow_null=True)
    custom_fields = CustomFieldsField(source="custom", read_only=True)

    class Meta:
        model = Contact
        ref_name = "Contact"
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "job_title",
            "phone",
            "country",
            "city",
            "company",
            "custom_fields",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContactInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    job_title = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    country = serializers.CharField(max_length=100, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company = TenantRelatedField(Company, required=False, allow_null=True, help_text="Company id.")
    custom_fields = CustomFieldsField(required=False)


class ContactCaptureSerializer(serializers.Serializer):
    """A contact as capture sends it: upserted by normalised email, blanks never erase known values."""

    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    job_title = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    country = serializers.CharField(max_length=100, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company = CompanyCaptureSerializer(required=False)
    custom_fields = CustomFieldsField(required=False)


# --- leads ----------------------------------------------------------------------------------


class LeadOutputSerializer(serializers.ModelSerializer):
    contact = LeadContactSerializer(read_only=True)
    owner = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Lead
        ref_name = "Lead"
        fields = [
            "id",
            "contact",
            "stage",
            "owner",
            "score",
            "grade",
            "source_channel",
            "campaign",
            "first_touch_at",
            "first_touch_channel",
            "first_touch_campaign",
            "first_touch_url",
            "last_touch_at",
            "budget",
            "authority",
            "need",
            "timing",
            "journey",
            "is_current",
            "stage_changed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LeadAttributesSerializer(serializers.Serializer):
    score = serializers.IntegerField(required=False, min_value=-100000, max_value=100000)
    grade = serializers.ChoiceField(
        choices=["", "A", "B", "C", "D", "E", "F"], required=False, allow_blank=True
    )
    source_channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    budget = serializers.CharField(max_length=200, required=False, allow_blank=True)
    authority = serializers.CharField(max_length=200, required=False, allow_blank=True)
    need = serializers.CharField(max_length=500, required=False, allow_blank=True)
    timing = serializers.CharField(max_length=200, required=False, allow_blank=True)


class LeadFieldsSerializer(LeadAttributesSerializer):
    """The lead's own editable fields (the stage is not one of them)."""

    owner = MemberField(required=False, allow_null=True, help_text="User id of a member of the organization.")
    campaign = TenantRelatedField(Campaign, required=False, allow_null=True, help_text="Campaign id.")


class LeadCaptureFieldsSerializer(LeadAttributesSerializer):
    """What a new lead may carry besides the lead's fields: whose it is and its initial stage."""

    contact_data = ContactCaptureSerializer(
        required=False,
        help_text="Instead of `contact`: the contact is upserted by email and its open journey reused.",
    )
    stage = serializers.ChoiceField(choices=Stage.choices, required=False, help_text="Initial stage (cold).")
    stage_reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("contact" in attrs) == ("contact_data" in attrs):
            raise serializers.ValidationError(
                {"contact": ["Give either `contact` (an id) or `contact_data` (the contact's details)."]}
            )
        return attrs


class LeadCreateSerializer(LeadFieldsSerializer, LeadCaptureFieldsSerializer):
    contact = TenantRelatedField(
        Contact, required=False, help_text="An existing contact's id; a new journey is started for it."
    )


class LeadUpdateSerializer(LeadFieldsSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict) and "stage" in self.initial_data:
            lead = self.context.get("lead")
            if lead is None or self.initial_data["stage"] != lead.stage:
                raise serializers.ValidationError(
                    {"stage": ["The stage is read-only here; POST /api/v1/leads/{id}/stage/ changes it."]}
                )
        return attrs


class LeadStageChangeSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Why; required when the lead is disqualified or recycled.",
    )


class StageChangeOutputSerializer(serializers.ModelSerializer):
    changed_by = serializers.SerializerMethodField(help_text="Who or what moved the lead.")
    changed_by_user = serializers.IntegerField(source="changed_by_user_id", read_only=True, allow_null=True)
    changed_by_api_key = serializers.IntegerField(
        source="changed_by_api_key_id", read_only=True, allow_null=True
    )

    class Meta:
        model = StageChange
        ref_name = "StageChange"
        fields = [
            "id",
            "from_stage",
            "to_stage",
            "changed_at",
            "changed_by",
            "changed_by_user",
            "changed_by_api_key",
            "rule",
            "reason",
        ]
        read_only_fields = fields

    def get_changed_by(self, change: StageChange) -> str:
        return change.actor_label


class LeadBulkItemSerializer(LeadCaptureFieldsSerializer):
    """One lead of a bulk request: ids are checked together afterwards (one query per kind)."""

    contact = serializers.IntegerField(required=False, min_value=1, help_text="An existing contact's id.")
    owner = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="A member's user id."
    )
    campaign = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Campaign id."
    )


class BulkOptionsSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        # `partial` is also an attribute of every serializer, so the field is added here, not declared.
        return {
            **super().get_fields(),
            "partial": serializers.BooleanField(
                default=False,
                help_text=(
                    "false (default): all or nothing; any invalid item -> 400 with per-item errors, nothing "
                    "written. true: valid items are written, invalid ones reported (207 when some failed)."
                ),
            ),
        }


class ObjectListField(serializers.ListField):
    """A list of JSON objects, each checked only for being an object: the bulk endpoints check each
    item's fields themselves, and a DictField runs a field per key of every item (a tenth of an events
    batch's time at 1,000 items). The schema still says "array of objects"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.DictField(), **kwargs)

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if isinstance(data, str | Mapping) or not hasattr(data, "__iter__"):
            self.fail("not_a_list", input_type=type(data).__name__)
        items = list(data)
        if not self.allow_empty and not items:
            self.fail("empty")
        refused: dict[str, Any] = {
            str(index): [self.child.error_messages["not_a_dict"].format(input_type=type(item).__name__)]
            for index, item in enumerate(items)
            if not isinstance(item, dict)
        }
        if refused:
            raise serializers.ValidationError(refused)
        return items


class BulkRequestSerializer(BulkOptionsSerializer):
    items = ObjectListField(
        allow_empty=False,
        help_text=f"At most {settings.LEADHUB_BULK_MAX_ITEMS} items.",
    )

    def validate_items(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = settings.LEADHUB_BULK_MAX_ITEMS
        if len(items) > limit:
            raise serializers.ValidationError(
                f"At most {limit} items per request; this one has {len(items)}."
            )
        return items


class LeadBulkSerializer(BulkOptionsSerializer):
    """Schema of POST /leads/bulk/ (the view validates each item on its own)."""

    items = LeadBulkItemSerializer(many=True, help_text=f"At most {settings.LEADHUB_BULK_MAX_ITEMS} items.")


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request.")
    id = serializers.IntegerField(required=False, help_text="Id of the stored record (when it succeeded).")
    created = serializers.BooleanField(
        required=False,
        help_text="false when an existing record was reused (known email, repeated external_id).",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # `errors` is also an attribute of every serializer, so the field is added here, not declared.
        return {
            **super().get_fields(),
            "errors": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                required=False,
                help_text="Per field, why the item was refused (when it failed).",
            ),
        }


class BulkResponseSerializer(serializers.Serializer):
    results = BulkItemResultSerializer(many=True)
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


# --- touchpoints ----------------------------------------------------------------------------


class TouchpointOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Touchpoint
        ref_name = "Touchpoint"
        fields = [
            "id",
            "lead",
            "contact",
            "anonymous_id",
            "external_id",
            "type",
            "occurred_at",
            "channel",
            "campaign",
            "url",
            "referrer",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_content",
            "utm_term",
            "properties",
            "created_at",
        ]
        read_only_fields = fields


class TouchpointDetailsSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=TouchpointType.choices)
    occurred_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        allow_blank=True,
        help_text="Defaults to the campaign's channel.",
    )
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    referrer = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=200, required=False, allow_blank=True)
    properties = serializers.DictField(required=False, help_text="Free properties of the event.")


class TouchpointCreateSerializer(TouchpointDetailsSerializer):
    """Who it belongs to: a `lead`, a `contact` (id or `email`; its current lead is used), or only an
    `anonymous_id` (stitched to the contact when the visitor identifies)."""

    lead = serializers.IntegerField(required=False, min_value=1, help_text="Lead id.")
    contact = serializers.IntegerField(required=False, min_value=1, help_text="Contact id.")
    email = serializers.EmailField(required=False, help_text="A known contact's email.")
    anonymous_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    external_id = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="Your id of the event: a retry with the same external_id is not stored twice.",
    )
    campaign = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Campaign id."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs.get("lead") or attrs.get("contact") or attrs.get("email") or attrs.get("anonymous_id")):
            raise serializers.ValidationError(
                {"lead": ["Say whose touchpoint this is: lead, contact, email or anonymous_id."]}
            )
        return attrs


class TouchpointUpdateSerializer(TouchpointDetailsSerializer):
    type = serializers.ChoiceField(choices=TouchpointType.choices, required=False)
    campaign = TenantRelatedField(Campaign, required=False, allow_null=True, help_text="Campaign id.")


class TouchpointBulkSerializer(BulkOptionsSerializer):
    """Schema of POST /touchpoints/bulk/ (the view validates each item on its own)."""

    items = TouchpointCreateSerializer(
        many=True, help_text=f"At most {settings.LEADHUB_BULK_MAX_ITEMS} items."
    )


# --- campaigns and spend --------------------------------------------------------------------


class CampaignOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        ref_name = "Campaign"
        fields = [
            "id",
            "name",
            "channel",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_content",
            "utm_term",
            "start_date",
            "end_date",
            "budget",
            "currency",
            "created_at",
        ]
        read_only_fields = fields


class CampaignInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=200, required=False, allow_blank=True)
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)
    budget = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="ISO 4217 code, e.g. EUR.")


class CampaignSpendOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CampaignSpend
        ref_name = "CampaignSpend"
        fields = ["id", "campaign", "date", "amount", "currency", "note", "created_at"]
        read_only_fields = fields


class CampaignSpendInputSerializer(serializers.Serializer):
    campaign = TenantRelatedField(Campaign, help_text="Campaign id.")
    date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", required=False, allow_blank=True, help_text="Defaults to the campaign's currency."
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class CampaignSpendUpdateSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, allow_blank=True)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


# --- custom fields --------------------------------------------------------------------------


class CustomFieldOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomField
        ref_name = "CustomField"
        fields = [
            "id",
            "entity",
            "key",
            "label",
            "field_type",
            "choices",
            "help_text",
            "position",
            "created_at",
        ]
        read_only_fields = fields


class CustomFieldTextsSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        # `label` and `help_text` are also attributes of every serializer field, so these fields are
        # added here rather than declared.
        return {
            **super().get_fields(),
            "label": serializers.CharField(
                max_length=100,
                required=False,
                allow_blank=True,
                help_text="Shown in forms (the key if blank).",
            ),
            "help_text": serializers.CharField(
                max_length=200,
                required=False,
                allow_blank=True,
                help_text="Shown next to the field in forms.",
            ),
        }


class CustomFieldCreateSerializer(CustomFieldTextsSerializer):
    entity = serializers.ChoiceField(choices=CustomFieldEntity.choices)
    key = serializers.SlugField(max_length=60, help_text="Name in the API and in filters (cf.<key>).")
    field_type = serializers.ChoiceField(choices=CustomFieldType.choices, default=CustomFieldType.TEXT)
    choices = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=200
    )
    position = serializers.IntegerField(min_value=0, required=False)


class CustomFieldUpdateSerializer(CustomFieldTextsSerializer):
    field_type = serializers.ChoiceField(
        choices=CustomFieldType.choices,
        required=False,
        help_text="Refused while any record holds a value for this field.",
    )
    choices = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=200
    )
    position = serializers.IntegerField(min_value=0, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict):
            fixed = [name for name in ("key", "entity") if name in self.initial_data]
            field = self.context.get("custom_field")
            changed = [
                name for name in fixed if field is None or self.initial_data[name] != getattr(field, name)
            ]
            if changed:
                raise serializers.ValidationError(
                    {
                        name: [f"The {name} of a custom field cannot change; create a new field instead."]
                        for name in changed
                    }
                )
        return attrs
