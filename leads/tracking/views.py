"""Dashboard pages: tracked sites with their snippet, referral links, and ad lead sources with their
mapping editor, secret and recent deliveries. Marketers and admins manage them."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import KeysetOrder, keyset_page, member_required, render_page
from leads.models import (
    AdSource,
    Campaign,
    Contact,
    DeliveryStatus,
    Touchpoint,
    TouchpointType,
    TrackingSite,
    Visitor,
)
from leads.services import email_normalize
from leads.tracking import ad_sources, selectors, services
from leads.tracking.forms import AdSourceForm, AdSourceSettingsForm, ReferralCodeForm, TrackingSiteForm

CAPTURE_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER)
DELIVERY_PAGE_SIZE = 25
MAPPING_BLANK_ROWS = 3


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


# --- tracked sites and referral links ---------------------------------------------------------------


@member_required(*CAPTURE_ROLES)
@require_http_methods(["GET", "POST"])
def tracking(request: HttpRequest) -> HttpResponse:
    form = TrackingSiteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            site = services.tracking_site_create(**form.cleaned_data, actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"“{site.name}” is set up: add the snippet to its pages.")
            return redirect("tracking-site", pk=site.pk)
    return _tracking_page(request, form, ReferralCodeForm(), status=400 if form.errors else 200)


def _tracking_page(
    request: HttpRequest, site_form: TrackingSiteForm, referral_form: ReferralCodeForm, status: int = 200
) -> HttpResponse:
    since = timezone.now() - dt.timedelta(days=7)
    views = dict(
        Touchpoint.objects.filter(type=TouchpointType.PAGE_VIEW, occurred_at__gte=since)
        .order_by()
        .values("properties__site")
        .annotate(n=Count("id"))
        .values_list("properties__site", "n")
    )
    sites = list(selectors.tracking_site_list())
    for site in sites:
        site.views_7d = views.get(site.pk, 0)  # type: ignore[attr-defined]
    context = {
        "sites": sites,
        "form": site_form,
        "referral_form": referral_form,
        "referrals": selectors.referral_code_list(),
        "visitors_7d": Visitor.objects.filter(last_seen_at__gte=since).count(),
        "identified_7d": Visitor.objects.filter(last_seen_at__gte=since, contact__isnull=False).count(),
        "snippet_host": request.build_absolute_uri("/")[:-1],
    }
    return render_page(request, "leads/tracking/tracking.html", context, status=status)


@for_model(TrackingSite)
@member_required(*CAPTURE_ROLES)
@require_http_methods(["GET", "POST"])
def tracking_site(request: HttpRequest, pk: int) -> HttpResponse:
    site = get_object_or_404(TrackingSite, pk=pk)
    initial = {
        "name": site.name,
        "allowed_domains": "\n".join(site.allowed_domains),
        "site_url": site.site_url,
        "require_consent": site.require_consent,
    }
    form = TrackingSiteForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.tracking_site_update(site=site, data=form.cleaned_data, actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Site saved.")
            return redirect("tracking-site", pk=site.pk)
    since = timezone.now() - dt.timedelta(days=7)
    recent = (
        Touchpoint.objects.filter(type=TouchpointType.PAGE_VIEW, properties__site=site.pk)
        .select_related("lead__contact")
        .order_by("-occurred_at", "-id")[:15]
    )
    context = {
        "site": site,
        "form": form,
        "snippet_host": request.build_absolute_uri("/")[:-1],
        "recent": recent,
        "views_7d": Touchpoint.objects.filter(
            type=TouchpointType.PAGE_VIEW, properties__site=site.pk, occurred_at__gte=since
        ).count(),
        "visitors_7d": Visitor.objects.filter(site=site, last_seen_at__gte=since).count(),
    }
    return render_page(request, "leads/tracking/site.html", context, status=400 if form.errors else 200)


@for_model(TrackingSite)
@member_required(*CAPTURE_ROLES)
@require_http_methods(["GET", "POST"])
def tracking_site_delete(request: HttpRequest, pk: int) -> HttpResponse:
    site = get_object_or_404(TrackingSite, pk=pk)
    if request.method == "POST":
        services.tracking_site_delete(site=site, actor=_actor(request))
        messages.success(request, f"“{site.name}” is deleted; its snippet no longer records anything.")
        return redirect("tracking")
    return render(request, "leads/tracking/site_delete.html", {"site": site})


@member_required(*CAPTURE_ROLES)
@require_POST
def referral_create(request: HttpRequest) -> HttpResponse:
    form = ReferralCodeForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        referrer = None
        if data["referrer_email"]:
            referrer = Contact.objects.filter(
                email_normalized=email_normalize(data["referrer_email"])
            ).first()
            if referrer is None:
                form.add_error("referrer_email", "No contact has this email.")
        if not form.errors:
            try:
                referral = services.referral_code_create(
                    code=data["code"],
                    referrer=referrer,
                    landing_url=data["landing_url"],
                    actor=_actor(request),
                )
            except ValidationError as exc:
                service_errors_to_form(form, exc)
            else:
                messages.success(request, f"Referral code “{referral.code}” created.")
                return redirect(f"{reverse('tracking')}#referrals")
    return _tracking_page(request, TrackingSiteForm(), form, status=400)


# --- ad lead sources ----------------------------------------------------------------------------------


@member_required(*CAPTURE_ROLES)
@require_http_methods(["GET", "POST"])
def ad_source_list(request: HttpRequest) -> HttpResponse:
    form = AdSourceForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            source, secret = ad_sources.ad_source_create(**form.cleaned_data, actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            return _secret_page(request, source, secret, created=True)
    sources = list(
        selectors.ad_source_list().annotate(
            captured=Count("deliveries", filter=_status(DeliveryStatus.CAPTURED)),
            refused=Count("deliveries", filter=_status(DeliveryStatus.REJECTED)),
        )
    )
    context = {"sources": sources, "form": form}
    return render_page(request, "leads/tracking/ad_sources.html", context, status=400 if form.errors else 200)


def _status(status: str) -> Q:
    return Q(deliveries__status=status)


def _secret_page(request: HttpRequest, source: AdSource, secret: str, *, created: bool) -> HttpResponse:
    context = {
        "source": source,
        "secret": secret,
        "created": created,
        "hook_url": request.build_absolute_uri(f"/hooks/{source.public_key}/"),
    }
    return _no_store(render(request, "leads/tracking/ad_source_secret.html", context))


@for_model(AdSource)
@member_required(*CAPTURE_ROLES)
@require_http_methods(["GET", "POST"])
def ad_source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(AdSource.objects.select_related("campaign"), pk=pk)
    initial = {
        "name": source.name,
        "channel": source.channel,
        "campaign": source.campaign,
        "signature_header": source.signature_header,
        "is_active": source.is_active,
        "graph_api_url": source.graph_api_url,
    }
    posted = request.method == "POST"
    action = request.POST.get("action", "") if posted else ""
    settings_form = AdSourceSettingsForm(request.POST if action == "settings" else None, initial=initial)
    mapping_errors: list[str] = []
    if action == "settings" and settings_form.is_valid():
        try:
            ad_sources.ad_source_update(source=source, data=settings_form.cleaned_data, actor=_actor(request))
        except ValidationError as exc:
            service_errors_to_form(settings_form, exc)
        else:
            messages.success(request, "Source settings saved.")
            return redirect("ad-source", pk=source.pk)
    if action == "mapping":
        fields = dict(zip(request.POST.getlist("source_field"), request.POST.getlist("target"), strict=False))
        campaigns: dict[str, int] = {}
        for ad_campaign, campaign_id in zip(
            request.POST.getlist("ad_campaign"), request.POST.getlist("campaign_id"), strict=False
        ):
            if ad_campaign.strip() and campaign_id.strip():
                campaigns[ad_campaign.strip()] = int(campaign_id) if campaign_id.isdigit() else -1
        try:
            ad_sources.ad_source_mapping_set(
                source=source,
                field_mapping={k.strip(): v for k, v in fields.items() if k.strip() and v},
                campaign_mapping=campaigns,
                actor=_actor(request),
            )
        except ValidationError as exc:
            mapping_errors = [m for messages_ in exc.message_dict.values() for m in messages_]
        else:
            messages.success(request, "Mapping saved: it applies to the next deliveries.")
            return redirect("ad-source", pk=source.pk)
    deliveries = keyset_page(
        selectors.ad_source_deliveries(source=source),
        order=KeysetOrder("received_at"),
        cursor=request.GET.get("cursor"),
        size=DELIVERY_PAGE_SIZE,
    )
    seen = selectors.fields_seen(source=source)
    names = [*source.field_mapping, *[name for name in seen if name not in source.field_mapping]]
    labels = dict(ad_sources.mapping_targets())
    rows = [
        {
            "name": name,
            "target": source.field_mapping.get(name, ""),
            "standard": labels.get(ad_sources.DEFAULT_MAPPING.get(name.lower().replace(" ", "_"), ""), ""),
        }
        for name in names
    ]
    rows += [{"name": "", "target": "", "standard": ""}] * MAPPING_BLANK_ROWS
    campaign_rows = [(k, v) for k, v in source.campaign_mapping.items()] + [("", "")] * 2
    failures, last_failure = ad_sources.signature_failures(source)
    context = {
        "source": source,
        "settings_form": settings_form,
        "mapping_rows": rows,
        "campaign_rows": campaign_rows,
        "mapping_errors": mapping_errors,
        "targets": list(labels.items()),
        "campaigns": Campaign.objects.order_by("name"),
        "deliveries": deliveries,
        "page": deliveries,
        "hook_url": request.build_absolute_uri(f"/hooks/{source.public_key}/"),
        "signature_failures": failures,
        "last_signature_failure": last_failure,
    }
    status = 400 if (settings_form.errors or mapping_errors) else 200
    return render_page(request, "leads/tracking/ad_source.html", context, status=status)


@for_model(AdSource)
@member_required(*CAPTURE_ROLES)
@require_http_methods(["GET", "POST"])
def ad_source_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(AdSource, pk=pk)
    if request.method == "POST":
        secret = ad_sources.ad_source_rotate_secret(source=source, actor=_actor(request))
        return _secret_page(request, source, secret, created=False)
    return render(request, "leads/tracking/ad_source_rotate.html", {"source": source})


@for_model(AdSource)
@member_required(*CAPTURE_ROLES)
@require_http_methods(["GET", "POST"])
def ad_source_delete(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(AdSource, pk=pk)
    if request.method == "POST":
        ad_sources.ad_source_delete(source=source, actor=_actor(request))
        messages.success(request, f"“{source.name}” is deleted; its webhook no longer accepts leads.")
        return redirect("ad-sources")
    return render(request, "leads/tracking/ad_source_delete.html", {"source": source})
