"""Forms of the page editor. They parse and show errors; leads.landing.services validates and writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from leads.landing.blocks import BLOCK_FIELDS, MAX_TESTIMONIALS, TESTIMONIAL_FIELDS, FieldSpec
from leads.models_pages import Block, BlockType, LandingPage


class PageCreateForm(forms.Form):
    name = forms.CharField(
        max_length=120, widget=forms.TextInput(attrs={"placeholder": "Spring webinar sign-up"})
    )
    slug = forms.CharField(
        max_length=80,
        required=False,
        label="Address",
        help_text="Letters, digits and dashes; made from the name when empty.",
    )


class PageSettingsForm(forms.Form):
    name = forms.CharField(max_length=120)
    slug = forms.CharField(max_length=80, label="Address")
    seo_title = forms.CharField(
        max_length=70, required=False, label="SEO title", help_text="Shown in search results and tabs; ≤ 70."
    )
    seo_description = forms.CharField(
        max_length=160,
        required=False,
        label="SEO description",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The snippet under the title in search results; ≤ 160.",
    )
    minimum_effect = forms.IntegerField(
        min_value=1,
        max_value=500,
        label="Minimum detectable lift (%)",
        help_text="The smallest relative improvement worth detecting; smaller needs more visitors.",
    )
    expected_rate = forms.FloatField(
        min_value=0.1,
        max_value=90,
        label="Expected conversion rate (%)",
        help_text="Used to plan the sample until the control has its own data.",
    )

    @classmethod
    def for_page(cls, page: LandingPage, data: QueryDict | None = None) -> PageSettingsForm:
        initial = {
            "name": page.name,
            "slug": page.slug,
            "seo_title": page.seo_title,
            "seo_description": page.seo_description,
            "minimum_effect": round(page.minimum_effect * 100),
            "expected_rate": round(page.expected_rate * 100, 2),
        }
        return cls(data, initial=initial, prefix="page")

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["minimum_effect"] = data["minimum_effect"] / 100
        data["expected_rate"] = data["expected_rate"] / 100
        return data


def _widget(spec: FieldSpec) -> forms.Widget:
    attrs = {"maxlength": str(spec.max_length)}
    if spec.kind == "textarea":
        return forms.Textarea(attrs={**attrs, "rows": 5 if spec.max_length > 1000 else 3})
    if spec.kind == "url":
        return forms.URLInput(attrs={**attrs, "placeholder": "https://"})
    if spec.kind == "form_key":
        return forms.TextInput(attrs={**attrs, "placeholder": "f_…", "spellcheck": "false"})
    return forms.TextInput(attrs=attrs)


def _field(spec: FieldSpec, required: bool) -> forms.CharField:
    # Length and format are checked by the service (one place); the form carries the values and marks
    # the required ones, with the service's wording.
    return forms.CharField(
        label=spec.label,
        required=required,
        help_text=spec.help,
        widget=_widget(spec),
        strip=False,
        error_messages={"required": f"{spec.label} is required."},
    )


class BlockForm(forms.Form):
    """The fields of one block, built from its type's FieldSpecs (testimonials get numbered slots)."""

    def __init__(self, block: Block, data: QueryDict | None = None) -> None:
        super().__init__(data, prefix=f"b{block.pk}", use_required_attribute=False)
        self.block = block
        content = block.content or {}
        for spec in BLOCK_FIELDS[block.type]:
            self.fields[spec.name] = _field(spec, spec.required)
            self.initial[spec.name] = content.get(spec.name, "")
        self.slots: list[list[str]] = []
        if block.type == BlockType.TESTIMONIALS:
            items = [i for i in content.get("items", []) if isinstance(i, dict)]
            for index in range(min(MAX_TESTIMONIALS, len(items) + 1)):
                names = []
                for spec in TESTIMONIAL_FIELDS:
                    name = f"items.{index}.{spec.name}"
                    # A slot may stay empty; a filled one is checked by the service.
                    self.fields[name] = _field(spec, False)
                    self.initial[name] = items[index].get(spec.name, "") if index < len(items) else ""
                    names.append(name)
                self.slots.append(names)

    def slot_fields(self) -> list[list[forms.BoundField]]:
        return [[self[name] for name in names] for names in self.slots]

    def plain_fields(self) -> list[forms.BoundField]:
        return [self[spec.name] for spec in BLOCK_FIELDS[self.block.type]]

    def content(self) -> dict[str, Any]:
        """The submitted content in the shape the service validates."""
        data = self.data
        content: dict[str, Any] = {
            spec.name: data.get(self.add_prefix(spec.name), "") for spec in BLOCK_FIELDS[self.block.type]
        }
        if self.block.type == BlockType.TESTIMONIALS:
            content["items"] = [
                {
                    spec.name: data.get(self.add_prefix(f"items.{i}.{spec.name}"), "")
                    for spec in TESTIMONIAL_FIELDS
                }
                for i in range(len(self.slots))
            ]
        return content


class VariantForm(forms.Form):
    name = forms.CharField(max_length=60)
    weight = forms.IntegerField(min_value=0, max_value=100, label="Traffic weight")
