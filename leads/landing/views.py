"""The dashboard's landing page editor (marketers and admins): the list of pages, the block editor with
its variants (htmx swaps; every form also works as a plain POST), preview, publishing, the experiment's
results, stopping it and promoting the winner. Views parse and render; leads.landing.services writes."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import member_required
from leads.landing import selectors, services
from leads.landing.forms import BlockForm, PageCreateForm, PageSettingsForm, VariantForm
from leads.landing.public import page_context
from leads.models_pages import Block, BlockType, LandingPage, Variant

PAGE_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER)
BLOCK_ICONS: dict[str, str] = {
    BlockType.HEADLINE: "zap",
    BlockType.TEXT: "book",
    BlockType.TESTIMONIALS: "chat",
    BlockType.IMAGE: "globe",
    BlockType.FORM: "mail",
    BlockType.CTA: "target",
}


def _editor_url(variant: Variant) -> str:
    return f"{reverse('landing-page-edit', args=[variant.page_id])}?variant={variant.pk}"


def _is_htmx(request: HttpRequest) -> bool:
    return bool(request.htmx)  # type: ignore[attr-defined]


# --- the list ------------------------------------------------------------------------------------------


@member_required(*PAGE_ROLES)
@require_http_methods(["GET", "POST"])
def page_list(request: HttpRequest) -> HttpResponse:
    form = PageCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            page = services.page_create(
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(
                request, f"Page “{page.name}” created as a draft with a few blocks to start from."
            )
            return redirect("landing-page-edit", pk=page.pk)
    pages = list(selectors.pages_for_list()[:200])
    totals = selectors.page_visitor_totals([p.pk for p in pages])
    rows = [
        {"page": p, "visitors": totals.get(p.pk, (0, 0))[0], "conversions": totals.get(p.pk, (0, 0))[1]}
        for p in pages
    ]
    context = {"rows": rows, "form": form, "organization_slug": request.organization.slug}  # type: ignore[attr-defined]
    return render(request, "leads/pages/page_list.html", context, status=400 if form.errors else 200)


# --- the editor ----------------------------------------------------------------------------------------


def _editor_context(
    request: HttpRequest, page: LandingPage, variant: Variant | None = None
) -> dict[str, Any]:
    variants = list(Variant.objects.filter(page=page).order_by("-is_control", "id"))
    active = [v for v in variants if v.is_active]
    if variant is None:
        wanted = request.GET.get("variant", "")
        variant = next((v for v in variants if str(v.pk) == wanted), None) or next(
            v for v in active if v.is_control
        )
    total_weight = sum(v.weight for v in active) or 1
    split, x = [], 0.0
    for v in active:
        width = 1000 * v.weight / total_weight
        split.append(
            {
                "variant": v,
                "share": round(100 * v.weight / total_weight),
                "x": round(x, 1),
                "w": round(width, 1),
                "form": VariantForm(initial={"name": v.name, "weight": v.weight}, prefix=f"v{v.pk}"),
            }
        )
        x += width
    return {
        "page": page,
        "variant": variant,
        "variants": variants,
        "active_variants": split,
        "stopped_variants": [v for v in variants if not v.is_active],
        "block_cards": _cards(variant),
        "block_types": [(t, label, BLOCK_ICONS[t]) for t, label in BlockType.choices],
        "settings_form": PageSettingsForm.for_page(page),
        "problems": services.page_problems(page=page),
        "public_url": request.build_absolute_uri(
            reverse("landing-public", args=[request.organization.slug, page.slug])  # type: ignore[attr-defined]
        ),
    }


def _cards(variant: Variant, forms: dict[int, BlockForm] | None = None) -> list[dict[str, Any]]:
    blocks = list(variant.blocks.order_by("position", "id"))
    return [
        {
            "block": b,
            "form": (forms or {}).get(b.pk) or BlockForm(b),
            "icon": BLOCK_ICONS.get(b.type, "info"),
            "first": i == 0,
            "last": i == len(blocks) - 1,
            "editable": variant.is_active,
        }
        for i, b in enumerate(blocks)
    ]


def _page_get(pk: int) -> LandingPage:
    return get_object_or_404(LandingPage, pk=pk)


@for_model(LandingPage)
@member_required(*PAGE_ROLES)
@require_GET
def page_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "leads/pages/editor.html", _editor_context(request, _page_get(pk)))


@for_model(LandingPage)
@member_required(*PAGE_ROLES)
@require_POST
def page_settings(request: HttpRequest, pk: int) -> HttpResponse:
    page = _page_get(pk)
    form = PageSettingsForm.for_page(page, request.POST)
    if form.is_valid():
        try:
            services.page_update(page=page, data=form.service_data(), actor=Actor.from_request(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, "Page settings saved.")
            return redirect("landing-page-edit", pk=page.pk)
    page.refresh_from_db()
    context = _editor_context(request, page)
    context["settings_form"] = form
    return render(request, "leads/pages/editor.html", context, status=400)


@for_model(LandingPage)
@member_required(*PAGE_ROLES)
@require_POST
def page_publish(request: HttpRequest, pk: int) -> HttpResponse:
    page = _page_get(pk)
    actor = Actor.from_request(request)
    if request.POST.get("action") == "unpublish":
        services.page_unpublish(page=page, actor=actor)
        messages.success(request, f"“{page.name}” is offline; its address answers “not found”.")
        return redirect("landing-page-edit", pk=page.pk)
    try:
        services.page_publish(page=page, actor=actor)
    except ValidationError as exc:
        for problem in exc.message_dict.get("status", exc.messages):
            messages.error(request, problem)
        return render(request, "leads/pages/editor.html", _editor_context(request, page), status=400)
    messages.success(request, f"“{page.name}” is live.")
    return redirect("landing-page-edit", pk=page.pk)


@for_model(LandingPage)
@member_required(*PAGE_ROLES)
@require_http_methods(["GET", "POST"])
def page_delete(request: HttpRequest, pk: int) -> HttpResponse:
    page = _page_get(pk)
    if request.method == "POST":
        services.page_delete(page=page, actor=Actor.from_request(request))
        messages.success(request, f"Page “{page.name}” and its results are deleted.")
        return redirect("landing-pages")
    visitors = selectors.page_visitor_totals([page.pk]).get(page.pk, (0, 0))[0]
    return render(request, "leads/pages/page_delete.html", {"page": page, "visitors": visitors})


@for_model(LandingPage)
@member_required(*PAGE_ROLES)
@require_GET
def page_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The page as visitors will see it (drafts too), without counting a view."""
    page = _page_get(pk)
    variants = list(Variant.objects.filter(page=page).order_by("-is_control", "id"))
    variant = next((v for v in variants if str(v.pk) == request.GET.get("variant")), None) or next(
        v for v in variants if v.is_control
    )
    slug = request.organization.slug  # type: ignore[attr-defined]
    context = page_context(request, page, variant, visitor_id="preview-visitor", organization_slug=slug)
    context["preview"] = True
    response = render(request, "landing/page.html", context)
    response._csp_update = context["csp_update"]  # type: ignore[attr-defined]
    return response


