"""The referral programme's page: the reward rule, results against the other channels, referrers with
their codes, conversions and rewards, and the rewards to approve and pay."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods, require_POST

from conversion.models import ReferralReward, RewardKind
from conversion.referrals import selectors, services
from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import KeysetOrder, keyset_page, member_required, render_page

VIEW_ROLES = (Role.ADMIN, Role.SALES_MANAGER, Role.MARKETER)
PAY_ROLES = (Role.ADMIN, Role.SALES_MANAGER)


class ProgrammeForm(forms.Form):
    is_active = forms.BooleanField(required=False, label="Programme running")
    reward_kind = forms.ChoiceField(choices=RewardKind.choices, label="Reward")
    reward_value = forms.DecimalField(min_value=0, max_digits=12, decimal_places=2, label="Amount or percent")
    reward_currency = forms.CharField(max_length=3, help_text="For fixed rewards (ISO 4217).")


@member_required(*VIEW_ROLES)
@require_http_methods(["GET", "POST"])
def programme(request: HttpRequest) -> HttpResponse:
    current = services.referral_programme_get()
    form = ProgrammeForm(
        request.POST if request.POST.get("form") == "rule" else None,
        initial={
            "is_active": current.is_active,
            "reward_kind": current.reward_kind,
            "reward_value": current.reward_value,
            "reward_currency": current.reward_currency,
        },
    )
    actor = Actor.from_request(request)
    if request.method == "POST" and request.POST.get("form") == "issue":
        made = services.referral_codes_issue(actor=actor)
        messages.success(request, f"{made} referral code{'s' if made != 1 else ''} issued.")
        return redirect("conversion-referrals")
    if request.method == "POST" and form.is_valid():
        try:
            services.referral_programme_update(data=form.cleaned_data, actor=actor)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Reward rule saved.")
            return redirect("conversion-referrals")
    rewards = keyset_page(
        selectors.reward_list(), order=KeysetOrder("id"), cursor=request.GET.get("cursor"), size=25
    )
    context = {
        "programme": current,
        "form": form,
        "channels": selectors.programme_results(),
        "referrers": selectors.referrer_table(),
        "rewards": rewards,
        "totals": selectors.reward_totals(),
        "codes": selectors.referral_codes_of_customers()[:50],
        "missing": services.customer_contacts()
        .exclude(pk__in=selectors.referral_codes_of_customers().values("referrer_id"))
        .count(),
        "site_url": settings.SITE_URL.rstrip("/"),
        "can_pay": request.membership.role in PAY_ROLES,  # type: ignore[attr-defined]
    }
    return render_page(request, "conversion/deals/referrals.html", context, 400 if form.errors else 200)


@member_required(*PAY_ROLES)
@for_model(ReferralReward)
@require_POST
def reward_status(request: HttpRequest, pk: int) -> HttpResponse:
    reward = get_object_or_404(ReferralReward.objects.all(), pk=pk)
    try:
        services.referral_reward_set_status(
            reward=reward, status=str(request.POST.get("status") or ""), actor=Actor.from_request(request)
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Reward updated.")
    return redirect("conversion-referrals")
