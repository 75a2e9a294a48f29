"""The public face of a form, reached with its public key and no session:

- GET  /f/<key>/           the hosted form (plain HTML, works without JavaScript)
- POST /f/<key>/           a submission: urlencoded (answered with a redirect back) or JSON (the embed
                           script; answered with JSON, CORS limited to the form's domains)
- GET  /f/<key>/fields/    progressive profiling: which fields this visitor should see, and a token
- GET  /embed/forms/<key>.js   the embed script
- GET|POST /f/confirm/<token>/ the double opt-in confirmation
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods

from leadhub.tenancy.errors import json_error
from leadhub.tenancy.models import PublicKeyKind
from leadhub.tenancy.public import by_public_key, public_endpoint
from leads.models_forms import Form, FormSubmission, SubmissionSource
from leads.webforms import consent, guard, selectors, services
from leads.webforms.schema import (
    HIDDEN_KEYS,
    HONEYPOT,
    LH_KEY,
    RETURN,
    TOKEN,
    VISITOR,
    FieldSpec,
    FormDefinition,
    definition_build,
    submission_clean,
)

VISITOR_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SUCCESS_MARKER = ("lh_form", "success")
FORM_REASON = "a form's public key reaches that one form only, as a visitor would"


def _definition(request: HttpRequest) -> FormDefinition:
    form = Form.objects.filter(pk=request.public_key.object_id).first()  # type: ignore[attr-defined]
    if form is None:
        raise Http404("No such form.")
    return definition_build(form)


def _visitor_id(request: HttpRequest, raw: dict[str, Any] | None = None) -> str:
    for candidate in ((raw or {}).get(VISITOR), request.GET.get("vid"), request.COOKIES.get("lh_vid")):
        if isinstance(candidate, str) and VISITOR_ID.match(candidate):
            return candidate
    return ""


def _with_cors(request: HttpRequest, response: HttpResponse, *, preflight: bool = False) -> HttpResponse:
    for name, value in guard.cors_headers(request, preflight=preflight).items():
        response[name] = value
    return response


def _refused_origin() -> HttpResponse:
    return json_error(403, "origin_not_allowed", "This form may not be used on this website.")


def _too_many(request: HttpRequest, wait: int) -> HttpResponse:
    response = json_error(
        429,
        "rate_limited",
        f"Too many submissions; try again in {wait} seconds.",
        {"Retry-After": [str(wait)]},
    )
    response["Retry-After"] = str(wait)
    return _with_cors(request, response)


# --- the hosted form and the HTML snippet ---------------------------------------------------------


def form_context(
    definition: FormDefinition,
    *,
    shown: list[FieldSpec],
    action: str,
    hidden: dict[str, str],
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    snippet: bool = False,
) -> dict[str, Any]:
    """What templates/leads/forms/_public_form.html draws: the hosted page, the HTML embed code, and
    any page of LeadHub's that shows a form (landing pages pass their `lh_*` values in `hidden`)."""
    token = guard.token_issue(fields=[f.id for f in shown], consents=[c.id for c in definition.consents])
    values = values or {}
    return {
        "definition": definition,
        "fields": [
            {
                "spec": spec,
                "value": values.get(spec.target, ""),
                "errors": (errors or {}).get(spec.target, []),
            }
            for spec in shown
        ],
        "consents": [
            {"spec": c, "checked": bool(values.get(c.name)), "errors": (errors or {}).get(c.name, [])}
            for c in definition.consents
        ],
        "action": action,
        "hidden": {**{k: v for k, v in definition.hidden_fields.items() if k not in hidden}, **hidden},
        "token": token,
        "token_name": TOKEN,
        "honeypot": HONEYPOT,
        "snippet": snippet,
    }


def form_html(definition: FormDefinition, *, action: str, hidden: dict[str, str] | None = None) -> str:
    """The form as plain HTML (no JavaScript) for another page to include: the embed panel's snippet,
    a hosted landing page. `hidden` adds values such as `lh_variant`."""
    context = form_context(
        definition, shown=list(definition.fields), action=action, hidden=hidden or {}, snippet=True
    )
    return render_to_string("leads/forms/_public_form.html", context)


def _page_hidden(request: HttpRequest) -> dict[str, str]:
    hidden: dict[str, str] = {}
    for key in HIDDEN_KEYS:
        value = request.GET.get(key, "")
        if value:
            hidden[key] = value[:2000]
    for key in request.GET:
        if LH_KEY.match(key):
            hidden[key] = str(request.GET.get(key, ""))[:2000]
    hidden.setdefault("page_url", str(request.GET.get("return", "")) or request.build_absolute_uri())
    referrer = request.META.get("HTTP_REFERER", "")
    if referrer and "referrer" not in hidden:
        hidden["referrer"] = referrer[:2000]
    return_url = request.GET.get("return", "")
    if return_url:
        hidden[RETURN] = return_url[:2000]
    hidden[VISITOR] = _visitor_id(request)
    return {k: v for k, v in hidden.items() if v}


