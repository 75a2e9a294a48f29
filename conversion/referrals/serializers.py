"""Input and output shapes of the referral programme's API."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from conversion.models import ReferralProgramme, ReferralReward, RewardKind, RewardStatus
from leads.models import Contact, ReferralCode
from leads.serializers import TenantRelatedField


class ProgrammeSerializer(serializers.ModelSerializer):
    reward_kind = serializers.ChoiceField(choices=RewardKind.choices, required=False)
    reward_value = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    reward_currency = serializers.CharField(max_length=3, required=False, help_text="ISO 4217, e.g. EUR.")

    class Meta:
        model = ReferralProgramme
        fields = ["name", "is_active", "reward_kind", "reward_value", "reward_currency", "updated_at"]
        read_only_fields = ["updated_at"]
        extra_kwargs = {"name": {"required": False}, "is_active": {"required": False}}


class ContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    name = serializers.CharField(source="full_name", read_only=True)


class ReferralCodeSerializer(serializers.ModelSerializer):
    referrer = ContactRefSerializer(read_only=True, allow_null=True)
    link = serializers.SerializerMethodField()

    class Meta:
        model = ReferralCode
        fields = ["id", "code", "referrer", "link", "created_at"]
        read_only_fields = fields

    def get_link(self, code: ReferralCode) -> str:
        return f"{settings.SITE_URL.rstrip('/')}/r/{code.public_key}" if code.public_key else ""


class ReferralCodeIssueSerializer(serializers.Serializer):
    contact = TenantRelatedField(Contact, help_text="A customer contact (of a customer lead or an account).")


class RewardSerializer(serializers.ModelSerializer):
    referrer = ContactRefSerializer(read_only=True)
    opportunity: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ReferralReward
        fields = [
            "id",
            "referrer",
            "opportunity",
            "amount",
            "currency",
            "rule",
            "status",
            "created_at",
            "approved_at",
            "paid_at",
        ]
        read_only_fields = fields


class RewardStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=RewardStatus.choices, help_text="Forward only: approved, then paid."
    )


class MoneySerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.CharField()


class ChannelResultSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="`referral_programme` for credited referrals, else a channel.")
    label = serializers.CharField()  # type: ignore[assignment]
    leads = serializers.IntegerField()
    converted = serializers.IntegerField(help_text="Leads with a won deal.")
    conversion_rate = serializers.FloatField(help_text="Percent.")
    won_value = MoneySerializer(many=True)


class ReferrerResultSerializer(serializers.Serializer):
    referrer = ContactRefSerializer()
    code = serializers.CharField(allow_null=True)
    referred = serializers.IntegerField()
    converted = serializers.IntegerField()
    won_value = MoneySerializer(many=True)
    rewards = serializers.DictField(child=MoneySerializer(many=True))


class ResultsSerializer(serializers.Serializer):
    channels = ChannelResultSerializer(many=True)
    referrers = ReferrerResultSerializer(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        def money(m: Any) -> list[dict[str, str]]:
            return [{"currency": c, "amount": str(a)} for c, a in m.items]

        return {
            "channels": [c.as_dict() for c in instance["channels"]],
            "referrers": [
                {
                    "referrer": {"id": r.contact.pk, "email": r.contact.email, "name": r.contact.full_name},
                    "code": r.code.code if r.code else None,
                    "referred": r.referred,
                    "converted": r.converted,
                    "won_value": money(r.value),
                    "rewards": {s: money(m) for s, m in r.rewards.items()},
                }
                for r in instance["referrers"]
            ],
        }
