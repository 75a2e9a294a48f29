"""The blocks a landing page is built from: what each type holds, how its content is validated, and
how its text is turned into markup.

Content is plain text. The value proposition allows a small markdown subset (paragraphs, "- " lists,
**bold**, *italic*); it is escaped first and only then given those few fixed tags, so no stored
character can become markup. URLs are limited to http(s) (and site-relative paths for a button).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from leads.models_pages import BlockType

MAX_TESTIMONIALS = 6
FORM_KEY = re.compile(r"^f_[A-Za-z0-9_-]{4,38}$")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str = "text"  # text | textarea | url | link | form_key
    max_length: int = 200
    required: bool = False
    help: str = ""


BLOCK_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    BlockType.HEADLINE: (
        FieldSpec("text", "Headline", max_length=120, required=True),
        FieldSpec("subtext", "Subheadline", "textarea", max_length=300),
    ),
    BlockType.TEXT: (
        FieldSpec("heading", "Heading", max_length=120),
        FieldSpec(
            "body",
            "Text",
            "textarea",
            max_length=5000,
            required=True,
            help="Blank line between paragraphs; lines starting with “- ” make a list; **bold**, *italic*.",
        ),
    ),
    BlockType.TESTIMONIALS: (FieldSpec("heading", "Heading", max_length=120),),
    BlockType.IMAGE: (
        FieldSpec("url", "Image URL", "url", max_length=2000, required=True, help="An https:// address."),
        FieldSpec("alt", "Alternative text", max_length=200, required=True, help="What the image shows."),
        FieldSpec("caption", "Caption", max_length=200),
    ),
    BlockType.FORM: (
        FieldSpec("heading", "Heading", max_length=120),
        FieldSpec(
            "form_key",
            "Form public key",
            "form_key",
            max_length=40,
            required=True,
            help="The form's public key (f_…), from the form's embed code.",
        ),
    ),
    BlockType.CTA: (
        FieldSpec("label", "Button label", max_length=60, required=True),
        FieldSpec(
            "url",
            "Button link",
            "link",
            max_length=2000,
            help="Where the button leads (https://… or /path). Empty: stay and show the thank-you text.",
        ),
        FieldSpec("thanks", "Thank-you text", max_length=200, help="Shown after a click without a link."),
        FieldSpec("note", "Small print", max_length=200),
    ),
}
TESTIMONIAL_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("quote", "Quote", "textarea", max_length=600, required=True),
    FieldSpec("author", "Name", max_length=100, required=True),
    FieldSpec("role", "Role and company", max_length=120),
)

# What a new block starts with: readable placeholders the marketer overwrites (a form block waits for
# its key, and publishing refuses it until then).
DEFAULT_CONTENT: dict[str, dict[str, Any]] = {
    BlockType.HEADLINE: {"text": "A headline that says what you offer", "subtext": ""},
    BlockType.TEXT: {
        "heading": "Why teams choose us",
        "body": "- A first reason\n- A second reason\n- A third reason",
    },
    BlockType.TESTIMONIALS: {
        "heading": "What our customers say",
        "items": [{"quote": "It changed how we work.", "author": "A happy customer", "role": ""}],
    },
    BlockType.IMAGE: {"url": "", "alt": "", "caption": ""},
    BlockType.FORM: {"heading": "Get started", "form_key": ""},
    BlockType.CTA: {
        "label": "Get started",
        "url": "",
        "thanks": "Thank you! We will be in touch.",
        "note": "",
    },
}

_http_url = URLValidator(schemes=["http", "https"])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError
    # Normalise line ends; strip the control characters no page needs (NUL breaks PostgreSQL text).
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in value if ch in "\n\t" or ch >= " ").strip()


def _clean_field(spec: FieldSpec, raw: Any, errors: dict[str, list[str]], key: str) -> str:
    try:
        value = _text(raw)
    except TypeError:
        errors[key] = [f"{spec.label} must be text."]
        return ""
    if not value:
        if spec.required:
            errors[key] = [f"{spec.label} is required."]
        return ""
    if len(value) > spec.max_length:
        errors[key] = [f"{spec.label} is at most {spec.max_length} characters (it has {len(value)})."]
        return value
    if spec.kind in {"url", "link"} and not (spec.kind == "link" and _is_site_path(value)):
        try:
            _http_url(value)
        except ValidationError:
            allowed = (
                "an http(s):// address or a path starting with /"
                if spec.kind == "link"
                else ("an http(s):// address")
            )
            errors[key] = [f"{spec.label} must be {allowed}."]
    if spec.kind == "form_key" and not FORM_KEY.match(value):
        errors[key] = [f"{spec.label} looks like f_… (letters, digits, - and _)."]
    if spec.kind == "text" and "\n" in value:
        value = " ".join(value.split())
    return value


def _is_site_path(value: str) -> bool:
    return value.startswith("/") and not value.startswith("//") and "\\" not in value


def content_clean(block_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validated content for a block of `block_type`, or a ValidationError keyed by field name
    (`items.<n>.<field>` for a testimonial)."""
    if block_type not in BLOCK_FIELDS:
        raise ValidationError({"type": [f"Unknown block type “{block_type}”."]})
    if not isinstance(data, Mapping):
        raise ValidationError({"content": ["Block content must be an object."]})
    errors: dict[str, list[str]] = {}
    content: dict[str, Any] = {}
    for spec in BLOCK_FIELDS[block_type]:
        content[spec.name] = _clean_field(spec, data.get(spec.name), errors, spec.name)
    if block_type == BlockType.TESTIMONIALS:
        content["items"] = _testimonials_clean(data.get("items"), errors)
    if errors:
        raise ValidationError(errors)
    return content


