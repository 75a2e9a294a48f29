"""Dashboard pages of deals: the pipeline board, the deal list, a deal with its moves, won and lost, the
pipeline's stages, accounts and their onboarding checklists. Views parse and render; services write.

Sales reps see and work their own deals; managers and admins see every deal; marketers read."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods, require_POST

from conversion.deals import selectors, services
from conversion.deals.forms import LostForm, OpportunityCreateForm, OpportunityForm, PlanStepForm, StageForm
from conversion.models import (
    Account,
    OnboardingStep,
    OnboardingStepTemplate,
    Opportunity,
    OpportunityStatus,
    PipelineStage,
)
from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Membership, Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import KeysetOrder, keyset_page, member_required, render_page
from leads.models import Lead

SALES_ROLES = (Role.ADMIN, Role.SALES_MANAGER, Role.SALES_REP)
MANAGER_ROLES = (Role.ADMIN, Role.SALES_MANAGER)
PAGE_SIZE = 25


def _role(request: HttpRequest) -> str:
    return request.membership.role  # type: ignore[attr-defined]


def _visible(request: HttpRequest) -> Any:
    return selectors.opportunities_visible(user=request.user, role=_role(request))


def _owners(request: HttpRequest) -> list[Membership]:
    return list(
        Membership.objects.filter(organization=request.organization, role__in=SALES_ROLES)  # type: ignore[attr-defined]
        .select_related("user")
        .order_by("user__email")
    )


def _filters(request: HttpRequest) -> dict[str, str]:
    return {key: str(request.GET.get(key, ""))[:100] for key in ("q", "owner", "stage", "status")}


@member_required()
def pipeline(request: HttpRequest) -> HttpResponse:
    values = _filters(request)
    queryset = selectors.opportunities_filter(_visible(request), values, user=request.user)
    board = selectors.pipeline_board(queryset)
    context = {
        "board": board,
        "values": values,
        "owners": _owners(request) if _role(request) != Role.SALES_REP else [],
        "can_edit": _role(request) in SALES_ROLES,
        "can_edit_stages": _role(request) in MANAGER_ROLES,
    }
    return render_page(request, "conversion/deals/pipeline.html", context)


@member_required()
def opportunity_list(request: HttpRequest) -> HttpResponse:
    values = _filters(request)
    queryset = selectors.opportunities_filter(_visible(request), values, user=request.user)
    page = keyset_page(
        queryset, order=KeysetOrder("created_at"), cursor=request.GET.get("cursor"), size=PAGE_SIZE
    )
    context = {
        "page": page,
        "values": values,
        "stages": services.pipeline_stages_ensure(),
        "statuses": OpportunityStatus.choices,
        "owners": _owners(request) if _role(request) != Role.SALES_REP else [],
        "can_edit": _role(request) in SALES_ROLES,
    }
    return render_page(request, "conversion/deals/opportunity_list.html", context)


@member_required(*SALES_ROLES)
@require_http_methods(["GET", "POST"])
def opportunity_new(request: HttpRequest) -> HttpResponse:
    services.pipeline_stages_ensure()
    lead_id = str(request.GET.get("lead") or request.POST.get("lead") or "")
    lead = (
        Lead.objects.select_related("contact").filter(pk=int(lead_id)).first() if lead_id.isdigit() else None
    )
    can_assign = _role(request) in MANAGER_ROLES
    initial = {"name": f"{lead.contact.company or lead.contact} deal" if lead else ""}
    form = OpportunityCreateForm(request.POST or None, lead=lead, can_assign=can_assign, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = Lead.objects.filter(pk=data["lead"]).first()
        if chosen is None:
            form.add_error("lead", "No such lead.")
        else:
            try:
                deal = services.opportunity_create(
                    lead=chosen,
                    name=data["name"],
                    stage=data["stage"],
                    amount=data["amount"],
                    currency=data["currency"],
                    expected_close_date=data["expected_close_date"],
                    probability=data["probability"],
                    owner=form.owner_user() if can_assign else request.user,
                    actor=Actor.from_request(request),
                )
            except ValidationError as exc:
                service_errors_to_form(form, exc)
            else:
                messages.success(request, f"Deal “{deal.name}” opened.")
                return redirect("conversion-opportunity", pk=deal.pk)
    status = 400 if request.method == "POST" else 200
    return render_page(request, "conversion/deals/opportunity_new.html", {"form": form, "lead": lead}, status)


def _deal_context(
    request: HttpRequest, deal: Opportunity, form: OpportunityForm | None = None
) -> dict[str, Any]:
    can_edit = _role(request) in SALES_ROLES and deal.status == OpportunityStatus.OPEN
    if form is None and can_edit:
        form = OpportunityForm(
            initial={
                "name": deal.name,
                "stage": deal.stage_id,
                "amount": deal.amount,
                "currency": deal.currency,
                "expected_close_date": deal.expected_close_date,
                "probability": deal.probability,
                "owner": str(deal.owner_id or ""),
            },
            can_assign=_role(request) in MANAGER_ROLES,
        )
    return {
        "deal": deal,
        "form": form,
        "can_edit": can_edit,
        "stages": services.pipeline_stages_ensure(),
        "history": selectors.opportunity_history(opportunity=deal),
        "account": Account.objects.filter(first_opportunity=deal).first()
        or Account.objects.filter(company_id=deal.company_id).first(),
    }


@member_required()
@for_model(Opportunity)
@require_http_methods(["GET", "POST"])
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_object_or_404(_visible(request), pk=pk)
    form = None
    if request.method == "POST":
        if _role(request) not in SALES_ROLES:
            return HttpResponse(status=403)
        can_assign = _role(request) in MANAGER_ROLES
        form = OpportunityForm(request.POST, can_assign=can_assign)
        if form.is_valid():
            data = dict(form.cleaned_data)
            if can_assign:
                data["owner"] = form.owner_user()
            if data.get("probability") is None:
                data.pop("probability", None)
            try:
                services.opportunity_update(opportunity=deal, data=data, actor=Actor.from_request(request))
            except ValidationError as exc:
                service_errors_to_form(form, exc)
            else:
                messages.success(request, "Deal saved.")
                return redirect("conversion-opportunity", pk=deal.pk)
    status = 400 if form is not None and form.errors else 200
    return render_page(
        request, "conversion/deals/opportunity_detail.html", _deal_context(request, deal, form), status
    )


@member_required(*SALES_ROLES)
@for_model(Opportunity)
@require_POST
def opportunity_move(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_object_or_404(_visible(request), pk=pk)
    stage_id = str(request.POST.get("stage") or "")
    stage = PipelineStage.objects.filter(pk=int(stage_id)).first() if stage_id.isdigit() else None
    if stage is None:
        messages.error(request, "Choose a stage of this pipeline.")
    else:
        try:
            services.opportunity_move(opportunity=deal, stage=stage, actor=Actor.from_request(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Moved to {stage.name}.")
    return redirect("conversion-opportunity", pk=deal.pk)


@member_required(*SALES_ROLES)
@for_model(Opportunity)
@require_http_methods(["GET", "POST"])
def opportunity_won(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_object_or_404(_visible(request), pk=pk)
    if request.method == "POST":
        try:
            services.opportunity_win(opportunity=deal, actor=Actor.from_request(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, f"“{deal.name}” won: the lead is a customer and onboarding has started."
            )
        return redirect("conversion-opportunity", pk=deal.pk)
    return render_page(request, "conversion/deals/won_confirm.html", {"deal": deal})


@member_required(*SALES_ROLES)
@for_model(Opportunity)
@require_http_methods(["GET", "POST"])
def opportunity_lost(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_object_or_404(_visible(request), pk=pk)
    form = LostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.opportunity_lose(
                opportunity=deal,
                reason=form.cleaned_data["lost_reason"],
                note=form.cleaned_data["lost_note"],
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"“{deal.name}” marked lost.")
            return redirect("conversion-opportunity", pk=deal.pk)
    status = 400 if request.method == "POST" else 200
    return render_page(request, "conversion/deals/lost_form.html", {"deal": deal, "form": form}, status)


@member_required(*MANAGER_ROLES)
@require_http_methods(["GET", "POST"])
def stages(request: HttpRequest) -> HttpResponse:
    form = StageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            stage = services.pipeline_stage_create(
                name=form.cleaned_data["name"],
                probability=form.cleaned_data["probability"],
                position=form.cleaned_data["position"],
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Stage “{stage.name}” added.")
            return redirect("conversion-stages")
    context = {"form": form, "stages": services.pipeline_stages_ensure()}
    return render_page(request, "conversion/deals/stages.html", context, 400 if form.errors else 200)


@member_required(*MANAGER_ROLES)
@for_model(PipelineStage)
@require_POST
def stage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    stage = get_object_or_404(PipelineStage.objects.all(), pk=pk)
    form = StageForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        if data.get("position") is None:
            data.pop("position")
        try:
            services.pipeline_stage_update(stage=stage, data=data, actor=Actor.from_request(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Stage “{stage.name}” saved.")
    else:
        messages.error(
            request, " ".join(f"{k}: {' '.join(str(m) for m in v)}" for k, v in form.errors.items())
        )
    return redirect("conversion-stages")


@member_required()
def account_list(request: HttpRequest) -> HttpResponse:
    queryset = selectors.account_list()
    q = str(request.GET.get("q") or "").strip()[:100]
    if q:
        queryset = queryset.filter(company__name__icontains=q)
    page = keyset_page(
        queryset, order=KeysetOrder("became_customer_at"), cursor=request.GET.get("cursor"), size=PAGE_SIZE
    )
    context = {"page": page, "q": q, "can_edit_plan": _role(request) in MANAGER_ROLES}
    return render_page(request, "conversion/deals/account_list.html", context)


@member_required()
@for_model(Account)
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(selectors.account_list(), pk=pk)
    enrollment = selectors.account_enrollment(account=account)
    checklist = selectors.onboarding_checklist(enrollment=enrollment) if enrollment else None
    deals = (
        Opportunity.objects.filter(company_id=account.company_id).select_related("stage").order_by("-id")[:20]
    )
    context = {
        "account": account,
        "enrollment": enrollment,
        "checklist": checklist,
        "deals": deals,
        "can_edit": _role(request) in SALES_ROLES,
    }
    return render_page(request, "conversion/deals/account_detail.html", context)


@member_required(*SALES_ROLES)
@for_model(OnboardingStep)
@require_POST
def step_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    step = get_object_or_404(OnboardingStep.objects.select_related("enrollment"), pk=pk)
    done = request.POST.get("done") == "1"
    services.onboarding_step_set_done(step=step, done=done, actor=Actor.from_request(request))
    messages.success(request, f"“{step.title}” {'done' if done else 'reopened'}.")
    account_id = step.enrollment.account_id
    if account_id:
        return redirect("conversion-account", pk=account_id)
    return redirect("conversion-opportunity", pk=step.enrollment.opportunity_id)


@member_required(*MANAGER_ROLES)
@require_http_methods(["GET", "POST"])
def onboarding_plan(request: HttpRequest) -> HttpResponse:
    plan = services.onboarding_plan_default()
    form = PlanStepForm(request.POST or None, initial={"day_offset": 7})
    if request.method == "POST" and form.is_valid():
        try:
            step = services.onboarding_plan_step_add(
                title=form.cleaned_data["title"],
                day_offset=form.cleaned_data["day_offset"],
                owner_role=form.cleaned_data["owner_role"],
                owner_user=form.owner(),
                plan=plan,
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Step “{step.title}” added.")
            return redirect("conversion-onboarding-plan")
    steps = plan.steps.select_related("owner_user").order_by("day_offset", "position", "id")
    context = {"plan": plan, "steps": steps, "form": form}
    return render_page(request, "conversion/deals/onboarding_plan.html", context, 400 if form.errors else 200)


@member_required(*MANAGER_ROLES)
@for_model(OnboardingStepTemplate)
@require_http_methods(["GET", "POST"])
def onboarding_plan_step_delete(request: HttpRequest, pk: int) -> HttpResponse:
    step = get_object_or_404(OnboardingStepTemplate.objects.select_related("plan"), pk=pk)
    if request.method == "POST":
        services.onboarding_plan_step_delete(step=step, actor=Actor.from_request(request))
        messages.success(request, f"Step “{step.title}” removed from the plan.")
        return redirect("conversion-onboarding-plan")
    return render_page(request, "conversion/deals/plan_step_delete.html", {"step": step})
