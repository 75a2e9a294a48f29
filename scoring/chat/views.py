"""Dashboard pages of the qualification chat (admins and marketers): the flow list, the flow editor
(settings, questions, qualification conditions, preview, embed code, recent changes), confirmations
for destructive actions, and each flow's conversations with their answers and leads."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from leadhub.tenancy.decorators import for_model
from leadhub.tenancy.forms import service_errors_to_form
from leadhub.tenancy.models import Role
from leadhub.tenancy.services import Actor
from leadhub.tenancy.views import KeysetOrder, keyset_page, member_required
from leads.models import CustomField
from scoring.chat import selectors, services
from scoring.chat.forms import ChatFlowForm, ChatQuestionForm, ConditionForm, QualificationMatchForm
from scoring.chat.rules import condition_words, rule_words
from scoring.models_chat import ChatFlow, ChatQuestion, SessionStatus

EDITOR_ROLES: tuple[str, ...] = (Role.ADMIN, Role.MARKETER)
CONVERSATION_PAGE_SIZE = 25


def _flow_get(pk: int) -> ChatFlow:
    return get_object_or_404(ChatFlow.objects.select_related("updated_by", "created_by"), pk=pk)


def _question_get(flow: ChatFlow, chat_question_pk: int) -> ChatQuestion:
    return get_object_or_404(ChatQuestion.objects.select_related("flow"), pk=chat_question_pk, flow=flow)


def _custom_fields() -> list[CustomField]:
    return list(CustomField.objects.order_by("entity", "position", "label"))


@member_required(*EDITOR_ROLES)
def chat_flow_list(request: HttpRequest) -> HttpResponse:
    return render(request, "scoring/chat_list.html", {"flows": list(selectors.chat_flow_list())})


@member_required(*EDITOR_ROLES)
@require_http_methods(["GET", "POST"])
def chat_flow_create_view(request: HttpRequest) -> HttpResponse:
    form = ChatFlowForm.for_flow(None, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        data["is_active"] = False  # a new flow has no questions yet
        try:
            flow = services.chat_flow_create(data=data, actor=Actor.from_request(request))
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Chat flow “{flow.name}” created. Add the questions it should ask.")
            return redirect("chat-flow-edit", pk=flow.pk)
    return render(request, "scoring/chat_create.html", {"form": form}, status=400 if form.errors else 200)


def _editor_context(
    request: HttpRequest,
    flow: ChatFlow,
    *,
    settings_form: ChatFlowForm | None = None,
    question_form: ChatQuestionForm | None = None,
    condition_form: ConditionForm | None = None,
) -> dict[str, Any]:
    questions = selectors.chat_questions(flow)
    base = request.build_absolute_uri("/").rstrip("/")
    first = questions[0] if questions else None
    return {
        "flow": flow,
        "questions": [
            {"question": q, "ask_if": condition_words(q.ask_if) if q.ask_if else ""} for q in questions
        ],
        "settings_form": settings_form or ChatFlowForm.for_flow(flow),
        "question_form": question_form
        or ChatQuestionForm(
            earlier=questions, custom_fields=_custom_fields(), initial={"answer_type": "choice"}
        ),
        "condition_form": condition_form or ConditionForm(questions=questions),
        "match_form": QualificationMatchForm(initial={"match": flow.qualification_match}),
        "conditions": [condition_words(c) for c in flow.qualification],
        "rule": rule_words(flow.qualification, flow.qualification_match),
        "preview_question": first,
        "script_code": f'<script src="{base}/embed/chat/{flow.public_key}.js" async></script>',
        "changes": selectors.chat_flow_changes(flow),
    }


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_http_methods(["GET", "POST"])
def chat_flow_edit(request: HttpRequest, pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    settings_form = ChatFlowForm.for_flow(flow, request.POST or None)
    if request.method == "POST" and settings_form.is_valid():
        try:
            services.chat_flow_update(
                flow=flow, data=settings_form.service_data(), actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(settings_form, exc)
        else:
            messages.success(request, "Chat flow saved.")
            return redirect("chat-flow-edit", pk=flow.pk)
    if request.method == "POST":
        flow = _flow_get(pk)
    context = _editor_context(request, flow, settings_form=settings_form)
    return render(request, "scoring/chat_edit.html", context, status=400 if settings_form.errors else 200)


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_http_methods(["GET", "POST"])
def chat_flow_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    if request.method == "POST":
        services.chat_flow_delete(flow=flow, actor=Actor.from_request(request))
        messages.success(request, f"Chat flow “{flow.name}” deleted. Leads its conversations filled stay.")
        return redirect("chat-flow-list")
    count = flow.sessions.count()
    return render(request, "scoring/chat_delete.html", {"flow": flow, "count": count})


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_POST
def chat_question_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    form = ChatQuestionForm(
        request.POST, earlier=selectors.chat_questions(flow), custom_fields=_custom_fields()
    )
    if form.is_valid():
        try:
            question = services.chat_question_add(
                flow=flow, data=form.service_data(), actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(form, _ask_if_errors(exc))
        else:
            messages.success(request, f"Question “{question.key}” added.")
            return redirect("chat-flow-edit", pk=flow.pk)
    flow = _flow_get(pk)
    return render(
        request, "scoring/chat_edit.html", _editor_context(request, flow, question_form=form), status=400
    )


def _ask_if_errors(exc: ValidationError) -> ValidationError:
    """The service names the condition `ask_if`; the form shows it under the condition's question."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {("ask_if_question" if key == "ask_if" else key): value for key, value in exc.message_dict.items()}
    )


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_http_methods(["GET", "POST"])
def chat_question_edit(request: HttpRequest, pk: int, chat_question_pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    question = _question_get(flow, chat_question_pk)
    earlier = [
        q for q in selectors.chat_questions(flow) if (q.position, q.pk) < (question.position, question.pk)
    ]
    form = ChatQuestionForm.for_question(
        question, request.POST or None, earlier=earlier, custom_fields=_custom_fields()
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.chat_question_update(
                question=question, data=form.service_data(), actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            service_errors_to_form(form, _ask_if_errors(exc))
        else:
            messages.success(request, f"Question “{question.key}” saved.")
            return redirect("chat-flow-edit", pk=flow.pk)
    return render(
        request,
        "scoring/chat_question_edit.html",
        {"flow": flow, "question": question, "form": form},
        status=400 if form.errors else 200,
    )


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_POST
def chat_question_move_view(request: HttpRequest, pk: int, chat_question_pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    question = _question_get(flow, chat_question_pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    try:
        services.chat_question_move(question=question, offset=offset, actor=Actor.from_request(request))
    except ValidationError as exc:
        messages.error(request, "Not moved: " + " ".join(exc.messages))
    return redirect("chat-flow-edit", pk=flow.pk)


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_http_methods(["GET", "POST"])
def chat_question_delete_view(request: HttpRequest, pk: int, chat_question_pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    question = _question_get(flow, chat_question_pk)
    error = ""
    if request.method == "POST":
        try:
            services.chat_question_delete(question=question, actor=Actor.from_request(request))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, f"Question “{question.key}” removed. Answers already given stay.")
            return redirect("chat-flow-edit", pk=flow.pk)
    return render(
        request,
        "scoring/chat_question_delete.html",
        {"flow": flow, "question": question, "error": error},
        status=400 if error else 200,
    )


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_POST
def chat_condition_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    form = ConditionForm(request.POST, questions=selectors.chat_questions(flow))
    if form.is_valid():
        try:
            services.chat_condition_add(
                flow=flow, condition=form.condition(), actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, "Qualification condition added.")
            return redirect("chat-flow-edit", pk=flow.pk)
    flow = _flow_get(pk)
    return render(
        request, "scoring/chat_edit.html", _editor_context(request, flow, condition_form=form), status=400
    )


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_POST
def chat_condition_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    raw = request.POST.get("index", "")
    try:
        services.chat_condition_remove(
            flow=flow, index=int(raw) if raw.isdigit() else -1, actor=Actor.from_request(request)
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Qualification condition removed.")
    return redirect("chat-flow-edit", pk=flow.pk)


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
@require_POST
def chat_condition_match_view(request: HttpRequest, pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    form = QualificationMatchForm(request.POST)
    if form.is_valid():
        services.chat_qualification_set(
            flow=flow,
            conditions=flow.qualification,
            match=form.cleaned_data["match"],
            actor=Actor.from_request(request),
        )
        messages.success(request, "Qualification rule saved.")
    else:
        messages.error(request, "Choose all or any.")
    return redirect("chat-flow-edit", pk=flow.pk)


@for_model(ChatFlow)
@member_required(*EDITOR_ROLES)
def chat_conversations(request: HttpRequest, pk: int) -> HttpResponse:
    flow = _flow_get(pk)
    status = request.GET.get("status", "")
    if status not in SessionStatus.values:
        status = ""
    page = keyset_page(
        selectors.chat_conversations(flow, status),
        order=KeysetOrder("started_at"),
        cursor=request.GET.get("cursor"),
        size=CONVERSATION_PAGE_SIZE,
    )
    return render(
        request,
        "scoring/chat_conversations.html",
        {"flow": flow, "page": page, "status": status, "statuses": SessionStatus.choices},
    )
