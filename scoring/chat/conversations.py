"""Every write of a conversation with the widget: starting it, recording each answer (and filling it
into the lead as it comes), deciding whether the answers qualify, and what a qualified visitor asks
for next (a meeting request, or a hand-off to sales).

The lead is filled through the capture services only: `lead_capture` once the email is known (with a
chat touchpoint and the visitor's earlier anonymous touchpoints stitched), `lead_update` for BANT
answers, the contact upsert for contact and custom fields, and `lead_change_stage` for the hand-off.
Rescoring follows from the events those services publish; nothing here scores.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from leadhub.tenancy.services import Actor
from leads.models import Lead, Stage, Touchpoint, TouchpointType
from leads.models_forms import ConsentPurpose, ConsentSource
from leads.services import contact_upsert, lead_capture, lead_change_stage, lead_update, touchpoints_record
from leads.tracking.channels import channel_classify
from leads.tracking.services import visitor_identify
from leads.webforms.consent import consent_record
from scoring.chat.answers import BANT_TARGETS, CONTACT_TARGETS, answer_clean
from scoring.chat.rules import Verdict, condition_met, qualification_evaluate
from scoring.models_chat import (
    AnswerType,
    ChatAnswer,
    ChatFlow,
    ChatQuestion,
    ChatSession,
    MeetingRequest,
    MeetingSlot,
    SessionOutcome,
    SessionStatus,
)

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
# Stages a hand-off may lift to MQL; any other stage is already further (or ended) and stays.
HANDOFF_FROM = frozenset({Stage.COLD, Stage.RECYCLED})
MEETING_HORIZON_DAYS = 90


class ConversationConflict(Exception):
    """The request does not fit where the conversation stands (answered out of order, finished)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# The rule the stage history shows for what the chat did.
CHAT_ACTOR = Actor.system("chat")


@dataclass(frozen=True)
class State:
    session: ChatSession
    questions: list[ChatQuestion]
    answers: list[ChatAnswer]
    next_question: ChatQuestion | None

    @property
    def finished(self) -> bool:
        return self.next_question is None


def _values(answers: list[ChatAnswer]) -> dict[str, Any]:
    return {a.question_key: a.value for a in answers}


def next_question(questions: list[ChatQuestion], answers: dict[str, Any]) -> ChatQuestion | None:
    """The first question not answered yet whose skip condition (if any) the answers meet."""
    for question in questions:
        if question.key in answers:
            continue
        if question.ask_if and not condition_met(question.ask_if, answers):
            continue
        return question
    return None


def state_of(session: ChatSession) -> State:
    questions = list(
        ChatQuestion.objects.filter(flow_id=session.flow_id)
        .select_related("custom_field")
        .order_by("position", "id")
    )
    answers = list(ChatAnswer.objects.filter(session=session).order_by("answered_at", "id"))
    return State(session, questions, answers, next_question(questions, _values(answers)))


def verdict_of(flow: ChatFlow, answers: list[ChatAnswer]) -> Verdict:
    return qualification_evaluate(
        flow.qualification,
        flow.qualification_match,
        _values(answers),
        {a.question_key: a.display for a in answers},
    )


def conversation_start(
    *,
    flow: ChatFlow,
    visitor_id: str = "",
    page_url: str = "",
    referrer: str = "",
    ip_hash: str = "",
    user_agent: str = "",
    spam: bool = False,
) -> ChatSession:
    """A new conversation. A bot (the honeypot filled) gets one too, marked spam: it is answered like
    a person but never reaches a lead."""
    now = timezone.now()
    return ChatSession.objects.create(
        flow=flow,
        token=secrets.token_urlsafe(24),
        flow_version=flow.version,
        status=SessionStatus.SPAM if spam else SessionStatus.OPEN,
        visitor_id=visitor_id[:64],
        page_url=page_url[:2000],
        referrer=referrer[:2000],
        ip_hash=ip_hash,
        user_agent=user_agent[:400],
        started_at=now,
        updated_at=now,
    )