def _testimonials_clean(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        errors["items"] = ["Testimonials must be a list."]
        return []
    items: list[dict[str, str]] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            errors[f"items.{index}"] = ["Each testimonial must be an object."]
            continue
        if not any(_text(v) if isinstance(v, str) else v for v in entry.values()):
            continue  # an empty slot of the editor
        item = {
            spec.name: _clean_field(spec, entry.get(spec.name), errors, f"items.{index}.{spec.name}")
            for spec in TESTIMONIAL_FIELDS
        }
        items.append(item)
    if not items and "items" not in errors:
        errors["items"] = ["Add at least one testimonial."]
    if len(items) > MAX_TESTIMONIALS:
        errors["items"] = [f"At most {MAX_TESTIMONIALS} testimonials per block."]
    return items


def content_problems(block_type: str, content: Mapping[str, Any]) -> list[str]:
    """Why a stored block cannot be published yet (empty list when it can)."""
    try:
        content_clean(block_type, content)
    except ValidationError as exc:
        return [message for messages in exc.message_dict.values() for message in messages]
    return []


# --- rendering -------------------------------------------------------------------------------------

_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_BULLET = re.compile(r"^[-*]\s+")


def _inline(line: str) -> str:
    # Escaped first: the patterns below only ever wrap already-escaped text in fixed tags.
    text = str(escape(line))
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return _ITALIC.sub(r"<em>\1</em>", text)


def render_text(text: str) -> SafeString:
    """The value proposition's limited markdown as HTML (paragraphs, lists, bold, italic)."""
    parts: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        if not lines:
            continue
        if all(_BULLET.match(line) for line in lines):
            items = "".join(f"<li>{_inline(_BULLET.sub('', line))}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append("<p>" + "<br>".join(_inline(line) for line in lines) + "</p>")
    return mark_safe("".join(parts))  # noqa: S308  (every piece of text above went through escape())


def url_origin(url: str) -> str | None:
    """`https://host[:port]` of an absolute http(s) URL, for the page's Content-Security-Policy."""
    parts = urlsplit(url)
    if (
        parts.scheme in {"http", "https"}
        and parts.netloc
        and re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", parts.netloc)
    ):
        return f"{parts.scheme}://{parts.netloc}"
    return None
