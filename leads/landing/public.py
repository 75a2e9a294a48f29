"""The visitor-facing landing pages: `/p/<organization slug>/<page slug>/`, and the endpoint its
call-to-action buttons post to. No session, no JavaScript of our own: the tenant comes from the URL,
the visitor from a first-party cookie shared with the tracking snippet."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from leadhub.tenancy.public import by_organization_slug, public_endpoint
from leadhub.tenancy.throttling import rate_limit_hit
from leads.landing import selectors, services
from leads.landing.blocks import FORM_KEY, render_text, url_origin
from leads.models_pages import Block, BlockType, LandingPage, Variant

VISITOR_COOKIE = "lh_vid"
VISITOR_COOKIE_AGE = 60 * 60 * 24 * 365
CONVERT_RATE_PER_MINUTE = 30
RENDER_CACHE_SECONDS = 600
# Stands for the visitor id in a cached rendering; ids are [A-Za-z0-9_-] only, so swapping it in is safe.
VISITOR_PLACEHOLDER = "lhvisitorplaceholder0"


def _visitor(request: HttpRequest) -> tuple[str, bool]:
    """(visitor id, is new): the cookie's id when well-formed, else a fresh one."""
    current = request.COOKIES.get(VISITOR_COOKIE, "")
    if services.visitor_id_valid(current):
        return current, False
    return services.visitor_id_new(), True


def _remember(request: HttpRequest, response: HttpResponse, visitor_id: str) -> None:
    # Readable by the tracking snippet (so not HttpOnly), first-party, sent on top-level navigation only.
    response.set_cookie(
        VISITOR_COOKIE,
        visitor_id,
        max_age=VISITOR_COOKIE_AGE,
        samesite="Lax",
        secure=request.is_secure(),
        httponly=False,
    )


def page_context(
    request: HttpRequest | None,
    page: LandingPage,
    variant: Variant,
    *,
    visitor_id: str,
    organization_slug: str,
) -> dict[str, Any]:
    blocks: list[Block] = list(variant.blocks.all())
    image_origins: set[str] = set()
    link_origins: set[str] = set()
    rendered = []
    for block in blocks:
        content = block.content or {}
        entry: dict[str, Any] = {"block": block, "type": block.type, "c": content}
        if block.type == BlockType.TEXT:
            entry["body"] = render_text(str(content.get("body", "")))
        elif block.type == BlockType.IMAGE:
            origin = url_origin(str(content.get("url", "")))
            if origin is None:
                continue  # an unfinished image block shows nothing rather than a broken image
            image_origins.add(origin)
        elif block.type == BlockType.FORM:
            key = str(content.get("form_key", ""))
            if not FORM_KEY.match(key):
                continue
            entry["script"] = f"/embed/forms/{key}.js"
        elif block.type == BlockType.CTA:
            origin = url_origin(str(content.get("url", "")))
            if origin:
                link_origins.add(origin)
            entry["done"] = request is not None and request.GET.get("done") == str(block.pk)
        rendered.append(entry)
    csp_update: dict[str, list[str]] = {}
    if image_origins:
        csp_update["img-src"] = sorted(image_origins)
    if link_origins:
        # A CTA posts here and is redirected to its link; browsers apply form-action to that redirect.
        csp_update["form-action"] = sorted(link_origins)
    return {
        "page": page,
        "variant": variant,
        "blocks": rendered,
        "visitor_id": visitor_id,
        "title": page.seo_title or page.name,
        "convert_url": reverse("landing-convert", args=[organization_slug, page.slug]),
        "hidden": {
            services.VARIANT_FIELD: variant.pk,
            services.PAGE_FIELD: page.pk,
            services.VISITOR_FIELD: visitor_id,
        },
        "csp_update": csp_update,
        "preview": False,
    }