def _hosted(
    request: HttpRequest,
    definition: FormDefinition,
    *,
    shown: list[FieldSpec] | None = None,
    hidden: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    key = definition.public_key
    context: dict[str, Any] = {"definition": definition, "state": "form"}
    if request.method == "GET" and request.GET.get(SUCCESS_MARKER[0]) == SUCCESS_MARKER[1]:
        context["state"] = "thanks"
    elif not definition.active:
        context["state"] = "paused"
    else:
        if shown is None:
            known = selectors.contact_known(
                visitor_id=_visitor_id(request), email=request.GET.get("email", "")
            )
            shown = selectors.fields_to_show(definition, known)
        context.update(
            form_context(
                definition,
                shown=shown,
                action=f"/f/{key}/",
                hidden=hidden if hidden is not None else _page_hidden(request),
                values=values,
                errors=errors,
            )
        )
    response = render(request, "leads/forms/public_form.html", context, status=status)
    # The browser applies form-action to the redirect after the post too: allow where it may go.
    origins: set[str] = set()
    return_url = (hidden or {}).get(RETURN, "") or request.GET.get("return", "")
    for url in (definition.redirect_url, return_url):
        parts = urlsplit(url)
        if (
            parts.scheme in {"http", "https"}
            and parts.netloc
            and (url == definition.redirect_url or guard.url_allowed(url, request, definition))
        ):
            origins.add(f"{parts.scheme}://{parts.netloc}")
    if origins:
        response._csp_update = {"form-action": sorted(origins)}  # type: ignore[attr-defined]
    return response


# --- submission -----------------------------------------------------------------------------------


def _raw(request: HttpRequest, json_mode: bool) -> dict[str, Any] | None:
    if not json_mode:
        return request.POST.dict()
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _success_redirect(request: HttpRequest, definition: FormDefinition, raw: dict[str, Any]) -> str:
    if definition.redirect_url:
        return definition.redirect_url
    back = str(raw.get(RETURN) or request.META.get("HTTP_REFERER") or "")
    if back and guard.url_allowed(back, request, definition):
        parts = urlsplit(back)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != SUCCESS_MARKER[0]]
        query.append(SUCCESS_MARKER)
        return urlunsplit(parts._replace(query=urlencode(query)))
    return f"/f/{definition.public_key}/?{urlencode([SUCCESS_MARKER])}"


def _submit(request: HttpRequest, definition: FormDefinition) -> HttpResponse:
    json_mode = request.content_type == "application/json"
    if not guard.origin_allowed(request, definition):
        return _refused_origin()
    if not definition.active:
        return _with_cors(
            request, json_error(403, "form_paused", "This form is not accepting submissions at the moment.")
        )
    client_ip_hash = guard.ip_hash(guard.client_ip(request))
    wait = guard.rate_limited(form_id=definition.id, ip_digest=client_ip_hash)
    if wait is not None:
        return _too_many(request, wait)
    raw = _raw(request, json_mode)
    if raw is None:
        return _with_cors(
            request,
            json_error(400, "invalid_json", "The body must be a JSON object of field names and values."),
        )
    referrer = request.META.get("HTTP_REFERER", "")
    if referrer and not json_mode and not raw.get("page_url"):
        raw["page_url"] = referrer  # a plain HTML form on the customer's page: the page it was on
    token = guard.token_read(raw.get(TOKEN))
    spam = guard.spam_reason(raw, token)
    cleaned = None
    if not spam:
        assert token is not None
        try:
            cleaned = submission_clean(
                definition, raw, shown_fields=set(token.fields), shown_consents=set(token.consents)
            )
        except ValidationError as exc:
            errors = {key: [str(m) for m in messages] for key, messages in exc.message_dict.items()}
            if json_mode:
                return _with_cors(
                    request,
                    json_error(
                        400,
                        "validation_error",
                        "Some answers need another look: " + ", ".join(sorted(errors)) + ".",
                        errors,
                    ),
                )
            shown = [definition.fields_by_id[i] for i in sorted(token.fields) if i in definition.fields_by_id]
            shown = [f for f in definition.fields if f in shown or f.is_email]
            hidden = {
                k: str(v)
                for k, v in raw.items()
                if k in HIDDEN_KEYS or LH_KEY.match(k) or k in {RETURN, VISITOR}
            }
            return _hosted(
                request, definition, shown=shown, hidden=hidden, values=raw, errors=errors, status=400
            )
    services.submission_accept(
        form_id=definition.id,
        cleaned=cleaned,
        raw=raw,
        source=SubmissionSource.EMBED if json_mode else SubmissionSource.HTML,
        visitor_id=_visitor_id(request, raw),
        ip_hash=client_ip_hash,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        spam=spam,
        base_url=request.build_absolute_uri("/"),
    )
    # Spam gets the same answer as a real visitor: a bot learns nothing from it.
    if json_mode:
        return _with_cors(
            request,
            JsonResponse(
                {
                    "ok": True,
                    "message": definition.success_message,
                    "redirect_url": definition.redirect_url or None,
                }
            ),
        )
    return HttpResponseRedirect(_success_redirect(request, definition, raw), status=303)