# --- variants ---------------------------------------------------------------------------------------


@for_model(LandingPage)
@member_required(*PAGE_ROLES)
@require_POST
def variant_add(request: HttpRequest, pk: int) -> HttpResponse:
    page = _page_get(pk)
    try:
        variant = services.variant_create(page=page, actor=Actor.from_request(request))
    except ValidationError as exc:
        for problem in exc.messages:
            messages.error(request, problem)
        return redirect("landing-page-edit", pk=page.pk)
    messages.success(
        request,
        f"Variant {variant.name} added with a copy of the control's blocks: change what you want to test.",
    )
    return redirect(_editor_url(variant))


def _variant_get(pk: int) -> Variant:
    return get_object_or_404(Variant.objects.select_related("page"), pk=pk)


@for_model(Variant)
@member_required(*PAGE_ROLES)
@require_POST
def variant_edit(request: HttpRequest, pk: int) -> HttpResponse:
    variant = _variant_get(pk)
    form = VariantForm(request.POST, prefix=f"v{variant.pk}")
    if form.is_valid():
        try:
            services.variant_update(
                variant=variant, data=form.cleaned_data, actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
    if form.errors:
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            messages.error(
                request,
                f"Variant {variant.name}: {label + ': ' if label else ''}{' '.join(str(e) for e in errors)}",
            )
        return redirect(_editor_url(variant))
    messages.success(request, f"Variant {variant.name} saved.")
    return redirect(_editor_url(variant))


@for_model(Variant)
@member_required(*PAGE_ROLES)
@require_POST
def variant_remove(request: HttpRequest, pk: int) -> HttpResponse:
    variant = _variant_get(pk)
    try:
        services.variant_archive(variant=variant, actor=Actor.from_request(request))
    except ValidationError as exc:
        for problem in exc.messages:
            messages.error(request, problem)
    else:
        messages.success(request, f"Variant {variant.name} stopped; its figures stay in the results.")
    return redirect("landing-page-edit", pk=variant.page_id)


# --- blocks (htmx: each answer is the block list, or one block's card) --------------------------------


def _blocks_response(request: HttpRequest, variant: Variant, status: int = 200) -> HttpResponse:
    if _is_htmx(request):
        return render(
            request,
            "leads/pages/_blocks.html",
            {"variant": variant, "block_cards": _cards(variant)},
            status=status,
        )
    return redirect(_editor_url(variant))


@for_model(Variant)
@member_required(*PAGE_ROLES)
@require_POST
def block_add(request: HttpRequest, pk: int) -> HttpResponseBase:
    variant = _variant_get(pk)
    try:
        services.block_add(
            variant=variant, block_type=request.POST.get("type", ""), actor=Actor.from_request(request)
        )
    except ValidationError as exc:
        for problem in exc.messages:
            messages.error(request, problem)
        if _is_htmx(request):
            return render(
                request,
                "leads/pages/_blocks.html",
                {"variant": variant, "block_cards": _cards(variant), "errors": exc.messages},
                status=400,
            )
    return _blocks_response(request, variant)


def _block_get(pk: int) -> Block:
    return get_object_or_404(Block.objects.select_related("variant", "variant__page"), pk=pk)


@for_model(Block)
@member_required(*PAGE_ROLES)
@require_POST
def block_edit(request: HttpRequest, pk: int) -> HttpResponse:
    block = _block_get(pk)
    form = BlockForm(block, request.POST)
    saved = False
    if form.is_valid():
        try:
            services.block_update(block=block, content=form.content(), actor=Actor.from_request(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            saved = True
    status = 200 if saved else 400
    if not _is_htmx(request):
        if saved:
            messages.success(request, f"{block.get_type_display()} block saved.")
            return redirect(_editor_url(block.variant))
        context = _editor_context(request, block.variant.page, block.variant)
        context["block_cards"] = _cards(block.variant, {block.pk: form})
        return render(request, "leads/pages/editor.html", context, status=status)
    if saved:
        form = BlockForm(block)
    cards = _cards(block.variant, {block.pk: form})
    card = next(c for c in cards if c["block"].pk == block.pk)
    return render(
        request,
        "leads/pages/_block.html",
        {"card": card, "saved": saved, "variant": block.variant},
        status=status,
    )


@for_model(Block)
@member_required(*PAGE_ROLES)
@require_POST
def block_move(request: HttpRequest, pk: int) -> HttpResponse:
    block = _block_get(pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    try:
        services.block_move(block=block, offset=offset, actor=Actor.from_request(request))
    except ValidationError as exc:
        return _refused(request, block.variant, exc)
    return _blocks_response(request, block.variant)


@for_model(Block)
@member_required(*PAGE_ROLES)
@require_POST
def block_remove(request: HttpRequest, pk: int) -> HttpResponse:
    block = _block_get(pk)
    try:
        services.block_delete(block=block, actor=Actor.from_request(request))
    except ValidationError as exc:
        return _refused(request, block.variant, exc)
    if not _is_htmx(request):
        messages.success(request, f"{block.get_type_display()} block removed.")
    return _blocks_response(request, block.variant)


def _refused(request: HttpRequest, variant: Variant, exc: ValidationError) -> HttpResponse:
    for problem in exc.messages:
        messages.error(request, problem)
    return _blocks_response(request, variant, status=400)


# --- results and stopping -------------------------------------------------------------------------------


@for_model(LandingPage)
@member_required(*PAGE_ROLES)
@require_GET
def page_results(request: HttpRequest, pk: int) -> HttpResponse:
    page = _page_get(pk)
    return render(
        request, "leads/pages/results.html", {"page": page, "results": selectors.experiment_results(page)}
    )


@for_model(LandingPage)
@member_required(*PAGE_ROLES)
@require_http_methods(["GET", "POST"])
def experiment_stop(request: HttpRequest, pk: int) -> HttpResponse:
    page = _page_get(pk)
    results = selectors.experiment_results(page)
    running = [r for r in results.rows if r.variant.is_active]
    if request.method == "POST":
        chosen = next((r.variant for r in running if str(r.variant.pk) == request.POST.get("keep")), None)
        if chosen is None:
            messages.error(request, "Choose the variant to keep.")
        else:
            services.experiment_stop(
                page=page, promote=None if chosen.is_control else chosen, actor=Actor.from_request(request)
            )
            messages.success(request, f"Experiment stopped: everyone now sees variant {chosen.name}.")
            return redirect("landing-page-results", pk=page.pk)
    suggested = (
        results.winner.variant if results.winner else next((r.variant for r in running if r.is_control), None)
    )
    return render(
        request,
        "leads/pages/stop.html",
        {"page": page, "results": results, "running": running, "suggested": suggested},
        status=400 if request.method == "POST" else 200,
    )
