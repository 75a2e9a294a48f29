"""Input and output serializers of the tenancy API: the caller, API keys, members and the audit log."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from leadhub.tenancy.models import ApiKey, ApiKeyScope, AuditLog, Membership, Organization, Role


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class PrincipalUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()


class PrincipalKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scope"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[("user", "Signed-in user"), ("api_key", "API key")])
    user = PrincipalUserSerializer(allow_null=True, help_text="The signed-in user (null for an API key).")
    role = serializers.ChoiceField(choices=Role.choices, allow_null=True, help_text="The user's role.")
    api_key = PrincipalKeySerializer(allow_null=True, help_text="The key in use (null for a user).")
    organization = OrganizationSerializer()


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(
        source="created_by.email", read_only=True, allow_null=True, default=None
    )
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        ref_name = "ApiKey"
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
            "is_active",
        ]
        read_only_fields = fields


class ApiKeyCreatedSerializer(ApiKeyOutputSerializer):
    key = serializers.SerializerMethodField(
        help_text="The full key. Shown in this answer only; store it now."
    )

    class Meta(ApiKeyOutputSerializer.Meta):
        ref_name = "ApiKeyCreated"
        fields = [*ApiKeyOutputSerializer.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, key: ApiKey) -> str:
        return str(self.context["raw_key"])


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=ApiKeyScope.choices, default=ApiKeyScope.FULL)


class MemberOutputSerializer(serializers.ModelSerializer):
    user = PrincipalUserSerializer(read_only=True)

    class Meta:
        model = Membership
        ref_name = "Member"
        fields = ["id", "user", "role", "created_at"]
        read_only_fields = fields


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class AuditLogSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)
    actor_user = serializers.IntegerField(source="actor_user_id", read_only=True, allow_null=True)
    actor_api_key = serializers.IntegerField(source="actor_api_key_id", read_only=True, allow_null=True)
    changes = serializers.DictField(read_only=True)

    class Meta:
        model = AuditLog
        ref_name = "AuditLogEntry"
        fields = [
            "id",
            "created_at",
            "action",
            "actor",
            "actor_user",
            "actor_api_key",
            "target_type",
            "target_id",
            "target_label",
            "changes",
            "ip_address",
        ]
        read_only_fields = fields


def me_data(request: Any) -> dict[str, Any]:
    user = request.user if getattr(request, "membership", None) is not None else None
    key = getattr(request, "api_key", None)
    return {
        "kind": "api_key" if key is not None else "user",
        "user": user,
        "role": request.membership.role if user is not None else None,
        "api_key": key,
        "organization": request.organization,
    }