def answer_record(
    *, session: ChatSession, question_key: str, raw: Any, consent: bool = False, spam: bool = False
) -> State:
    """Record the visitor's answer to the question the conversation is at, fill it into the lead, and
    decide the qualification when it was the last one. A repeat of an answer already given (a retry)
    changes nothing and answers with the same state."""
    with transaction.atomic():
        session = (
            ChatSession.objects.select_for_update(of=("self",)).select_related("flow").get(pk=session.pk)
        )
        flow = session.flow
        state = state_of(session)
        question = next((q for q in state.questions if q.key == question_key), None)
        if question is None:
            raise ValidationError(
                {"question": [f"'{str(question_key)[:60]}' is not a question of this chat."]}
            )
        value, shown = answer_clean(question, raw)
        given = next((a for a in state.answers if a.question_key == question.key), None)
        if given is not None:
            if given.value == value:
                return state
            raise ConversationConflict("already_answered", "This question was already answered.")
        if state.finished:
            raise ConversationConflict("finished", "This conversation is over.")
        if state.next_question is None or state.next_question.pk != question.pk:
            raise ConversationConflict(
                "out_of_order", f"Answer '{state.next_question.key if state.next_question else ''}' first."
            )
        if question.answer_type == AnswerType.EMAIL and not consent:
            raise ValidationError({"consent": ["Tick the box to agree before sending your email."]})
        now = timezone.now()
        answer = ChatAnswer.objects.create(
            session=session,
            question=question,
            question_key=question.key,
            prompt=question.prompt,
            answer_type=question.answer_type,
            flow_version=flow.version,
            value=value,
            display=shown,
            answered_at=now,
        )
        answers = [*state.answers, answer]
        if spam:
            session.status = SessionStatus.SPAM
        if question.answer_type == AnswerType.EMAIL:
            session.email_normalized = str(value)
            session.consent_text = flow.consent_text
            session.consent_at = now
        if session.status != SessionStatus.SPAM:
            _lead_fill(session, flow, answers if question.answer_type == AnswerType.EMAIL else [answer])
        upcoming = next_question(state.questions, _values(answers))
        if upcoming is None:
            _conclude(session, flow, answers, now)
        session.updated_at = now
        session.save()
    return State(session, state.questions, answers, upcoming)


def _conclude(session: ChatSession, flow: ChatFlow, answers: list[ChatAnswer], now: dt.datetime) -> None:
    verdict = verdict_of(flow, answers)
    session.reason = verdict.reason(flow.name)
    session.finished_at = now
    if session.status == SessionStatus.SPAM:
        return
    # Qualified answers lead somewhere only with a lead to hand over: the email must be known.
    if verdict.qualified and session.lead_id:
        session.status = SessionStatus.QUALIFIED
    else:
        session.status = SessionStatus.NOT_QUALIFIED
        session.outcome = SessionOutcome.CLOSED
        if verdict.qualified:
            session.reason += " No email was given, so there is no lead to hand over."


def _page_utm(page_url: str) -> dict[str, str]:
    try:
        query = dict(parse_qsl(urlsplit(page_url).query))
    except ValueError:
        return {}
    return {key: query.get(key, "")[:200] for key in UTM_KEYS}


def _contact_data(email: str, answers: list[ChatAnswer]) -> dict[str, Any]:
    data: dict[str, Any] = {"email": email}
    custom: dict[str, dict[str, Any]] = {"contact": {}, "company": {}}
    for answer in answers:
        question = answer.question
        target = question.target if question is not None else ""
        if target in CONTACT_TARGETS and target != "company.name":
            data[target.removeprefix("contact.")] = answer.display
        elif target == "company.name":
            data.setdefault("company", {})["name"] = answer.display
        elif target.startswith("custom.") and question is not None and question.custom_field is not None:
            field = question.custom_field
            custom[field.entity][field.key] = answer.value
    if custom["contact"]:
        data["custom_fields"] = custom["contact"]
    if custom["company"]:
        company = data.setdefault("company", {})
        company["custom_fields"] = custom["company"]
        if not company.get("name"):
            # A company custom value needs a company to live on: the email's domain names it.
            company["domain"] = email.rsplit("@", 1)[-1]
    return data


def _bant(answers: list[ChatAnswer]) -> dict[str, str]:
    return {
        answer.question.target.removeprefix("lead."): answer.display
        for answer in answers
        if answer.question is not None and answer.question.target in BANT_TARGETS
    }


def _lead_fill(session: ChatSession, flow: ChatFlow, answers: list[ChatAnswer]) -> None:
    """Fill `answers` into the conversation's lead. Before the email is known there is no lead: the
    answers wait on the conversation, and all of them are filled in when the email arrives."""
    if not session.email_normalized:
        return
    actor = CHAT_ACTOR
    contact_data = _contact_data(session.email_normalized, answers)
    if session.lead_id is None:
        utm = _page_utm(session.page_url)
        channel = channel_classify(
            utm_source=utm.get("utm_source", ""),
            utm_medium=utm.get("utm_medium", ""),
            referrer=session.referrer,
            page_url=session.page_url,
        )
        lead, _ = lead_capture(contact_data=contact_data, lead_data={"source_channel": channel}, actor=actor)
        session.lead = lead
        touchpoints_record(
            touchpoints=[
                Touchpoint(
                    lead=lead,
                    contact_id=lead.contact_id,
                    anonymous_id=session.visitor_id,
                    external_id=f"chat:{session.pk}",
                    type=TouchpointType.CHAT,
                    occurred_at=session.started_at,
                    channel=channel,
                    url=session.page_url,
                    referrer=session.referrer,
                    properties={"chat_flow": flow.pk, "flow": flow.name, "conversation": session.pk},
                    **utm,
                )
            ]
        )
        if session.visitor_id:
            # The visitor's page views before the chat become the lead's (first touch kept).
            visitor_identify(anonymous_id=session.visitor_id, lead=lead)
        if session.consent_at is not None:
            # The box ticked with the email: a consent record like a form's, with the words shown.
            consent_record(
                contact=lead.contact,
                purpose=ConsentPurpose.SALES_CONTACT,
                source=ConsentSource.CHAT,
                text=session.consent_text,
                actor=actor,
                at=session.consent_at,
            )
    else:
        lead = Lead.objects.get(pk=session.lead_id)
        if len(contact_data) > 1:
            contact_upsert(data=contact_data, actor=actor)
    bant = _bant(answers)
    if bant:
        lead_update(lead=lead, data=bant, actor=actor)


