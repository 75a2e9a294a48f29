"""The page editor in the dashboard and the public pages: roles, htmx block editing, publishing, the
served page under its tenant URL only, the sticky variant, the CTA conversion, XSS payloads in every
block field rendered as text, and the strict CSP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog, Organization, PublicKeyKind
from leadhub.tenancy.public import public_key_issue
from leadhub.tenancy.services import Actor
from leads.landing import selectors, services
from leads.landing.public import VISITOR_COOKIE
from leads.models_pages import Block, BlockType, LandingPage, PageStatus, PageVisitor, Variant
from tests.conftest import login

ACTOR = Actor.system("test")
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'
XSS_URL = 'https://cdn.example.com/a.png?q="><script>alert(1)</script>'


def published_page(organization: Organization, slug: str = "offer", variants: int = 1) -> LandingPage:
    with tenant_context(organization):
        page = services.page_create(name="Offer", slug=slug, actor=ACTOR)
        for _ in range(variants - 1):
            services.variant_create(page=page, actor=ACTOR)
        page.refresh_from_db()
        services.page_publish(page=page, actor=ACTOR)
    return page


def variant_on(response: Any) -> int:
    found = re.search(r'name="lh_variant" value="(\d+)"', response.content.decode())
    assert found, "the page names no variant"
    return int(found.group(1))


# --- the dashboard ---------------------------------------------------------------------------------


def test_a_marketer_creates_a_page_and_lands_in_its_editor(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    response = client.post("/pages/", {"name": "Webinar sign-up", "slug": ""})
    with tenant_context(org):
        page = LandingPage.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/pages/{page.pk}/"
    editor = client.get(f"/pages/{page.pk}/")
    assert editor.status_code == 200
    body = editor.content.decode()
    assert "Blocks of variant A" in body and "/p/acme/webinar-sign-up/" in body
    listing = client.get("/pages/")
    assert "Webinar sign-up" in listing.content.decode()


def test_page_create_errors_name_the_field(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    client.post("/pages/", {"name": "Offer", "slug": "offer"})
    response = client.post("/pages/", {"name": "Again", "slug": "offer"})
    assert response.status_code == 400
    assert "already uses the address" in response.content.decode()


def test_sales_reps_cannot_edit_pages(org: Organization, sales_rep: Any) -> None:
    assert login(sales_rep, org).get("/pages/").status_code == 403


def test_empty_state(org: Organization, marketer: Any) -> None:
    assert "No landing pages yet" in login(marketer, org).get("/pages/").content.decode()


def test_htmx_block_editing(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    with tenant_context(org):
        page = services.page_create(name="Offer", actor=ACTOR)
        control = Variant.objects.get(page=page)
        headline = Block.objects.get(variant=control, type=BlockType.HEADLINE)
    htmx = {"HX-Request": "true"}
    # Save one block: the answer is that block's card.
    response = client.post(
        f"/pages/blocks/{headline.pk}/",
        {f"b{headline.pk}-text": "Grow faster", f"b{headline.pk}-subtext": "With less effort"},
        headers=htmx,
    )
    assert response.status_code == 200 and "Saved" in response.content.decode()
    assert response.content.decode().lstrip().startswith(f'<li class="block-card" id="block-{headline.pk}"')
    # An invalid save answers 400 with the message under the field, and stores nothing.
    response = client.post(f"/pages/blocks/{headline.pk}/", {f"b{headline.pk}-text": ""}, headers=htmx)
    assert response.status_code == 400 and "Headline is required" in response.content.decode()
    # Add, move and remove answer with the whole list.
    response = client.post(f"/pages/variants/{control.pk}/blocks/", {"type": "testimonials"}, headers=htmx)
    assert response.status_code == 200 and response.content.decode().count('class="block-card"') == 4
    with tenant_context(org):
        testimonials = Block.objects.get(variant=control, type=BlockType.TESTIMONIALS)
        assert testimonials.content["items"][0]["author"] == "A happy customer"
    response = client.post(
        f"/pages/blocks/{testimonials.pk}/",
        {
            f"b{testimonials.pk}-heading": "Loved by teams",
            f"b{testimonials.pk}-items.0.quote": "Doubled our demos.",
            f"b{testimonials.pk}-items.0.author": "Ada",
            f"b{testimonials.pk}-items.1.quote": "Finally one place.",
            f"b{testimonials.pk}-items.1.author": "",
        },
        headers=htmx,
    )
    assert response.status_code == 400 and "Name is required" in response.content.decode()
    client.post(f"/pages/blocks/{testimonials.pk}/move/", {"direction": "up"}, headers=htmx)
    client.post(f"/pages/blocks/{headline.pk}/delete/", headers=htmx)
    with tenant_context(org):
        order = list(
            Block.objects.filter(variant=control).order_by("position").values_list("type", flat=True)
        )
        assert order == ["text", "testimonials", "cta"]
        assert Block.objects.get(pk=testimonials.pk).content["items"][0]["author"] == "A happy customer"


def test_editing_works_without_javascript_too(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    with tenant_context(org):
        page = services.page_create(name="Offer", actor=ACTOR)
        control = Variant.objects.get(page=page)
    response = client.post(f"/pages/variants/{control.pk}/blocks/", {"type": "image"})
    assert response.status_code == 302 and f"variant={control.pk}" in response["Location"]


def test_publish_from_the_editor_and_refusals_explained(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    with tenant_context(org):
        page = services.page_create(name="Offer", actor=ACTOR)
        services.block_add(variant=Variant.objects.get(page=page), block_type=BlockType.FORM, actor=ACTOR)
    response = client.post(f"/pages/{page.pk}/publish/", {"action": "publish"})
    assert response.status_code == 400 and "Form public key is required" in response.content.decode()
    with tenant_context(org):
        Block.objects.filter(type=BlockType.FORM).delete()
    assert client.post(f"/pages/{page.pk}/publish/", {"action": "publish"}).status_code == 302
    with tenant_context(org):
        assert LandingPage.objects.get().status == PageStatus.PUBLISHED
    client.post(f"/pages/{page.pk}/publish/", {"action": "unpublish"})
    assert Client().get("/p/acme/offer/").status_code == 404


def test_settings_and_variants_from_the_editor(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    with tenant_context(org):
        page = services.page_create(name="Offer", actor=ACTOR)
    response = client.post(
        f"/pages/{page.pk}/settings/",
        {
            "page-name": "Offer",
            "page-slug": "spring-offer",
            "page-seo_title": "Spring offer",
            "page-seo_description": "Save 20 %",
            "page-minimum_effect": "15",
            "page-expected_rate": "4",
        },
    )
    assert response.status_code == 302
    with tenant_context(org):
        page.refresh_from_db()
        assert (page.slug, page.minimum_effect, page.expected_rate) == ("spring-offer", 0.15, 0.04)
    assert client.post(f"/pages/{page.pk}/variants/").status_code == 302
    with tenant_context(org):
        variant_b = Variant.objects.get(page=page, is_control=False)
    client.post(
        f"/pages/variants/{variant_b.pk}/", {f"v{variant_b.pk}-name": "Bold", f"v{variant_b.pk}-weight": "30"}
    )
    with tenant_context(org):
        variant_b.refresh_from_db()
        assert (variant_b.name, variant_b.weight) == ("Bold", 30)
    editor = client.get(f"/pages/{page.pk}/?variant={variant_b.pk}").content.decode()
    assert "Blocks of variant Bold" in editor and "38%" in editor  # 30 / (50 + 30)


def test_preview_shows_a_draft_without_counting(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    with tenant_context(org):
        page = services.page_create(name="Draft offer", actor=ACTOR)
    response = client.get(f"/pages/{page.pk}/preview/")
    assert response.status_code == 200 and "Preview of variant A" in response.content.decode()
    with tenant_context(org):
        assert not PageVisitor.objects.exists()


def test_delete_asks_first_and_is_audited(org: Organization, marketer: Any) -> None:
    client = login(marketer, org)
    page = published_page(org)
    assert "Delete “Offer”?" in client.get(f"/pages/{page.pk}/delete/").content.decode()
    assert client.post(f"/pages/{page.pk}/delete/").status_code == 302
    with tenant_context(org):
        assert not LandingPage.objects.exists()
        assert AuditLog.objects.filter(action="landing_page.deleted").exists()
    assert Client().get("/p/acme/offer/").status_code == 404


def test_another_organizations_page_is_not_found_in_the_editor(
    org: Organization, other_org: Organization, marketer: Any
) -> None:
    theirs = published_page(other_org)
    client = login(marketer, org)
    for url in (f"/pages/{theirs.pk}/", f"/pages/{theirs.pk}/results/", f"/pages/{theirs.pk}/preview/"):
        assert client.get(url).status_code == 404


# --- public pages --------------------------------------------------------------------------------------


def test_the_published_page_is_served_with_a_visitor_cookie_and_csp(org: Organization) -> None:
    published_page(org)
    response = Client().get("/p/acme/offer/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "A headline that says what you offer" in body and "<title>Offer</title>" in body
    cookie = response.cookies[VISITOR_COOKIE]
    assert services.visitor_id_valid(cookie.value) and cookie["samesite"] == "Lax"
    assert response["Cache-Control"] == "private, no-cache"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script" not in body and "style=" not in body  # nothing inline for the CSP to refuse


def test_a_draft_or_unknown_page_is_not_found(org: Organization) -> None:
    with tenant_context(org):
        services.page_create(name="Draft", slug="draft", actor=ACTOR)
    assert Client().get("/p/acme/draft/").status_code == 404
    assert Client().get("/p/acme/missing/").status_code == 404
    assert Client().get("/p/no-such-org/draft/").status_code == 404


def test_a_page_is_never_served_under_another_organizations_slug(
    org: Organization, other_org: Organization
) -> None:
    published_page(org, slug="only-acme")
    assert Client().get("/p/acme/only-acme/").status_code == 200
    assert Client().get("/p/globex/only-acme/").status_code == 404
    # The same slug in both organizations: each URL serves its own organization's page.
    published_page(other_org, slug="shared")
    with tenant_context(other_org):
        Block.objects.filter(type=BlockType.HEADLINE).update(content={"text": "Globex only", "subtext": ""})
    published_page(org, slug="shared")
    assert "Globex only" in Client().get("/p/globex/shared/").content.decode()
    assert "Globex only" not in Client().get("/p/acme/shared/").content.decode()


def test_a_signed_in_member_of_another_org_sees_the_page_of_the_url(
    org: Organization, other_org: Organization, other_admin: Any
) -> None:
    published_page(org)
    response = login(other_admin, other_org).get("/p/acme/offer/")
    assert response.status_code == 200
    with tenant_context(org):
        assert PageVisitor.objects.count() == 1


def test_the_variant_is_sticky_across_reloads(org: Organization) -> None:
    published_page(org, variants=3)
    seen: set[int] = set()
    for _ in range(12):
        client = Client()
        first = variant_on(client.get("/p/acme/offer/"))
        assert all(variant_on(client.get("/p/acme/offer/")) == first for _ in range(3))
        seen.add(first)
    assert len(seen) >= 2  # twelve visitors over three equal variants
    with tenant_context(org):
        assert PageVisitor.objects.count() == 12
        assert set(PageVisitor.objects.values_list("views", flat=True)) == {1}


def test_a_tampered_cookie_gets_a_fresh_visitor_id(org: Organization) -> None:
    published_page(org)
    client = Client()
    client.cookies[VISITOR_COOKIE] = "<script>"
    response = client.get("/p/acme/offer/")
    assert response.status_code == 200 and response.cookies[VISITOR_COOKIE].value != "<script>"


def test_the_cta_converts_the_visitor_once_and_follows_its_link(org: Organization) -> None:
    page = published_page(org, variants=2)
    with tenant_context(org):
        cta = Block.objects.filter(type=BlockType.CTA)
        services.block_update(
            block=cta.get(variant__is_control=True),
            content={"label": "Book a demo", "url": "https://calendar.example.com/demo"},
            actor=ACTOR,
        )
    client = Client()
    variant_id = variant_on(client.get("/p/acme/offer/"))
    with tenant_context(org):
        block = Block.objects.get(variant_id=variant_id, type=BlockType.CTA)
    response = client.post("/p/acme/offer/convert/", {"block": block.pk, "lh_variant": variant_id})
    assert response.status_code == 303
    if block.content.get("url"):
        assert response["Location"] == "https://calendar.example.com/demo"
        page_body = client.get("/p/acme/offer/")
        assert "https://calendar.example.com" in page_body["Content-Security-Policy"].split("form-action")[1]
    else:
        assert response["Location"] == f"/p/acme/offer/?done={block.pk}#cta-{block.pk}"
        assert "Thank you! We will be in touch." in client.get(response["Location"]).content.decode()
    client.post("/p/acme/offer/convert/", {"block": block.pk})
    with tenant_context(org):
        results = {r.variant.pk: r for r in selectors.experiment_results(page).rows}
    assert results[variant_id].conversions == 1 and results[variant_id].visitors == 1


def test_a_cta_post_without_the_visitor_cookie_counts_nothing(org: Organization) -> None:
    published_page(org)
    with tenant_context(org):
        block = Block.objects.get(type=BlockType.CTA)
    response = Client().post("/p/acme/offer/convert/", {"block": block.pk})
    assert response.status_code == 303
    with tenant_context(org):
        assert not PageVisitor.objects.exists()


def test_a_cta_of_another_page_or_org_is_ignored(org: Organization, other_org: Organization) -> None:
    published_page(org)
    published_page(other_org, slug="theirs")
    with tenant_context(other_org):
        their_block = Block.objects.get(type=BlockType.CTA)
    client = Client()
    client.get("/p/acme/offer/")
    response = client.post("/p/acme/offer/convert/", {"block": their_block.pk})
    assert response.status_code == 302 and response["Location"] == "/p/acme/offer/"
    with tenant_context(org):
        assert not PageVisitor.objects.filter(converted_at__isnull=False).exists()


def test_the_cta_endpoint_is_rate_limited(org: Organization) -> None:
    published_page(org)
    client = Client()
    statuses = [client.post("/p/acme/offer/convert/", {"block": "1"}).status_code for _ in range(32)]
    assert statuses[-1] == 429
    assert int(client.post("/p/acme/offer/convert/").headers["Retry-After"]) >= 1


def test_xss_payloads_in_every_block_field_render_as_text(org: Organization) -> None:
    form_key = public_key_issue(organization=org, kind=PublicKeyKind.FORM, object_id=1).key
    page = published_page(org)
    with tenant_context(org):
        control = Variant.objects.get(page=page)
        services.page_update(page=page, data={"seo_title": XSS[:70], "seo_description": XSS}, actor=ACTOR)
        Block.objects.filter(variant=control).delete()
        contents = {
            BlockType.HEADLINE: {"text": XSS, "subtext": XSS},
            BlockType.TEXT: {"heading": XSS, "body": f"{XSS}\n\n- **{XSS}**\n- *{XSS}*"},
            BlockType.TESTIMONIALS: {"heading": XSS, "items": [{"quote": XSS, "author": XSS, "role": XSS}]},
            BlockType.IMAGE: {"url": XSS_URL, "alt": XSS, "caption": XSS},
            BlockType.FORM: {"heading": XSS, "form_key": form_key},
            BlockType.CTA: {"label": XSS, "url": "", "thanks": XSS, "note": XSS},
        }
        for block_type, content in contents.items():
            block = services.block_add(variant=control, block_type=block_type, actor=ACTOR)
            services.block_update(block=block, content=content, actor=ACTOR)
        cta = Block.objects.get(type=BlockType.CTA)
    client = Client()
    body = client.get("/p/acme/offer/").content.decode()
    thanks = client.get(f"/p/acme/offer/?done={cta.pk}").content.decode()
    for html in (body, thanks):
        assert (
            "<script>alert" not in html
            and "<img src=x" not in html
            and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
        )
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    # The only scripts are the form's embed script, from this site.
    assert re.findall(r"<script[^>]*>", body) == [
        f'<script src="/embed/forms/{form_key}.js" data-lh-variant="{control.pk}" data-lh-page="{page.pk}" '
        f'data-lh-vid="{client.cookies[VISITOR_COOKIE].value}">'
    ]
    assert body.count("&lt;script&gt;") >= 15
    assert 'src="https://cdn.example.com/a.png?q=&quot;&gt;&lt;script&gt;' in body
    # The editor and the results page escape them as well.
    assert "<strong>&lt;script&gt;" in body  # markdown applied to escaped text


def test_the_form_block_carries_variant_page_and_visitor_for_the_embed_script(org: Organization) -> None:
    form_key = public_key_issue(organization=org, kind=PublicKeyKind.FORM, object_id=7).key
    page = published_page(org)
    with tenant_context(org):
        control = Variant.objects.get(page=page)
        block = services.block_add(variant=control, block_type=BlockType.FORM, actor=ACTOR)
        services.block_update(block=block, content={"heading": "Sign up", "form_key": form_key}, actor=ACTOR)
    client = Client()
    body = client.get("/p/acme/offer/").content.decode()
    visitor = client.cookies[VISITOR_COOKIE].value
    assert f'<script src="/embed/forms/{form_key}.js"' in body
    for name, value in (("lh_variant", control.pk), ("lh_page", page.pk), ("lh_vid", visitor)):
        assert f'<input type="hidden" name="{name}" value="{value}">' in body


def test_dashboard_pages_escape_captured_text(org: Organization, marketer: Any) -> None:
    with tenant_context(org):
        page = services.page_create(name=XSS[:120], slug="x", actor=ACTOR)
        services.variant_create(page=page, actor=ACTOR, name="<b>bold</b>")
    client = login(marketer, org)
    for url in ("/pages/", f"/pages/{page.pk}/", f"/pages/{page.pk}/results/", f"/pages/{page.pk}/stop/"):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html and "<b>bold</b>" not in html, url


# --- results and stopping -------------------------------------------------------------------------------


def test_results_say_keep_running_until_the_sample_is_in(org: Organization, marketer: Any) -> None:
    page = published_page(org, variants=2)
    with tenant_context(org):
        page.refresh_from_db()
        variants = selectors.served_variants(page)
        for i in range(40):
            variant = services.page_view_record(page=page, variants=variants, visitor_id=f"visitor{i:04d}")
            if not variant.is_control and i % 2 == 0:
                services.experiment_conversion_record(variant_id=variant.pk, visitor_id=f"visitor{i:04d}")
    html = login(marketer, org).get(f"/pages/{page.pk}/results/").content.decode()
    assert "Keep running:" in html and "more visitors per variant needed" in html
    assert "not yet judged" in html and "wins" not in html


def test_stop_and_promote_a_variant(org: Organization, marketer: Any) -> None:
    page = published_page(org, variants=2)
    with tenant_context(org):
        variant_b = Variant.objects.get(page=page, is_control=False)
        Block.objects.filter(variant=variant_b, type=BlockType.HEADLINE).update(
            content={"text": "Variant B headline", "subtext": ""}
        )
    client = login(marketer, org)
    assert "a guess" in client.get(f"/pages/{page.pk}/stop/").content.decode()
    assert client.post(f"/pages/{page.pk}/stop/", {"keep": variant_b.pk}).status_code == 302
    with tenant_context(org):
        variant_b.refresh_from_db()
        assert variant_b.is_control and variant_b.is_active
        assert Variant.objects.get(page=page, name="A").archived_at is not None
        assert AuditLog.objects.filter(action="experiment.stopped").exists()
    # Everyone, old visitors of A included, now sees B.
    for _ in range(5):
        assert "Variant B headline" in Client().get("/p/acme/offer/").content.decode()


@pytest.mark.parametrize("bad", ["", "abc", "2000000000"])
def test_stop_needs_a_running_variant(org: Organization, marketer: Any, bad: str) -> None:
    page = published_page(org, variants=2)
    response = login(marketer, org).post(f"/pages/{page.pk}/stop/", {"keep": bad})
    assert response.status_code == 400 and "Choose the variant to keep" in response.content.decode()


def test_edits_show_at_once_although_renderings_are_cached(org: Organization) -> None:
    page = published_page(org, variants=2)
    client = Client()
    variant_id = variant_on(client.get("/p/acme/offer/"))
    with tenant_context(org):
        headline = Block.objects.get(variant_id=variant_id, type=BlockType.HEADLINE)
        services.block_update(block=headline, content={"text": "Edited just now"}, actor=ACTOR)
    assert "Edited just now" in client.get("/p/acme/offer/").content.decode()
    with tenant_context(org):
        other = Variant.objects.exclude(pk=variant_id).get(page=page)
        if other.is_control:
            services.experiment_stop(page=page, actor=ACTOR)
        else:
            services.variant_archive(variant=other, actor=ACTOR)
    # The visitor's variant (or the control that replaced it) is what the page shows now.
    assert variant_on(client.get("/p/acme/offer/")) in {variant_id, other.pk}
    with tenant_context(org):
        assert Variant.objects.filter(page=page, archived_at__isnull=True).count() == 1
        served = Variant.objects.get(page=page, archived_at__isnull=True).pk
    assert variant_on(Client().get("/p/acme/offer/")) == served
