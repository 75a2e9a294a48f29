"""Dashboard pages of the tenant core: sign-in and out, the organization switcher, and the admin's
settings (members and roles, API keys, audit log). Also the helpers every dashboard page shares: the
role gate and keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Generic, TypeVar

from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Field, Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import (
    ApiKeyCreateForm,
    AuditFilterForm,
    LoginForm,
    MemberAddForm,
    MemberRoleForm,
    service_errors_to_form,
)
from leadhub.tenancy.middleware import SESSION_ORGANIZATION_KEY
from leadhub.tenancy.models import ApiKey, AuditLog, Membership, Role
from leadhub.tenancy.selectors import memberships_for_user, organization_members
from leadhub.tenancy.services import (
    Actor,
    api_key_create,
    api_key_revoke,
    membership_remove,
    membership_set,
    user_get_or_create,
)

ViewFunc = Callable[..., HttpResponseBase]
V = TypeVar("V", bound=ViewFunc)
M = TypeVar("M", bound=Model)

ADMIN_ONLY: tuple[str, ...] = (Role.ADMIN,)
AUDIT_PAGE_SIZE = 50


# --- the role gate ------------------------------------------------------------------------------


def member_required(*roles: str) -> Callable[[V], V]:
    """A page for signed-in members of the current organization; with `roles`, only for those roles.

    Anonymous visitors go to sign-in, users without any membership to a page that says so, and a
    member whose role is not listed gets 403.
    """

    def decorator(view: V) -> V:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                if request.htmx:  # type: ignore[attr-defined]
                    return HttpResponseClientRedirect(f"{reverse('login')}?next={request.get_full_path()}")
                return redirect_to_login(request.get_full_path())
            membership = getattr(request, "membership", None)
            if membership is None:
                return redirect("no-organization")
            if roles and membership.role not in roles:
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = roles or tuple(Role.values)  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def htmx_partial(request: HttpRequest, target: str) -> bool:
    """True when htmx asks for just `target`; a history restore wants the whole page again."""
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and htmx.target == target and not htmx.history_restore_request


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    response = render(request, template, context, status=status)
    # The same URL answers with a fragment for htmx and a page otherwise; caches must keep both apart.
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


# --- keyset pagination ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeysetOrder:
    """A list order that pages by position, never by offset: constant cost at any depth.

    Rows are ordered by `field` then id, both `descending` or both ascending. A `nullable` field's rows
    without a value come last, as a second run ordered by id, so each run can use an index.
    """

    field: str
    descending: bool = True
    nullable: bool = False

    def runs(self) -> list[tuple[Q, str | None]]:
        if self.field in {"id", "pk"}:
            return [(Q(), None)]
        if not self.nullable:
            return [(Q(), self.field)]
        return [
            (Q(**{f"{self.field}__isnull": False}), self.field),
            (Q(**{f"{self.field}__isnull": True}), None),
        ]

    def run_of(self, row: Any) -> int:
        if self.nullable and getattr(row, self.field) is None:
            return 1
        return 0


@dataclass
class KeysetPage(Generic[M]):
    rows: list[M]
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)


def _cursor_encode(direction: str, run: int, value: Any, pk: int) -> str:
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    raw = json.dumps([direction, run, value, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str, model: type[Model], order: KeysetOrder) -> tuple[str, int, Any, int] | None:
    """The position in `cursor`, or None (first page) for anything malformed: cursors are user input."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, run, value, pk = json.loads(raw)
        if (
            direction not in {"next", "prev"}
            or not isinstance(pk, int)
            or run not in range(len(order.runs()))
        ):
            return None
        field = order.runs()[run][1]
        if field is not None:
            model_field = model._meta.get_field(field)
            if not isinstance(model_field, Field):
                return None
            value = model_field.to_python(value)
            if value is None:
                return None
        return direction, run, value, pk
    except (ValueError, TypeError, binascii.Error, ValidationError, UnicodeDecodeError):
        return None