def _rendered(page: LandingPage, organization_slug: str) -> dict[str, Any] | None:
    """The page's running variants and each one's full HTML, rendered once per version of the page.

    Every edit of the page, a block or a variant bumps `page.updated_at`, which is part of the key, so
    a stale rendering is never served; visitors differ only by their id, swapped in per request.
    """
    key = f"lp:render:{page.organization_id}:{page.pk}:{page.updated_at.timestamp()}"
    cached: dict[str, Any] | None = cache.get(key)
    if cached is not None:
        return cached
    variants = selectors.served_variants(page)
    if not variants:
        return None
    pages: dict[int, tuple[str, dict[str, list[str]]]] = {}
    for variant in variants:
        context = page_context(
            None, page, variant, visitor_id=VISITOR_PLACEHOLDER, organization_slug=organization_slug
        )
        pages[variant.pk] = (render_to_string("landing/page.html", context), context["csp_update"])
    cached = {"variants": [(v.pk, v.weight, v.is_control, v.name) for v in variants], "pages": pages}
    cache.set(key, cached, RENDER_CACHE_SECONDS)
    return cached


@public_endpoint(
    by_organization_slug(), reason="a published landing page of the organization named in the URL"
)
@require_GET
def page_public(request: HttpRequest, org: str, slug: str) -> HttpResponse:
    page = selectors.published_page(slug)
    rendered = _rendered(page, org) if page is not None else None
    if page is None or rendered is None:
        return render(request, "landing/not_found.html", status=404)
    visitor_id, new = _visitor(request)
    variants = [
        Variant(pk=pk, organization_id=page.organization_id, page_id=page.pk, weight=w, is_control=c, name=n)
        for pk, w, c, n in rendered["variants"]
    ]
    variant = services.page_view_record(page=page, variants=variants, visitor_id=visitor_id)
    if request.GET.get("done"):
        # The thank-you state of a CTA: rare, rendered for this request alone.
        variant = Variant.objects.get(pk=variant.pk)
        context = page_context(request, page, variant, visitor_id=visitor_id, organization_slug=org)
        body, csp_update = render_to_string("landing/page.html", context), context["csp_update"]
    else:
        body, csp_update = rendered["pages"][variant.pk]
        body = body.replace(VISITOR_PLACEHOLDER, visitor_id)
    response = HttpResponse(body)
    response._csp_update = csp_update  # type: ignore[attr-defined]
    # Each visitor gets their own variant: shared caches must not hand one visitor's page to another.
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Cookie"
    if new:
        _remember(request, response, visitor_id)
    return response


@public_endpoint(by_organization_slug(), reason="the call-to-action of a published landing page")
@require_POST
def page_convert(request: HttpRequest, org: str, slug: str) -> HttpResponse:
    """A click on a CTA button: counts the visitor's conversion on their variant, then follows the
    button's link (taken from the stored block, never from the request: no open redirect)."""
    page = selectors.published_page(slug)
    if page is None:
        return render(request, "landing/not_found.html", status=404)
    wait = rate_limit_hit(f"lp-convert:{request.META.get('REMOTE_ADDR', '')}", CONVERT_RATE_PER_MINUTE)
    if wait is not None:
        response = HttpResponse(
            "Too many requests; try again shortly.", status=429, content_type="text/plain"
        )
        response["Retry-After"] = str(wait)
        return response
    page_url = reverse("landing-public", args=[org, page.slug])
    block = (
        Block.objects.select_related("variant")
        .filter(pk=_int(request.POST.get("block")), type=BlockType.CTA, variant__page=page)
        .first()
    )
    if block is None:
        return HttpResponseRedirect(page_url)
    visitor_id = request.COOKIES.get(VISITOR_COOKIE, "")
    # Without the visitor's cookie (a cross-site post carries none: SameSite=Lax) nothing is counted.
    if services.visitor_id_valid(visitor_id):
        services.experiment_conversion_record(variant_id=block.variant_id, visitor_id=visitor_id)
    target = str(block.content.get("url") or "")
    if target:
        return HttpResponseRedirect(target, status=303)
    return HttpResponseRedirect(f"{page_url}?done={block.pk}#cta-{block.pk}", status=303)


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0
