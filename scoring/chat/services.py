"""Every write of chat flows: the flow's settings, its questions (added, edited, reordered, removed)
and its qualification conditions. Each function is one transaction that bumps the flow's version,
stamps who changed it, and writes its audit row; errors name the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from leadhub.tenancy.models import PublicKeyKind
from leadhub.tenancy.public import public_key_issue, public_key_revoke
from leadhub.tenancy.services import Actor, audit_record
from leads.tracking.services import domains_normalize
from scoring.chat.answers import EMAIL_TARGET, MAX_OPTIONS, target_resolve
from scoring.chat.rules import condition_clean, conditions_clean
from scoring.models_chat import AnswerType, ChatFlow, ChatQuestion, QualificationMatch

TEXT_SETTINGS = (
    "name",
    "greeting",
    "consent_text",
    "qualified_message",
    "closing_message",
    "content_offer_label",
)
FLOW_SETTINGS = (
    *TEXT_SETTINGS,
    "allowed_domains",
    "is_active",
    "offer_meeting",
    "offer_handoff",
    "content_offer_url",
    "qualification_match",
)
QUESTION_SETTINGS = ("key", "prompt", "answer_type", "options", "min_value", "max_value", "target", "ask_if")
TEXT_LIMITS = {
    "name": 200,
    "greeting": 1000,
    "consent_text": 1000,
    "qualified_message": 1000,
    "closing_message": 1000,
    "content_offer_label": 200,
}
MAX_QUESTIONS = 30


def _printable(changes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, str | int | bool | list | dict) or value is None else str(value)
        for key, value in changes.items()
    }


def _touch(flow: ChatFlow, actor: Actor) -> None:
    """A change of the flow or its questions: a new version, who made it, and when."""
    flow.version += 1
    flow.updated_at = timezone.now()
    flow.updated_by = actor.user
    ChatFlow.objects.filter(pk=flow.pk).update(
        version=flow.version, updated_at=flow.updated_at, updated_by=actor.user
    )


def _lock(flow: ChatFlow) -> ChatFlow:
    """Serialise edits of one flow, and work on what is stored (the caller's copy may be stale)."""
    list(ChatFlow.objects.select_for_update().filter(pk=flow.pk).values_list("pk", flat=True))
    flow.refresh_from_db()
    return flow


def _questions(flow: ChatFlow) -> list[ChatQuestion]:
    return list(ChatQuestion.objects.filter(flow=flow).order_by("position", "id"))


def _flow_apply(flow: ChatFlow, data: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in FLOW_SETTINGS:
        if name not in data:
            continue
        value = data[name]
        if name in TEXT_SETTINGS:
            value = str(value or "").strip()
            if len(value) > TEXT_LIMITS[name]:
                raise ValidationError({name: [f"At most {TEXT_LIMITS[name]:,} characters."]})
        if name == "allowed_domains":
            value = domains_normalize(value.split() if isinstance(value, str) else list(value or []))
        elif name in {"is_active", "offer_meeting", "offer_handoff"}:
            value = bool(value)
        elif name == "content_offer_url":
            value = str(value or "").strip()
            if value:
                try:
                    URLValidator(schemes=["http", "https"])(value)
                except ValidationError:
                    raise ValidationError({name: ["Enter a full http(s) address."]}) from None
        elif name == "qualification_match" and value not in QualificationMatch.values:
            raise ValidationError({name: ["Choose all or any."]})
        if getattr(flow, name) != value:
            changes[name] = value
            setattr(flow, name, value)
    if not flow.name:
        raise ValidationError({"name": ["The flow needs a name."]})
    if not flow.greeting:
        raise ValidationError({"greeting": ["Say hello: the greeting opens the conversation."]})
    if flow.content_offer_url and not flow.content_offer_label:
        raise ValidationError({"content_offer_label": ["Name the content the link offers."]})
    return changes


def _flow_check(flow: ChatFlow, questions: list[ChatQuestion]) -> None:
    """What a live flow needs, checked whenever the flow or its questions change."""
    has_email = any(q.answer_type == AnswerType.EMAIL for q in questions)
    if has_email and not flow.consent_text:
        raise ValidationError(
            {"consent_text": ["The flow asks for an email: say what the visitor agrees to."]}
        )
    if not flow.is_active:
        return
    if not questions:
        raise ValidationError({"is_active": ["Add questions before the flow goes live."]})
    if not has_email:
        raise ValidationError(
            {"is_active": ["Add an email question before the flow goes live: leads are recognised by email."]}
        )
    if not flow.allowed_domains:
        raise ValidationError(
            {"allowed_domains": ["List the websites the widget runs on before it goes live."]}
        )


def chat_flow_create(*, data: Mapping[str, Any], actor: Actor) -> ChatFlow:
    """A new flow (not live until it has questions, an email question and its websites)."""
    flow = ChatFlow(created_by=actor.user, updated_by=actor.user)
    _flow_apply(flow, data)
    with transaction.atomic():
        if ChatFlow.objects.filter(name=flow.name).exists():
            raise ValidationError({"name": ["Another chat flow already has this name."]})
        _flow_check(flow, [])
        flow.save()
        flow.public_key = public_key_issue(
            organization=flow.organization_id, kind=PublicKeyKind.CHAT, object_id=flow.pk
        ).key
        flow.save(update_fields=["public_key"])
        audit_record(actor=actor, action="chat_flow.create", target=flow, changes={"name": flow.name})
    return flow


def chat_flow_update(*, flow: ChatFlow, data: Mapping[str, Any], actor: Actor) -> ChatFlow:
    with transaction.atomic():
        try:
            changes = _flow_apply(flow, data)
            if "name" in changes and ChatFlow.objects.filter(name=flow.name).exclude(pk=flow.pk).exists():
                raise ValidationError({"name": ["Another chat flow already has this name."]})
            _flow_check(flow, _questions(flow))
        except ValidationError:
            flow.refresh_from_db()  # the caller's object shows what is stored, not the refused change
            raise
        if changes:
            flow.version += 1
            flow.updated_at = timezone.now()
            flow.updated_by = actor.user
            flow.save()
            audit_record(actor=actor, action="chat_flow.update", target=flow, changes=_printable(changes))
    return flow


def chat_flow_delete(*, flow: ChatFlow, actor: Actor) -> None:
    """The widget stops at once (its key is revoked); leads the conversations filled stay."""
    with transaction.atomic():
        if flow.public_key:
            public_key_revoke(key=flow.public_key)
        audit_record(actor=actor, action="chat_flow.delete", target=flow, changes={"name": flow.name})
        flow.delete()


# --- questions ----------------------------------------------------------------------------------


def _decimal(name: str, value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError({name: [f"'{value}' is not a number."]}) from None
    if not number.is_finite() or abs(number) >= Decimal("1e14"):
        raise ValidationError({name: ["Give a number below 100,000,000,000,000."]})
    return number.quantize(Decimal("0.01"))


def _options_clean(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list | tuple):
        raise ValidationError({"options": ["Give the options as a list."]})
    options = list(dict.fromkeys(str(o).strip()[:200] for o in value if str(o).strip()))
    if len(options) > MAX_OPTIONS:
        raise ValidationError({"options": [f"At most {MAX_OPTIONS} options."]})
    return options


def _question_apply(
    question: ChatQuestion, data: Mapping[str, Any], earlier: list[ChatQuestion]
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in QUESTION_SETTINGS:
        if name not in data:
            continue
        value = data[name]
        if name == "key":
            value = slugify(str(value or "")).replace("-", "_")[:60]
        elif name == "prompt":
            value = str(value or "").strip()
            if len(value) > 500:
                raise ValidationError({"prompt": ["At most 500 characters."]})
        elif name == "answer_type" and value not in AnswerType.values:
            raise ValidationError({"answer_type": [f"Choose one of {', '.join(AnswerType.values)}."]})
        elif name == "options":
            value = _options_clean(value)
        elif name in {"min_value", "max_value"}:
            value = _decimal(name, value)
        elif name == "target":
            value = str(value or "").strip()
        elif name == "ask_if":
            value = dict(value) if isinstance(value, Mapping) else value
        if getattr(question, name) != value:
            changes[name] = value
            setattr(question, name, value)
    if not question.key:
        raise ValidationError({"key": ["Give the question a key (letters, digits, _)."]})
    if not question.prompt:
        raise ValidationError({"prompt": ["Write the question the visitor reads."]})
    if question.answer_type == AnswerType.CHOICE and len(question.options) < 2:
        raise ValidationError({"options": ["A single-choice question needs at least two options."]})
    if question.answer_type != AnswerType.CHOICE:
        question.options = []
    if question.answer_type != AnswerType.NUMBER:
        question.min_value = question.max_value = None
    if (
        question.min_value is not None
        and question.max_value is not None
        and question.min_value > question.max_value
    ):
        raise ValidationError({"min_value": ["The minimum is above the maximum."]})
    if question.answer_type == AnswerType.EMAIL:
        question.target = EMAIL_TARGET
    question.custom_field = target_resolve(question.target, question.answer_type, list(question.options))
    if question.ask_if:
        question.ask_if = condition_clean(question.ask_if, {q.key: q for q in earlier}, field="ask_if")
    else:
        question.ask_if = {}
    return changes


def _flow_questions_check(flow: ChatFlow, questions: list[ChatQuestion]) -> None:
    """The questions as a whole: unique keys, one email question, skip conditions that look back, and
    qualification conditions that still name questions and values that exist."""
    seen: dict[str, ChatQuestion] = {}
    for index, question in enumerate(questions):
        if question.key in seen:
            raise ValidationError({"key": [f"Another question already has the key '{question.key}'."]})
        if question.ask_if:
            try:
                condition_clean(question.ask_if, seen, field="ask_if")
            except ValidationError:
                raise ValidationError(
                    {
                        "ask_if": [
                            f"Question {index + 1} ('{question.key}') is asked only if "
                            f"'{question.ask_if.get('question')}' is answered before it: "
                            "keep that one earlier."
                        ]
                    }
                ) from None
        seen[question.key] = question
    if sum(1 for q in questions if q.answer_type == AnswerType.EMAIL) > 1:
        raise ValidationError({"answer_type": ["A flow asks for the email once."]})
    if len(questions) > MAX_QUESTIONS:
        raise ValidationError({"questions": [f"At most {MAX_QUESTIONS} questions."]})
    conditions_clean(flow.qualification, seen, field="qualification")
    _flow_check(flow, questions)


def chat_question_add(*, flow: ChatFlow, data: Mapping[str, Any], actor: Actor) -> ChatQuestion:
    with transaction.atomic():
        _lock(flow)
        questions = _questions(flow)
        position = (ChatQuestion.objects.filter(flow=flow).aggregate(p=Max("position"))["p"] or 0) + 1
        question = ChatQuestion(flow=flow, position=position)
        if not data.get("key"):
            data = {**data, "key": data.get("prompt", "")}
        _question_apply(question, data, questions)
        _flow_questions_check(flow, [*questions, question])
        question.save()
        _touch(flow, actor)
        audit_record(
            actor=actor,
            action="chat_flow.question_add",
            target=flow,
            changes={"key": question.key, "prompt": question.prompt, "type": question.answer_type},
        )
    return question


def chat_question_update(*, question: ChatQuestion, data: Mapping[str, Any], actor: Actor) -> ChatQuestion:
    with transaction.atomic():
        flow = _lock(question.flow)
        questions = _questions(flow)
        earlier = [q for q in questions if (q.position, q.pk) < (question.position, question.pk)]
        old_key = question.key
        changes = _question_apply(question, data, earlier)
        if old_key != question.key:
            _key_rename(flow, questions, old_key, question.key)
        _flow_questions_check(flow, [question if q.pk == question.pk else q for q in questions])
        if changes:
            question.save()
            _touch(flow, actor)
            audit_record(
                actor=actor,
                action="chat_flow.question_update",
                target=flow,
                changes={"key": question.key, **_printable(changes)},
            )
    return question


def _key_rename(flow: ChatFlow, questions: list[ChatQuestion], old: str, new: str) -> None:
    """Conditions name questions by key: a renamed key is renamed in them too."""
    for other in questions:
        if other.ask_if.get("question") == old:
            other.ask_if = {**other.ask_if, "question": new}
            ChatQuestion.objects.filter(pk=other.pk).update(ask_if=other.ask_if)
    if any(c.get("question") == old for c in flow.qualification):
        flow.qualification = [
            {**c, "question": new} if c.get("question") == old else c for c in flow.qualification
        ]
        ChatFlow.objects.filter(pk=flow.pk).update(qualification=flow.qualification)


def _uses(flow: ChatFlow, questions: list[ChatQuestion], key: str) -> list[str]:
    uses = [
        f"question '{q.key}' is asked only depending on it"
        for q in questions
        if q.ask_if.get("question") == key
    ]
    if any(c.get("question") == key for c in flow.qualification):
        uses.append("the qualification conditions use it")
    return uses


def chat_question_delete(*, question: ChatQuestion, actor: Actor) -> None:
    """Remove a question; answers already given keep the question's text. Refused while a condition
    depends on it, or when it is a live flow's email question."""
    with transaction.atomic():
        flow = _lock(question.flow)
        questions = [q for q in _questions(flow) if q.pk != question.pk]
        uses = _uses(flow, questions, question.key)
        if uses:
            raise ValidationError({"question": [f"'{question.key}' cannot be removed: {'; '.join(uses)}."]})
        _flow_questions_check(flow, questions)
        audit_record(
            actor=actor,
            action="chat_flow.question_delete",
            target=flow,
            changes={"key": question.key, "prompt": question.prompt},
        )
        question.delete()
        _touch(flow, actor)


def chat_questions_reorder(*, flow: ChatFlow, order: list[int], actor: Actor) -> None:
    """Put the questions in the order of `order` (question ids); those not listed follow in their
    current order. Refused when a skip condition would then look at a later question."""
    with transaction.atomic():
        _lock(flow)
        questions = _questions(flow)
        known = {q.pk: q for q in questions}
        unknown = [i for i in order if i not in known]
        if unknown:
            raise ValidationError({"order": [f"Question {unknown[0]} is not in this flow."]})
        listed = list(dict.fromkeys(order))
        ranked = [known[i] for i in listed] + [q for q in questions if q.pk not in set(listed)]
        _flow_questions_check(flow, ranked)
        for position, question in enumerate(ranked):
            question.position = position
        ChatQuestion.objects.bulk_update(ranked, ["position"])
        _touch(flow, actor)
        audit_record(
            actor=actor,
            action="chat_flow.questions_reorder",
            target=flow,
            changes={"order": [q.key for q in ranked]},
        )


def chat_question_move(*, question: ChatQuestion, offset: int, actor: Actor) -> None:
    ids = [q.pk for q in _questions(question.flow)]
    index = ids.index(question.pk)
    ids.insert(max(0, min(len(ids) - 1, index + offset)), ids.pop(index))
    chat_questions_reorder(flow=question.flow, order=ids, actor=actor)


def chat_questions_set(*, flow: ChatFlow, questions: Sequence[Mapping[str, Any]], actor: Actor) -> None:
    """The API's whole-list edit: exactly these questions, in this order, matched by key (a known key
    is edited, a new one added, the others removed)."""
    with transaction.atomic():
        _lock(flow)
        existing = {q.key: q for q in _questions(flow)}
        keys: list[str] = []
        for index, item in enumerate(questions):
            key = slugify(str(item.get("key") or "")).replace("-", "_")
            if not key:
                raise ValidationError({f"questions.{index}.key": ["Give every question a key."]})
            if key in keys:
                raise ValidationError({f"questions.{index}.key": ["This key is listed twice."]})
            keys.append(key)
        # The qualification may name questions that go away: it is set again by the caller after this.
        kept = flow.qualification
        flow.qualification = [c for c in kept if c.get("question") in keys]
        ranked: list[ChatQuestion] = []
        for index, item in enumerate(questions):
            question = existing.get(keys[index]) or ChatQuestion(flow=flow)
            try:
                _question_apply(question, item, ranked)
            except ValidationError as exc:
                raise ValidationError(
                    {f"questions.{index}.{k}": v for k, v in exc.message_dict.items()}
                ) from None
            ranked.append(question)
        try:
            _flow_questions_check(flow, ranked)
        except ValidationError as exc:
            raise ValidationError({f"questions.{k}": v for k, v in exc.message_dict.items()}) from None
        ChatQuestion.objects.filter(flow=flow).exclude(key__in=keys).delete()
        for position, question in enumerate(ranked):
            question.position = position
            question.save()
        if flow.qualification != kept:
            ChatFlow.objects.filter(pk=flow.pk).update(qualification=flow.qualification)
        _touch(flow, actor)
        audit_record(actor=actor, action="chat_flow.questions_set", target=flow, changes={"questions": keys})


# --- qualification ------------------------------------------------------------------------------


def chat_qualification_set(
    *, flow: ChatFlow, conditions: Any, actor: Actor, match: str | None = None
) -> ChatFlow:
    """Replace the qualification conditions (checked against the flow's questions and options)."""
    with transaction.atomic():
        _lock(flow)
        questions = _questions(flow)
        cleaned = conditions_clean(conditions, {q.key: q for q in questions})
        if match is not None and match not in QualificationMatch.values:
            raise ValidationError({"qualification_match": ["Choose all or any."]})
        if cleaned == flow.qualification and (match is None or match == flow.qualification_match):
            return flow
        flow.qualification = cleaned
        if match is not None:
            flow.qualification_match = match
        flow.save(update_fields=["qualification", "qualification_match"])
        _touch(flow, actor)
        audit_record(
            actor=actor,
            action="chat_flow.qualification_set",
            target=flow,
            changes={"qualification": cleaned, "match": flow.qualification_match},
        )
    return flow


def chat_condition_add(*, flow: ChatFlow, condition: Mapping[str, Any], actor: Actor) -> ChatFlow:
    return chat_qualification_set(flow=flow, conditions=[*flow.qualification, dict(condition)], actor=actor)


def chat_condition_remove(*, flow: ChatFlow, index: int, actor: Actor) -> ChatFlow:
    if not 0 <= index < len(flow.qualification):
        raise ValidationError({"index": ["No such condition."]})
    remaining = [c for i, c in enumerate(flow.qualification) if i != index]
    return chat_qualification_set(flow=flow, conditions=remaining, actor=actor)
