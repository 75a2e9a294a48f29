from django.contrib import admin

from leadhub.tenancy.admin import TenantAdmin
from leads.models import Campaign, CampaignSpend, Company, Contact, CustomField, Lead, StageChange, Touchpoint


@admin.register(Company)
class CompanyAdmin(TenantAdmin):
    list_display = ["name", "domain", "industry", "employee_count", "country"]
    search_fields = ["name", "domain"]


@admin.register(Contact)
class ContactAdmin(TenantAdmin):
    list_display = ["email", "first_name", "last_name", "job_title", "company"]
    search_fields = ["email_normalized", "first_name", "last_name"]
    raw_id_fields = ["company"]


@admin.register(Lead)
class LeadAdmin(TenantAdmin):
    list_display = ["id", "contact", "stage", "score", "grade", "source_channel", "owner", "created_at"]
    list_filter = ["stage", "source_channel"]
    raw_id_fields = ["contact", "campaign", "first_touch_campaign", "owner"]
    # The stage moves only through lead_change_stage, which records the history.
    readonly_fields = ["stage", "stage_changed_at"]


@admin.register(StageChange)
class StageChangeAdmin(TenantAdmin):
    list_display = ["lead", "from_stage", "to_stage", "changed_at", "rule"]
    raw_id_fields = ["lead"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Touchpoint)
class TouchpointAdmin(TenantAdmin):
    list_display = ["type", "occurred_at", "channel", "lead", "url"]
    list_filter = ["type", "channel"]
    raw_id_fields = ["lead", "contact", "campaign"]


@admin.register(Campaign)
class CampaignAdmin(TenantAdmin):
    list_display = ["name", "channel", "utm_campaign", "start_date", "end_date", "budget"]


@admin.register(CampaignSpend)
class CampaignSpendAdmin(TenantAdmin):
    list_display = ["campaign", "date", "amount", "currency"]
    raw_id_fields = ["campaign"]


@admin.register(CustomField)
class CustomFieldAdmin(TenantAdmin):
    list_display = ["entity", "key", "label", "field_type"]