@public_endpoint(by_public_key(PublicKeyKind.FORM), reason=FORM_REASON)
@require_http_methods(["GET", "POST", "OPTIONS"])
def form_public(request: HttpRequest, key: str) -> HttpResponse:
    definition = _definition(request)
    if request.method == "OPTIONS":
        if not guard.origin_allowed(request, definition):
            return _refused_origin()
        return _with_cors(request, HttpResponse(status=204), preflight=True)
    if request.method == "GET":
        return _hosted(request, definition)
    return _submit(request, definition)


@public_endpoint(by_public_key(PublicKeyKind.FORM), reason=FORM_REASON)
@require_http_methods(["GET", "OPTIONS"])
def form_fields(request: HttpRequest, key: str) -> HttpResponse:
    """Progressive profiling for the embed script: the fields to ask this visitor, and the token."""
    definition = _definition(request)
    if not guard.origin_allowed(request, definition):
        return _refused_origin()
    if request.method == "OPTIONS":
        return _with_cors(request, HttpResponse(status=204), preflight=True)
    wait = guard.rate_limited(form_id=definition.id, ip_digest=guard.ip_hash(guard.client_ip(request)))
    if wait is not None:
        return _too_many(request, wait)
    body: dict[str, Any] = {
        "name": definition.name,
        "active": definition.active,
        "submit_label": definition.submit_label,
        "success_message": definition.success_message,
        "redirect_url": definition.redirect_url or None,
        "honeypot": HONEYPOT,
    }
    if definition.active:
        known = selectors.contact_known(visitor_id=_visitor_id(request), email=request.GET.get("email", ""))
        shown = selectors.fields_to_show(definition, known)
        body.update(
            fields=[f.public() for f in shown],
            consents=[c.public() for c in definition.consents],
            hidden=dict(definition.hidden_fields),
            token=guard.token_issue(
                fields=[f.id for f in shown], consents=[c.id for c in definition.consents]
            ),
        )
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return _with_cors(request, response)


@public_endpoint(by_public_key(PublicKeyKind.FORM), reason=FORM_REASON)
@require_http_methods(["GET"])
def embed_script(request: HttpRequest, key: str) -> HttpResponse:
    definition = _definition(request)
    script = render_to_string(
        "leads/forms/embed.js",
        {
            "key": definition.public_key,
            "base": request.build_absolute_uri("/"),
            "stylesheet": request.build_absolute_uri(static("css/lh-embed.css")),
        },
    )
    response = HttpResponse(script, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    # A script from another origin: it runs in the customer's page, so it must be loadable there.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- double opt-in ----------------------------------------------------------------------------------


def by_confirmation_token(request: HttpRequest, **kwargs: Any) -> int | None:
    found = consent.confirmation_read(str(kwargs.get("token") or ""))
    if found is None:
        return None
    request.confirmation = found  # type: ignore[attr-defined]
    return found[0]


@public_endpoint(by_confirmation_token, reason="a signed confirmation link names one submission", csrf=True)
@require_http_methods(["GET", "POST"])
def consent_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button, POST confirms: mail scanners that open links must not confirm for people."""
    _, submission_id = request.confirmation  # type: ignore[attr-defined]
    submission = FormSubmission.objects.select_related("form").filter(pk=submission_id).first()
    if submission is None:
        raise Http404("This confirmation link is no longer valid.")
    state = "ask"
    if request.method == "POST":
        consent.consent_confirm(submission=submission, ip_hash=guard.ip_hash(guard.client_ip(request)))
        state = "done"
    return render(
        request,
        "leads/forms/confirm.html",
        {"state": state, "form_name": submission.form.name, "token": token},
    )
