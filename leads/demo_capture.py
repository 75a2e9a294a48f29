"""The demo organization's capture set-up: a demo-request form, the tracked website and a landing page
with an A/B test whose form block embeds that form, so `make run` shows every capture page filled in.
Written through the same services as the dashboard."""

from __future__ import annotations

from leadhub.tenancy.services import Actor
from leads.landing import services as landing
from leads.models_forms import ConsentPurpose, Form
from leads.models_pages import Block, BlockType, Variant
from leads.tracking.services import tracking_site_create
from leads.webforms import services as forms


def demo_capture_create(*, site: str, actor: Actor) -> Form:
    """Call inside the demo organization's tenant context."""
    domain = site.removeprefix("www.")
    form = forms.form_create(
        data={
            "name": "Request a demo",
            "allowed_domains": [domain, f"*.{domain}"],
            "success_message": "Thanks! A product specialist will email you within one business day.",
            "max_fields_shown": 5,
        },
        actor=actor,
    )
    for data in (
        {"target": "contact.first_name", "required": True},
        {"target": "contact.last_name", "required": True},
        {"target": "company.name", "label": "Company", "required": True},
        {"target": "contact.job_title", "label": "Job title"},
        {"target": "lead.need", "label": "What would you like to see?", "max_length": 500},
    ):
        forms.form_field_add(form=form, data=data, actor=actor)
    forms.form_consent_set(
        form=form,
        purpose=ConsentPurpose.MARKETING_EMAIL,
        text="Send me Northwind's product news and event invitations by email. "
        "I can unsubscribe at any time.",
        required=False,
        actor=actor,
    )
    tracking_site_create(name=site, allowed_domains=[domain], site_url=f"https://{site}/", actor=actor)

    page = landing.page_create(name="Lead scoring webinar", slug="lead-scoring-webinar", actor=actor)
    landing.page_update(
        page=page,
        data={
            "seo_title": "Lead scoring that sales trusts | Northwind",
            "seo_description": "Join the 30-minute webinar: score, route and attribute every lead.",
        },
        actor=actor,
    )
    control = Variant.objects.get(page=page)
    Block.objects.filter(variant=control).delete()
    content = {
        BlockType.HEADLINE: {
            "text": "Lead scoring your sales team will actually trust",
            "subtext": "A 30-minute live session: explainable scores, SLA hand-offs and attribution.",
        },
        BlockType.TEXT: {
            "heading": "What you will see",
            "body": "- **Scores that explain themselves**, rule by rule\n"
            "- **Hand-offs in minutes** with an SLA both teams can see\n"
            "- **Attribution you can defend** from first touch to won deal",
        },
        BlockType.FORM: {"heading": "Save your seat", "form_key": form.public_key},
    }
    for block_type, values in content.items():
        block = landing.block_add(variant=control, block_type=block_type, actor=actor)
        landing.block_update(block=block, content=values, actor=actor)
    challenger = landing.variant_create(page=page, actor=actor)
    headline = Block.objects.get(variant=challenger, type=BlockType.HEADLINE)
    landing.block_update(
        block=headline,
        content={
            **content[BlockType.HEADLINE],
            "text": "Stop chasing cold leads: see scoring that explains itself",
        },
        actor=actor,
    )
    page.refresh_from_db()
    landing.page_publish(page=page, actor=actor)
    return form
