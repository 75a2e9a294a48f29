"""The chat's services and rules: flow validation, question order and skip conditions, the explicit
qualification rule, and conversations filling the lead (capture with BANT values and a chat
touchpoint, stitching of earlier page views, contact and custom fields, the hand-off to MQL with its
reason and without demotion, meeting requests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import AuditLog, Organization
from leads.models import Channel, Lead, Stage, StageChange, Touchpoint, TouchpointType
from leads.services import lead_change_stage
from scoring.chat import services
from scoring.chat.conversations import (
    ConversationConflict,
    answer_record,
    conversation_start,
    handoff,
    meeting_request,
    next_question,
    state_of,
)
from scoring.chat.rules import condition_met, qualification_evaluate, rule_words
from scoring.models_chat import (
    ChatAnswer,
    ChatFlow,
    ChatQuestion,
    ChatSession,
    MeetingRequest,
    SessionOutcome,
    SessionStatus,
)
from tests.scoring.chat_fixtures import ACTOR, QUALIFIED_ANSWERS, build_flow

pytestmark = pytest.mark.django_db


def _fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(exc.value.message_dict)


def _answer_all(flow: ChatFlow, answers: list[tuple[str, Any]], **start: Any) -> ChatSession:
    session = conversation_start(flow=flow, page_url="https://www.customer.example/pricing", **start)
    for key, value in answers:
        answer_record(session=session, question_key=key, raw=value, consent=True)
    session.refresh_from_db()
    return session


def _weekday(days_ahead: int = 1) -> dt.date:
    day = timezone.localdate() + dt.timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


# --- flows and questions ----------------------------------------------------------------------------


def test_a_flow_is_validated_with_errors_that_name_the_field(org: Organization) -> None:
    with tenant_context(org):
        with pytest.raises(ValidationError) as exc:
            services.chat_flow_create(data={"name": "  "}, actor=ACTOR)
        assert _fields(exc) == {"name"}
        with pytest.raises(ValidationError) as exc:
            services.chat_flow_create(data={"name": "A", "allowed_domains": ["not a domain!"]}, actor=ACTOR)
        assert _fields(exc) == {"allowed_domains"}
        with pytest.raises(ValidationError) as exc:
            services.chat_flow_create(
                data={"name": "A", "content_offer_url": "javascript:alert(1)"}, actor=ACTOR
            )
        assert _fields(exc) == {"content_offer_url"}
        flow = services.chat_flow_create(data={"name": "A"}, actor=ACTOR)
        assert flow.public_key and not flow.is_active
        with pytest.raises(ValidationError) as exc:
            services.chat_flow_create(data={"name": "A"}, actor=ACTOR)
        assert "Another chat flow" in exc.value.message_dict["name"][0]
        # Live needs questions, an email question and websites.
        with pytest.raises(ValidationError) as exc:
            services.chat_flow_update(flow=flow, data={"is_active": True}, actor=ACTOR)
        assert "Add questions" in exc.value.message_dict["is_active"][0]
        services.chat_question_add(
            flow=flow, data={"prompt": "Budget?", "answer_type": "choice", "options": ["a", "b"]}, actor=ACTOR
        )
        with pytest.raises(ValidationError) as exc:
            services.chat_flow_update(flow=flow, data={"is_active": True}, actor=ACTOR)
        assert "email question" in exc.value.message_dict["is_active"][0]
        services.chat_question_add(flow=flow, data={"prompt": "Email?", "answer_type": "email"}, actor=ACTOR)
        with pytest.raises(ValidationError) as exc:
            services.chat_flow_update(flow=flow, data={"is_active": True}, actor=ACTOR)
        assert _fields(exc) == {"allowed_domains"}
        with pytest.raises(ValidationError) as exc:
            services.chat_flow_update(flow=flow, data={"consent_text": ""}, actor=ACTOR)
        assert _fields(exc) == {"consent_text"}
        services.chat_flow_update(
            flow=flow, data={"is_active": True, "allowed_domains": ["https://www.Example.com/x"]}, actor=ACTOR
        )
        flow.refresh_from_db()
        assert flow.is_active and flow.allowed_domains == ["example.com"]


def test_questions_are_checked_against_their_type_and_target(org: Organization) -> None:
    flow = build_flow(org, live=False)
    with tenant_context(org):
        cases = [
            ({"prompt": "Pick", "answer_type": "choice", "options": ["only one"]}, "options"),
            ({"prompt": "Size", "answer_type": "number", "min_value": 10, "max_value": 1}, "min_value"),
            ({"prompt": "Where", "answer_type": "text", "target": "lead.stage"}, "target"),
            (
                {
                    "prompt": "Size",
                    "answer_type": "choice",
                    "options": ["a", "b"],
                    "target": "custom.contact.team_size",
                },
                "answer_type",
            ),
            ({"prompt": "Nope", "answer_type": "text", "target": "custom.contact.missing"}, "target"),
            ({"prompt": "Second email", "answer_type": "email"}, "answer_type"),
            ({"prompt": "Budget again", "key": "budget", "answer_type": "text"}, "key"),
            ({"prompt": "Size", "answer_type": "number", "target": "contact.first_name"}, "answer_type"),
            (
                {
                    "prompt": "Odd",
                    "answer_type": "text",
                    "ask_if": {"question": "budget", "values": ["huge"]},
                },
                "ask_if",
            ),
            (
                {"prompt": "Odd", "answer_type": "text", "ask_if": {"question": "nowhere", "values": ["x"]}},
                "ask_if",
            ),
            (
                {
                    "prompt": "Odd",
                    "answer_type": "text",
                    "ask_if": {"question": "team_size", "op": "gte", "values": ["many"]},
                },
                "ask_if",
            ),
        ]
        for data, field in cases:
            with pytest.raises(ValidationError) as exc:
                services.chat_question_add(flow=flow, data=data, actor=ACTOR)
            assert field in exc.value.message_dict, (data, exc.value.message_dict)
        email = ChatQuestion.objects.get(flow=flow, key="email")
        assert email.target == "contact.email"
        assert ChatQuestion.objects.filter(flow=flow).count() == 9


def test_question_order_skip_conditions_and_reordering(org: Organization) -> None:
    flow = build_flow(org, live=False)
    with tenant_context(org):
        questions = list(ChatQuestion.objects.filter(flow=flow).order_by("position", "id"))
        keys = [q.key for q in questions]
        assert keys == [
            "budget",
            "authority",
            "team_size",
            "evaluating",
            "tools",
            "timing",
            "email",
            "first_name",
            "company",
        ]
        assert next_question(questions, {}).key == "budget"  # type: ignore[union-attr]
        said = {"budget": "50k+", "authority": "influencer", "team_size": 3}
        assert next_question(questions, said).key == "evaluating"  # type: ignore[union-attr]
        # "tools" is asked only when comparing tools.
        assert next_question(questions, {**said, "evaluating": True}).key == "tools"  # type: ignore[union-attr]
        assert next_question(questions, {**said, "evaluating": False}).key == "timing"  # type: ignore[union-attr]
        everything = {q.key: "x" for q in questions}
        assert next_question(questions, everything) is None

        tools = next(q for q in questions if q.key == "tools")
        evaluating = next(q for q in questions if q.key == "evaluating")
        # Moving the condition above what it depends on is refused, and nothing moves.
        with pytest.raises(ValidationError) as exc:
            services.chat_question_move(question=tools, offset=-1, actor=ACTOR)
        assert "keep that one earlier" in exc.value.message_dict["ask_if"][0]
        with pytest.raises(ValidationError):
            services.chat_question_move(question=evaluating, offset=1, actor=ACTOR)
        assert list(ChatQuestion.objects.filter(flow=flow).values_list("key", flat=True)) == keys
        # A free move works and is audited with the new order.
        timing = next(q for q in questions if q.key == "timing")
        services.chat_question_move(question=timing, offset=-5, actor=ACTOR)
        order = list(ChatQuestion.objects.filter(flow=flow).values_list("key", flat=True))
        assert order[0] == "timing"
        assert AuditLog.objects.filter(action="chat_flow.questions_reorder").first().changes["order"] == order
        # Reordering names only this flow's questions.
        with pytest.raises(ValidationError) as exc:
            services.chat_questions_reorder(flow=flow, order=[999_999], actor=ACTOR)
        assert _fields(exc) == {"order"}


def test_removing_or_renaming_a_question_keeps_the_conditions_honest(org: Organization) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        evaluating = ChatQuestion.objects.get(flow=flow, key="evaluating")
        with pytest.raises(ValidationError) as exc:
            services.chat_question_delete(question=evaluating, actor=ACTOR)
        assert "question 'tools'" in exc.value.message_dict["question"][0]
        budget = ChatQuestion.objects.get(flow=flow, key="budget")
        with pytest.raises(ValidationError) as exc:
            services.chat_question_delete(question=budget, actor=ACTOR)
        assert "qualification" in exc.value.message_dict["question"][0]
        email = ChatQuestion.objects.get(flow=flow, key="email")
        with pytest.raises(ValidationError) as exc:
            services.chat_question_delete(question=email, actor=ACTOR)
        assert "email question" in exc.value.message_dict["is_active"][0]

        services.chat_question_update(question=budget, data={"key": "spend"}, actor=ACTOR)
        flow.refresh_from_db()
        assert flow.qualification[0]["question"] == "spend"
        services.chat_question_update(question=evaluating, data={"key": "comparing"}, actor=ACTOR)
        assert ChatQuestion.objects.get(flow=flow, key="tools").ask_if["question"] == "comparing"
        company = ChatQuestion.objects.get(flow=flow, key="company")
        version = ChatFlow.objects.get(pk=flow.pk).version
        services.chat_question_delete(question=company, actor=ACTOR)
        assert ChatFlow.objects.get(pk=flow.pk).version == version + 1
        assert AuditLog.objects.filter(action="chat_flow.question_delete", target_id=str(flow.pk)).exists()


def test_every_change_bumps_the_version_and_says_who(org: Organization, admin_user: Any) -> None:
    from leadhub.tenancy.services import Actor

    flow = build_flow(org)
    actor = Actor(user=admin_user)
    with tenant_context(org):
        before = flow.version
        services.chat_flow_update(flow=flow, data={"greeting": "Hello there"}, actor=actor)
        flow.refresh_from_db()
        assert flow.version == before + 1 and flow.updated_by == admin_user
        entry = AuditLog.objects.filter(action="chat_flow.update").first()
        assert entry.actor_user == admin_user and entry.changes == {"greeting": "Hello there"}
        services.chat_flow_update(flow=flow, data={"greeting": "Hello there"}, actor=actor)
        assert ChatFlow.objects.get(pk=flow.pk).version == before + 1  # nothing changed, nothing recorded


# --- the qualification rule -----------------------------------------------------------------------


def test_the_qualification_rule_is_explicit_and_explained(org: Organization) -> None:
    flow = build_flow(org)
    assert rule_words(flow.qualification, flow.qualification_match) == (
        "Qualified when budget is one of “50k+”, “10-50k” AND authority is “decision maker” AND "
        "timing is “this quarter”."
    )
    shown = {"budget": "50k+", "authority": "decision maker", "timing": "this quarter"}
    verdict = qualification_evaluate(flow.qualification, "all", shown, shown)
    assert verdict.qualified
    assert verdict.reason("Pricing chat") == (
        "Qualified in the chat “Pricing chat”: budget “50k+”; authority “decision maker”; "
        "timing “this quarter”."
    )
    missed = qualification_evaluate(flow.qualification, "all", {**shown, "timing": "later"}, shown)
    assert not missed.qualified
    # Any: one condition is enough; a skipped question meets none.
    assert qualification_evaluate(flow.qualification, "any", {"timing": "this quarter"}, {}).qualified
    assert not qualification_evaluate(flow.qualification, "any", {}, {}).qualified
    assert not qualification_evaluate([], "all", shown, shown).qualified
    assert condition_met({"question": "n", "op": "gte", "values": [10]}, {"n": 10})
    assert not condition_met({"question": "n", "op": "lte", "values": [10]}, {"n": 10.5})
    assert condition_met({"question": "yes", "op": "in", "values": [True]}, {"yes": True})
    assert condition_met({"question": "t", "op": "not_in", "values": ["Later"]}, {"t": "soon"})
    assert not condition_met({"question": "t", "op": "not_in", "values": ["later"]}, {})
    with tenant_context(org), pytest.raises(ValidationError) as exc:
        services.chat_qualification_set(
            flow=flow, conditions=[{"question": "timing", "values": ["yesterday"]}], actor=ACTOR
        )
    assert "qualification.0" in exc.value.message_dict


# --- conversations ------------------------------------------------------------------------------


def test_answers_fill_the_lead_with_bant_contact_custom_fields_and_a_chat_touchpoint(
    org: Organization,
) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        session = conversation_start(
            flow=flow,
            visitor_id="visitor-12345",
            page_url="https://www.customer.example/pricing?utm_source=google&utm_medium=cpc&utm_campaign=q3",
        )
        for key, value in QUALIFIED_ANSWERS[:6]:
            state = answer_record(session=session, question_key=key, raw=value)
        assert state.next_question is not None and state.next_question.key == "email"
        assert not Lead.objects.exists()  # no email yet, no lead: the answers wait on the conversation
        with pytest.raises(ValidationError) as exc:
            answer_record(session=session, question_key="email", raw="ada@analytical.example")
        assert _fields(exc) == {"consent"}
        answer_record(session=session, question_key="email", raw="Ada@Analytical.example", consent=True)
        lead = Lead.objects.select_related("contact").get()
        assert (lead.budget, lead.authority, lead.need, lead.timing) == (
            "50k+",
            "decision maker",
            "Spreadsheets",
            "this quarter",
        )
        assert lead.contact.email_normalized == "ada@analytical.example"
        assert lead.contact.custom == {"team_size": 40}
        assert lead.source_channel == Channel.PAID_SEARCH
        touch = Touchpoint.objects.get(type=TouchpointType.CHAT)
        assert (
            touch.lead_id == lead.pk and touch.utm_campaign == "q3" and touch.anonymous_id == "visitor-12345"
        )
        assert touch.properties["flow"] == "Pricing chat"
        answer_record(session=session, question_key="first_name", raw="Ada")
        state = answer_record(session=session, question_key="company", raw="Analytical Engines")
        lead.contact.refresh_from_db()
        assert lead.contact.first_name == "Ada" and lead.contact.company.name == "Analytical Engines"
        assert state.finished
        session.refresh_from_db()
        assert session.status == SessionStatus.QUALIFIED and session.lead_id == lead.pk
        assert session.consent_text == flow.consent_text and session.consent_at is not None
        # The box ticked with the email is the contact's consent record, with the words shown.
        from leads.models_forms import ConsentRecord
        from leads.webforms.consent import consents_for

        record = ConsentRecord.objects.get(contact=lead.contact)
        assert (record.purpose, record.status, record.source) == ("sales_contact", "granted", "chat")
        assert record.text == flow.consent_text and record.recorded_at == session.consent_at
        assert consents_for(lead.contact)["sales_contact"].granted
        # Each answer keeps the question text it answered, even when the flow changes later.
        services.chat_question_update(
            question=ChatQuestion.objects.get(flow=flow, key="budget"),
            data={"prompt": "Budget?"},
            actor=ACTOR,
        )
        kept = ChatAnswer.objects.get(session=session, question_key="budget")
        assert kept.prompt == "What budget do you have?" and kept.flow_version == session.flow_version


def test_a_retry_is_harmless_and_answers_go_in_order(org: Organization) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        session = conversation_start(flow=flow)
        answer_record(session=session, question_key="budget", raw="50k+")
        answer_record(session=session, question_key="budget", raw="50k+")  # a retry
        assert ChatAnswer.objects.filter(session=session).count() == 1
        with pytest.raises(ConversationConflict) as conflict:
            answer_record(session=session, question_key="budget", raw="10-50k")
        assert conflict.value.code == "already_answered"
        with pytest.raises(ConversationConflict) as conflict:
            answer_record(session=session, question_key="timing", raw="later")
        assert conflict.value.code == "out_of_order"
        with pytest.raises(ValidationError) as exc:
            answer_record(session=session, question_key="nope", raw="x")
        assert _fields(exc) == {"question"}
        for bad, why in (("nope", "not one of"), ("", "required")):
            with pytest.raises(ValidationError) as exc:
                answer_record(session=session, question_key="authority", raw=bad)
            assert why in exc.value.message_dict["value"][0]


def test_earlier_anonymous_page_views_are_stitched_when_the_email_arrives(
    org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    flow = build_flow(org)
    # The first-touch rollup runs after commit (TouchpointsRecorded -> task, eager in tests).
    with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
        earlier = Touchpoint.objects.create(
            anonymous_id="visitor-12345",
            type=TouchpointType.PAGE_VIEW,
            url="https://www.customer.example/blog",
            channel=Channel.ORGANIC_SEARCH,
            occurred_at=timezone.now() - dt.timedelta(days=2),
        )
        session = _answer_all(flow, QUALIFIED_ANSWERS, visitor_id="visitor-12345")
    with tenant_context(org):
        earlier.refresh_from_db()
        assert earlier.lead_id == session.lead_id
        lead = Lead.objects.get(pk=session.lead_id)
        assert lead.first_touch_url == "https://www.customer.example/blog"
        assert lead.first_touch_channel == Channel.ORGANIC_SEARCH


def test_the_hand_off_makes_a_cold_lead_an_mql_with_the_answers_as_reason(org: Organization) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        session = _answer_all(flow, QUALIFIED_ANSWERS)
        session, moved = handoff(session=session)
        assert moved and session.outcome == SessionOutcome.HANDOFF
        lead = Lead.objects.get(pk=session.lead_id)
        assert lead.stage == Stage.MQL
        change = StageChange.objects.get(lead=lead, to_stage=Stage.MQL)
        assert change.rule == "chat" and change.from_stage == Stage.COLD
        assert change.reason == (
            "Qualified in the chat “Pricing chat”: budget “50k+”; authority “decision maker”; "
            "timing “this quarter”."
        )
        # Twice is harmless.
        assert handoff(session=session)[1] is False
        assert StageChange.objects.filter(lead=lead, to_stage=Stage.MQL).count() == 1


@pytest.mark.parametrize("stage", [Stage.SQL, Stage.OPPORTUNITY])
def test_the_hand_off_never_demotes_a_lead_further_on(org: Organization, stage: str) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        session = _answer_all(flow, QUALIFIED_ANSWERS[:7])
        lead = Lead.objects.get(pk=session.lead_id)
        lead_change_stage(lead=lead, to_stage=Stage.SQL, actor=ACTOR)
        if stage == Stage.OPPORTUNITY:
            lead_change_stage(lead=lead, to_stage=Stage.OPPORTUNITY, actor=ACTOR)
        session = _answer_all(flow, QUALIFIED_ANSWERS)
        assert session.lead_id == lead.pk
        _, moved = handoff(session=session)
        assert not moved
        assert Lead.objects.get(pk=lead.pk).stage == stage


def test_a_recycled_lead_comes_back_as_mql(org: Organization) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        first = _answer_all(flow, QUALIFIED_ANSWERS[:7])
        lead = Lead.objects.get(pk=first.lead_id)
        lead_change_stage(lead=lead, to_stage=Stage.RECYCLED, actor=ACTOR, reason="Went quiet")
        session = _answer_all(flow, QUALIFIED_ANSWERS)
        assert handoff(session=session)[1]
        assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_answers_that_do_not_qualify_close_politely_and_offer_nothing(org: Organization) -> None:
    flow = build_flow(org)
    answers = [(k, "later" if k == "timing" else v) for k, v in QUALIFIED_ANSWERS]
    with tenant_context(org):
        session = _answer_all(flow, answers)
        assert session.status == SessionStatus.NOT_QUALIFIED and session.outcome == SessionOutcome.CLOSED
        assert "timing “later” (needs: timing is “this quarter”)" in session.reason
        with pytest.raises(ConversationConflict):
            handoff(session=session)
        with pytest.raises(ConversationConflict):
            meeting_request(session=session, day=_weekday().isoformat(), slot="morning")
        assert Lead.objects.get(pk=session.lead_id).stage == Stage.COLD


def test_a_meeting_request_is_stored_with_a_touchpoint_on_the_lead(org: Organization) -> None:
    flow = build_flow(org)
    day = _weekday(3)
    with tenant_context(org):
        session = _answer_all(flow, QUALIFIED_ANSWERS)
        for bad, field in (
            ({"day": "tomorrow", "slot": "morning"}, "day"),
            ({"day": (timezone.localdate() - dt.timedelta(days=1)).isoformat(), "slot": "morning"}, "day"),
            ({"day": day.isoformat(), "slot": "midnight"}, "slot"),
            ({"day": day.isoformat(), "slot": "morning", "note": "x" * 1001}, "note"),
        ):
            with pytest.raises(ValidationError) as exc:
                meeting_request(session=session, **bad)
            assert field in exc.value.message_dict
        meeting = meeting_request(
            session=session, day=day.isoformat(), slot="afternoon", note="Show us the API"
        )
        again = meeting_request(session=session, day=day.isoformat(), slot="morning")
        assert again.pk == meeting.pk
        assert MeetingRequest.objects.get().lead_id == session.lead_id
        touch = Touchpoint.objects.get(type=TouchpointType.MEETING)
        assert touch.lead_id == session.lead_id
        assert touch.properties["status"] == "requested" and touch.properties["preferred_slot"] == "afternoon"
        session.refresh_from_db()
        assert session.outcome == SessionOutcome.MEETING
        # Sales must act on it: the meeting request hands the lead over too, with the same reason.
        change = StageChange.objects.get(lead_id=session.lead_id, to_stage=Stage.MQL)
        assert change.rule == "chat" and change.reason == session.reason


def test_a_conversation_marked_spam_never_reaches_a_lead(org: Organization) -> None:
    flow = build_flow(org)
    with tenant_context(org):
        session = conversation_start(flow=flow, spam=True)
        for key, value in QUALIFIED_ANSWERS:
            answer_record(session=session, question_key=key, raw=value, consent=True)
        session.refresh_from_db()
        assert session.status == SessionStatus.SPAM and session.lead_id is None
        assert not Lead.objects.exists() and not Touchpoint.objects.exists()
        assert state_of(session).finished


def test_conversations_stay_in_their_organization(org: Organization, other_org: Organization) -> None:
    flow = build_flow(org)
    build_flow(other_org)
    with tenant_context(org):
        _answer_all(flow, QUALIFIED_ANSWERS)
    with tenant_context(other_org):
        assert not ChatSession.objects.filter(flow_id=flow.pk).exists()
        assert not Lead.objects.exists()
        assert ChatFlow.objects.count() == 1