def keyset_page(queryset: QuerySet[M], *, order: KeysetOrder, cursor: str | None, size: int) -> KeysetPage[M]:
    """One page of `queryset` in `order`, starting after (or, going back, before) `cursor`."""
    runs = order.runs()
    position = _cursor_decode(cursor, queryset.model, order) if cursor else None
    forward = position is None or position[0] == "next"
    descending = order.descending if forward else not order.descending
    op, bound = ("lt", "lte") if descending else ("gt", "gte")
    indices = list(range(len(runs))) if forward else list(range(len(runs) - 1, -1, -1))
    rows: list[M] = []
    for index in indices:
        if position is not None and (index < position[1] if forward else index > position[1]):
            continue
        where, field = runs[index]
        qs = queryset.filter(where)
        if position is not None and index == position[1]:
            _, _, value, pk = position
            if field is None:
                qs = qs.filter(**{f"pk__{op}": pk})
            else:
                # The redundant range bound lets the database walk the (field, id) index from the cursor.
                qs = qs.filter(
                    Q(**{f"{field}__{bound}": value})
                    & (Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk}))
                )
        keys = [field, "pk"] if field else ["pk"]
        qs = qs.order_by(*[f"-{k}" if descending else k for k in keys])
        rows.extend(qs[: size + 1 - len(rows)])
        if len(rows) > size:
            break
    more = len(rows) > size
    rows = rows[:size]
    if not forward:
        rows.reverse()
    has_next, has_previous = (more, position is not None) if forward else (True, more)
    next_cursor = previous_cursor = None
    if rows and has_next:
        last = rows[-1]
        next_cursor = _cursor_encode("next", order.run_of(last), getattr(last, order.field), last.pk)
    if rows and has_previous:
        first = rows[0]
        previous_cursor = _cursor_encode("prev", order.run_of(first), getattr(first, order.field), first.pk)
    return KeysetPage(rows=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --- sign-in, sign-out, organizations ---------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request, reverse("home")))
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Passing the request lets django-axes count failures and refuse locked-out credentials.
        user = authenticate(
            request=request,
            username=form.cleaned_data["email"].strip().lower(),
            password=form.cleaned_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            # AxesMiddleware answers with the lockout page (AXES_LOCKOUT_TEMPLATE) on the way out.
            return render(
                request, "tenancy/locked_out.html", {"username": form.cleaned_data["email"]}, status=429
            )
        if user is None:
            form.add_error(None, "That email and password do not match an account. Check both and try again.")
        else:
            login(request, user)
            return redirect(safe_next(request, reverse("home")))
    response = render(request, "tenancy/login.html", {"form": form, "next": request.GET.get("next", "")})
    add_never_cache_headers(response)
    return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("login")


@require_POST
def organization_switch(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("home"))
    try:
        organization_id = int(request.POST.get("organization_id", ""))
    except ValueError:
        raise Http404("No such organization.") from None
    membership = memberships_for_user(user=request.user).filter(organization_id=organization_id).first()
    if membership is None:
        # Indistinguishable from a missing organization: a user learns nothing about other tenants.
        raise Http404("No such organization.")
    request.session[SESSION_ORGANIZATION_KEY] = membership.organization_id
    messages.success(request, f"You are now working in {membership.organization.name}.")
    return redirect("home")


def no_organization(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if getattr(request, "membership", None) is not None:
        return redirect("home")
    return render(request, "tenancy/no_organization.html")


# --- settings: members and roles ------------------------------------------------------------------


@member_required(*ADMIN_ONLY)
def members(request: HttpRequest) -> HttpResponse:
    organization = request.organization  # type: ignore[attr-defined]
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        is_new = not get_user_model().objects.filter(username=data["email"]).exists()
        try:
            user = user_get_or_create(
                email=data["email"],
                # An admin sets the first password of a new account only; never replace someone's own.
                password=(data["password"] or None) if is_new else None,
                first_name=data["first_name"],
                last_name=data["last_name"],
            )
            if Membership.objects.filter(organization=organization, user=user).exists():
                raise ValidationError(
                    {"email": f"{data['email']} is already a member; change their role below."}
                )
            membership_set(
                organization=organization, user=user, role=data["role"], actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(
                request, f"{data['email']} joined {organization.name} as {Role(data['role']).label}."
            )
            return redirect("settings-members")
    context = {
        "memberships": organization_members(organization=organization),
        "form": form,
        "roles": Role.choices,
        "admin_count": Membership.objects.filter(organization=organization, role=Role.ADMIN).count(),
    }
    return render(request, "tenancy/settings/members.html", context, status=400 if form.errors else 200)


def _membership_of_org(request: HttpRequest, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "organization"),
        pk=pk,
        organization=request.organization,  # type: ignore[attr-defined]
    )


@for_model(Membership)
@member_required(*ADMIN_ONLY)
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership_of_org(request, pk)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles in the list.")
        return redirect("settings-members")
    try:
        membership_set(
            organization=membership.organization,
            user=membership.user,
            role=form.cleaned_data["role"],
            actor=Actor.from_request(request),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.email} is now {Role(form.cleaned_data['role']).label}.")
    return redirect("settings-members")


@for_model(Membership)
@member_required(*ADMIN_ONLY)
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership_of_org(request, pk)
    error = ""
    if request.method == "POST":
        try:
            membership_remove(membership=membership, actor=Actor.from_request(request))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(
                request, f"{membership.user.email} no longer has access to {membership.organization.name}."
            )
            if membership.user_id == request.user.pk:
                request.session.pop(SESSION_ORGANIZATION_KEY, None)
                return redirect("home")
            return redirect("settings-members")
    return render(
        request,
        "tenancy/settings/member_remove.html",
        {"membership": membership, "error": error},
        status=400 if error else 200,
    )


# --- settings: API keys ----------------------------------------------------------------------------


@member_required(*ADMIN_ONLY)
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    organization = request.organization  # type: ignore[attr-defined]
    form = ApiKeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = api_key_create(
                organization=organization,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            # The full key exists only in this response: it is not stored, so it cannot be shown again.
            response = render(request, "tenancy/settings/api_key_created.html", {"key": key, "raw_key": raw})
            add_never_cache_headers(response)
            return response
    keys = ApiKey.objects.filter(organization=organization).select_related("created_by", "revoked_by")
    return render(
        request,
        "tenancy/settings/api_keys.html",
        {"keys": keys, "form": form},
        status=400 if form.errors else 200,
    )


@for_model(ApiKey)
@member_required(*ADMIN_ONLY)
@require_http_methods(["GET", "POST"])
def api_key_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk, organization=request.organization)  # type: ignore[attr-defined]
    if request.method == "POST":
        api_key_revoke(key=key, actor=Actor.from_request(request))
        messages.success(request, f"The key “{key.name}” is revoked; requests using it now get 401.")
        return redirect("settings-api-keys")
    return render(request, "tenancy/settings/api_key_revoke.html", {"key": key})


# --- settings: audit log ---------------------------------------------------------------------------


@member_required(*ADMIN_ONLY)
def audit_log(request: HttpRequest) -> HttpResponse:
    actions = sorted(AuditLog.objects.order_by().values_list("action", flat=True).distinct())
    form = AuditFilterForm(request.GET or None, actions=actions)
    entries = AuditLog.objects.select_related("actor_user", "actor_api_key")
    if form.is_valid() and form.cleaned_data.get("action"):
        entries = entries.filter(action=form.cleaned_data["action"])
    page = keyset_page(
        entries, order=KeysetOrder("created_at"), cursor=request.GET.get("cursor"), size=AUDIT_PAGE_SIZE
    )
    for entry in page.rows:
        entry.change_lines = _change_lines(entry.changes)  # type: ignore[attr-defined]
    return render(request, "tenancy/settings/audit_log.html", {"form": form, "page": page})


def _change_lines(changes: Any) -> list[tuple[str, str]]:
    """Audit `changes` as readable lines: a [before, after] pair becomes "before → after"."""
    if not isinstance(changes, dict):
        return [("", str(changes))] if changes else []
    lines = []
    for field, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            before, after = ("—" if v in (None, "") else str(v) for v in value)
            lines.append((str(field), f"{before} → {after}"))
        else:
            lines.append((str(field), "—" if value in (None, "") else str(value)))
    return lines


# --- error pages -------------------------------------------------------------------------------------


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: the failure may be in the database or a context processor.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