def _qualified(session: ChatSession) -> ChatSession:
    locked = (
        ChatSession.objects.select_for_update(of=("self",)).select_related("flow", "lead").get(pk=session.pk)
    )
    if locked.status != SessionStatus.QUALIFIED or locked.lead is None:
        raise ConversationConflict("not_qualified", "Only a qualified conversation can go on to sales.")
    return locked


def meeting_request(
    *, session: ChatSession, day: Any, slot: Any, note: Any = "", visitor_timezone: Any = ""
) -> MeetingRequest:
    """The qualified visitor's preferred day and time for a meeting: stored, a "meeting requested"
    touchpoint on the lead, and the lead handed to sales (see `handoff`). Asked twice, the first
    request stands."""
    errors: dict[str, list[str]] = {}
    today = timezone.localdate()
    try:
        preferred = dt.date.fromisoformat(str(day or ""))
    except ValueError:
        preferred = None
        errors["day"] = ["Give a day as YYYY-MM-DD."]
    if preferred is not None and preferred < today:
        errors["day"] = ["Choose a day from today on."]
    elif preferred is not None and preferred > today + dt.timedelta(days=MEETING_HORIZON_DAYS):
        errors["day"] = [f"Choose a day within {MEETING_HORIZON_DAYS} days."]
    elif preferred is not None and preferred.weekday() >= 5:
        errors["day"] = ["Choose a weekday."]
    if slot not in MeetingSlot.values:
        errors["slot"] = [f"Choose one of {', '.join(MeetingSlot.values)}."]
    note_text = str(note or "").strip() if isinstance(note, str | int | float) or note is None else None
    if note_text is None or len(note_text) > 1000:
        errors["note"] = ["A note is text of at most 1,000 characters."]
    zone = str(visitor_timezone or "")[:64] if isinstance(visitor_timezone, str) else ""
    if errors:
        raise ValidationError(errors)
    assert preferred is not None and note_text is not None
    with transaction.atomic():
        locked = _qualified(session)
        existing = MeetingRequest.objects.filter(session=locked).first()
        if existing is not None:
            return existing
        if not locked.flow.offer_meeting:
            raise ConversationConflict("not_offered", "This chat does not offer meetings.")
        lead = locked.lead
        assert lead is not None
        try:
            with transaction.atomic():
                meeting = MeetingRequest.objects.create(
                    session=locked,
                    lead=lead,
                    preferred_day=preferred,
                    preferred_slot=slot,
                    visitor_timezone=zone,
                    note=note_text,
                )
        except IntegrityError:
            return MeetingRequest.objects.get(session=locked)
        touchpoints_record(
            touchpoints=[
                Touchpoint(
                    lead=lead,
                    contact_id=lead.contact_id,
                    external_id=f"chat-meeting:{meeting.pk}",
                    type=TouchpointType.MEETING,
                    url=locked.page_url,
                    properties={
                        "status": "requested",
                        "meeting_request": meeting.pk,
                        "preferred_day": preferred.isoformat(),
                        "preferred_slot": slot,
                        "note": note_text,
                        "conversation": locked.pk,
                        "flow": locked.flow.name,
                    },
                )
            ]
        )
        # Sales must act on a meeting request: it is a hand-off too.
        _promote(locked)
        locked.outcome = SessionOutcome.MEETING
        locked.updated_at = timezone.now()
        locked.save(update_fields=["outcome", "updated_at"])
    return meeting


def _promote(session: ChatSession) -> bool:
    """The qualified conversation's lead becomes an MQL, with the qualifying answers as the reason, if
    it is cold or recycled; a lead already further on is never moved back."""
    lead = Lead.objects.select_for_update().get(pk=session.lead_id)
    if lead.stage not in HANDOFF_FROM:
        return False
    lead_change_stage(lead=lead, to_stage=Stage.MQL, actor=CHAT_ACTOR, reason=session.reason)
    return True


def handoff(*, session: ChatSession) -> tuple[ChatSession, bool]:
    """Hand the qualified visitor to sales: the lead becomes an MQL, with the qualifying answers as the
    reason, if it is cold or recycled. A lead already further on is never moved back.
    Returns (session, whether the stage changed)."""
    with transaction.atomic():
        locked = _qualified(session)
        if not locked.flow.offer_handoff:
            raise ConversationConflict("not_offered", "This chat does not hand over to sales.")
        moved = _promote(locked)
        if locked.outcome != SessionOutcome.MEETING:
            locked.outcome = SessionOutcome.HANDOFF
        locked.updated_at = timezone.now()
        locked.save(update_fields=["outcome", "updated_at"])
    return locked, moved
