"""Every write of the handoff queue: assigning a handed-off lead, withdrawing a stale handoff, accepting
and rejecting, reassigning, and managing teams, members and assignment rules. Each runs in one
transaction and writes its audit row (the handoff's own writes through conversion.services.core)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from conversion.models import (
    AssignmentRule,
    Handoff,
    HandoffStatus,
    Notification,
    NotificationKind,
    RejectionReason,
    RuleKind,
    SalesTeam,
    TeamMember,
)
from conversion.notifications import notify
from conversion.queue.assignment import HANDOFF_STAGES, conditions_clean, rep_choose
from conversion.services import core
from leadhub.tenancy.context import current_organization_id
from leadhub.tenancy.models import Membership, Role
from leadhub.tenancy.services import Actor, audit_record
from leads.models import Lead, Stage
from leads.services.leads import lead_change_stage, lead_update
from scoring.engine.spec import priority_for

# Fallback notifications to one manager within this window, while unread, are folded into one.
FALLBACK_DIGEST_WINDOW = dt.timedelta(hours=1)

MANAGER_ROLES = frozenset({Role.ADMIN, Role.SALES_MANAGER})
SALES_ROLES = frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.SALES_REP})

# What a rejection does to the lead unless the rep says otherwise: reasons that say "not now" send the
# lead back to nurturing, reasons that say "never" (or "not a real lead") disqualify it.
REJECTION_OUTCOMES: dict[str, str] = {
    RejectionReason.NOT_A_FIT: Stage.DISQUALIFIED,
    RejectionReason.NO_BUDGET: Stage.RECYCLED,
    RejectionReason.BAD_DATA: Stage.DISQUALIFIED,
    RejectionReason.ALREADY_CUSTOMER: Stage.DISQUALIFIED,
    RejectionReason.TOO_EARLY: Stage.RECYCLED,
    RejectionReason.DUPLICATE: Stage.DISQUALIFIED,
    RejectionReason.COMPETITOR: Stage.DISQUALIFIED,
    RejectionReason.OTHER: Stage.RECYCLED,
}
REJECTION_STAGES = (Stage.RECYCLED, Stage.DISQUALIFIED)


def path_maker(url_name: str, fallback: str = "") -> Callable[[int], str]:
    """A function from an id to the path of `url_name` (whose only argument is that id), reversed once:
    a list of a hundred rows then builds its links without a hundred reverse() calls."""
    marker = 987654321
    try:
        head, _, tail = reverse(url_name, args=[marker]).partition(str(marker))
    except NoReverseMatch:
        head, _, tail = fallback.partition("{}")
    return lambda pk: f"{head}{pk}{tail}"


def workspace_path_maker() -> Callable[[int], str]:
    """Paths of the sales workspace of leads; plain paths while the workspace's route is not installed."""
    return path_maker("workspace-lead", "/conversion/leads/{}/")


def lead_workspace_url(lead_id: int) -> str:
    return workspace_path_maker()(lead_id)


def handoff_priority(lead: Lead) -> int:
    """Sales priority at handoff: the scoring engine's `round(score x grade weight)` (weights A 1.0,
    B 0.85, C 0.7, D 0.5, E 0.3, F 0.1, no grade 0), so a busy lead with a poor fit waits behind a
    good fit with the same score."""
    return priority_for(lead.score, lead.grade or "")


def member_role(user: Any) -> str | None:
    if user is None:
        return None
    return (
        Membership.objects.filter(organization_id=current_organization_id(), user=user)
        .values_list("role", flat=True)
        .first()
    )


def can_decide(handoff: Handoff, actor: Actor) -> bool:
    """The assigned rep decides; managers and admins (and full-access API keys) may decide for them."""
    if actor.api_key is not None:
        return True
    if actor.user is None:
        return False
    if handoff.assigned_to_id is not None and handoff.assigned_to_id == actor.user.pk:
        return True
    return member_role(actor.user) in MANAGER_ROLES


def _decision_check(handoff: Handoff, actor: Actor) -> None:
    if not can_decide(handoff, actor):
        raise PermissionError("Only the assigned rep, a sales manager or an admin can decide on this lead.")
    if handoff.status != HandoffStatus.PENDING:
        raise ValidationError(
            {"status": [f"This handoff is already {handoff.get_status_display().lower()}."]}
        )
    if handoff.assigned_to_id is None:
        raise ValidationError({"assigned_to": ["Assign the lead to a rep before deciding on it."]})


def _managers_notify(*, lead: Lead, title: str, body: str) -> None:
    """Tell the organization's admins and sales managers, and the teams' managers (still members)."""
    members = Membership.objects.filter(organization_id=current_organization_id())
    team_managers = SalesTeam.objects.filter(manager__isnull=False).values_list("manager_id", flat=True)
    recipients = members.filter(Q(role__in=MANAGER_ROLES) | Q(user_id__in=list(team_managers)))
    url = reverse("queue-fallback")
    users = get_user_model().objects.filter(pk__in=recipients.values("user_id"), is_active=True)
    since = timezone.now() - FALLBACK_DIGEST_WINDOW
    waiting: int | None = None
    for user in users.order_by("pk"):
        unread = (
            Notification.objects.select_for_update()
            .filter(user=user, kind=NotificationKind.ASSIGNMENT, url=url, read_at__isnull=True)
            .filter(created_at__gte=since)
            .order_by("-created_at")
            .first()
        )
        if unread is None:
            notify(user=user, kind=NotificationKind.ASSIGNMENT, title=title, body=body, url=url, lead=lead)
            continue
        # A burst (a published model making thousands of MQLs at once) becomes one notification that
        # counts the queue, not one notification and one email per lead.
        if waiting is None:
            waiting = Handoff.objects.filter(status=HandoffStatus.PENDING, assigned_to__isnull=True).count()
        unread.title = f"{waiting} leads wait in the fallback queue"
        unread.body = f"{body} The latest: {lead.contact}."
        unread.lead, unread.created_at = None, timezone.now()
        unread.save(update_fields=["title", "body", "lead", "created_at"])


def _owner_set(lead: Lead, user: Any | None, actor: Actor) -> None:
    if lead.owner_id != (user.pk if user is not None else None):
        lead_update(lead=lead, data={"owner": user}, actor=actor)


def _assignment_notify(handoff: Handoff, lead: Lead) -> None:
    name = str(lead.contact)
    notify(
        user=handoff.assigned_to,
        kind=NotificationKind.ASSIGNMENT,
        title=f"New {handoff.from_stage.upper()} in your queue: {name}",
        body=f"Assigned by {handoff.assigned_by_rule}. Accept or reject it from your queue.",
        url=lead_workspace_url(lead.pk),
        lead=lead,
    )


# --- the handoff's life -----------------------------------------------------------------------------


def handoff_assign(*, lead_id: int, actor: Actor | None = None) -> Handoff | None:
    """Hand an MQL/PQL lead to the rep the rules choose (or the fallback queue), make them its owner and
    tell them. Harmless to run twice: a lead that already waits in a handoff keeps it, and a lead no
    longer at MQL/PQL is not handed off."""
    actor = actor or Actor.system("assignment rules")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        if lead is None or lead.stage not in HANDOFF_STAGES:
            return None
        pending = Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).first()
        if pending is not None:
            return pending
        lead = Lead.objects.select_related("contact__company").get(pk=lead.pk)
        pick = rep_choose(lead)
        handoff = core.handoff_open(
            lead=lead,
            assigned_to=pick.user,
            team=pick.team,
            rule=pick.rule,
            priority=handoff_priority(lead),
            actor=actor,
        )
        if pick.user is not None:
            _owner_set(lead, pick.user, actor)
            _assignment_notify(handoff, lead)
        else:
            _managers_notify(
                lead=lead,
                title=f"A {lead.stage.upper()} waits in the fallback queue: {lead.contact}",
                body="No assignment rule matched it or found an available rep. "
                "Assign it from the fallback queue.",
            )
    return handoff


def handoff_withdraw_stale(*, lead_id: int, actor: Actor | None = None) -> Handoff | None:
    """Withdraw the lead's pending handoff if the lead left MQL/PQL another way (decay recycled it, a
    marketer disqualified it...). Harmless to run twice or out of order: it looks at the lead as it is."""
    actor = actor or Actor.system("handoff withdrawal")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        if lead is None or lead.stage in HANDOFF_STAGES:
            return None
        pending = Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).first()
        if pending is None:
            return None
        return core.handoff_close(
            handoff=pending,
            status=HandoffStatus.WITHDRAWN,
            actor=actor,
            note=f"The lead moved to {lead.stage}.",
        )


def handoff_accept(*, handoff: Handoff, actor: Actor) -> Handoff:
    """The rep takes the lead: the handoff is accepted and the lead becomes SQL."""
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().select_related("lead").get(pk=handoff.pk)
        _decision_check(handoff, actor)
        closed = core.handoff_close(handoff=handoff, status=HandoffStatus.ACCEPTED, actor=actor)
        lead_change_stage(lead=handoff.lead, to_stage=Stage.SQL, actor=actor, reason="Accepted by sales.")
    return closed


def handoff_reject(
    *, handoff: Handoff, reason: str, note: str = "", outcome: str = "", actor: Actor
) -> Handoff:
    """The rep turns the lead down with a reason: the lead goes back to nurturing (recycled) or is
    disqualified (by default as the reason suggests, see REJECTION_OUTCOMES) and loses its owner."""
    errors: dict[str, list[str]] = {}
    if reason not in RejectionReason.values:
        errors["reason"] = [f"Choose a reason: {', '.join(RejectionReason.values)}."]
    outcome = outcome or REJECTION_OUTCOMES.get(reason, Stage.RECYCLED)
    if outcome not in REJECTION_STAGES:
        errors["outcome"] = ["The outcome is recycled (back to nurturing) or disqualified."]
    note = (note or "").strip()
    if reason == RejectionReason.OTHER and not note:
        errors["note"] = ["Say why in a note when the reason is “Other”."]
    if len(note) > 2000:
        errors["note"] = ["Keep the note under 2000 characters."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().select_related("lead").get(pk=handoff.pk)
        _decision_check(handoff, actor)
        closed = core.handoff_close(
            handoff=handoff, status=HandoffStatus.REJECTED, actor=actor, reason=reason, note=note
        )
        label = RejectionReason(reason).label
        why = f"Rejected by sales: {label}." + (f" {note}" if note else "")
        lead = lead_change_stage(lead=handoff.lead, to_stage=outcome, actor=actor, reason=why)
        _owner_set(lead, None, actor)
    return closed


def sales_user_get(user_id: Any) -> Any:
    """A user of this organization who may work leads (admin, sales manager or rep), or a ValidationError."""
    try:
        pk = int(user_id)
    except (TypeError, ValueError):
        raise ValidationError({"assigned_to": ["Choose a rep."]}) from None
    membership = (
        Membership.objects.filter(organization_id=current_organization_id(), user_id=pk, user__is_active=True)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise ValidationError({"assigned_to": ["This user is not a member of the organization."]})
    if membership.role not in SALES_ROLES:
        raise ValidationError({"assigned_to": ["Only sales reps, sales managers and admins work leads."]})
    return membership.user


def handoff_reassign(*, handoff: Handoff, to_user: Any | None, reason: str, actor: Actor) -> Handoff:
    """Hand a pending lead to another rep (or back to the fallback queue) with a reason; the new rep
    becomes the owner and is told. Managers and admins only."""
    if actor.api_key is None and member_role(actor.user) not in MANAGER_ROLES:
        raise PermissionError("Only sales managers and admins reassign leads.")
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().select_related("lead__contact").get(pk=handoff.pk)
        if handoff.status != HandoffStatus.PENDING:
            raise ValidationError({"status": ["Only a lead that waits for a decision can be reassigned."]})
        if to_user is not None and handoff.assigned_to_id == to_user.pk:
            raise ValidationError({"assigned_to": ["The lead is already assigned to this rep."]})
        replacement = core.handoff_reassign(handoff=handoff, to_user=to_user, actor=actor, reason=reason)
        lead = handoff.lead
        _owner_set(lead, to_user, actor)
        if to_user is not None:
            _assignment_notify(replacement, lead)
    return replacement


# --- teams and members ------------------------------------------------------------------------------


def _timezone_clean(name: str) -> str:
    name = (name or "").strip()
    if name not in zoneinfo.available_timezones():
        raise ValidationError({"timezone": [f"'{name}' is not a time zone name such as Europe/Berlin."]})
    return name


def _team_fields(data: Mapping[str, Any], team: SalesTeam | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if "name" in data or team is None:
        name = (data.get("name") or "").strip()
        if not name:
            errors["name"] = ["Give the team a name."]
        elif len(name) > 100:
            errors["name"] = ["At most 100 characters."]
        elif SalesTeam.objects.filter(name__iexact=name).exclude(pk=getattr(team, "pk", None)).exists():
            errors["name"] = ["A team with this name exists."]
        values["name"] = name
    if "timezone" in data or team is None:
        try:
            values["timezone"] = _timezone_clean(data.get("timezone") or "UTC")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if data.get("manager") is not None:
        try:
            values["manager"] = sales_user_get(getattr(data["manager"], "pk", data["manager"]))
        except ValidationError:
            errors["manager"] = ["The manager must be a member of the organization who works leads."]
    elif "manager" in data:
        values["manager"] = None
    if errors:
        raise ValidationError(errors)
    return values


def team_create(*, data: Mapping[str, Any], actor: Actor) -> SalesTeam:
    values = _team_fields(data, None)
    with transaction.atomic():
        team = SalesTeam.objects.create(**values)
        audit_record(
            actor=actor,
            action="team.create",
            target=team,
            changes={"name": team.name, "timezone": team.timezone},
        )
    return team


def team_update(*, team: SalesTeam, data: Mapping[str, Any], actor: Actor) -> SalesTeam:
    values = _team_fields(data, team)
    with transaction.atomic():
        for key, value in values.items():
            setattr(team, key, value)
        team.save()
        audit_record(
            actor=actor, action="team.update", target=team, changes={k: str(v) for k, v in values.items()}
        )
    return team


def team_delete(*, team: SalesTeam, actor: Actor) -> None:
    """Delete a team with its members and the rules that point at it; its handoffs keep their history."""
    with transaction.atomic():
        audit_record(actor=actor, action="team.delete", target=team, changes={"name": team.name})
        team.delete()


def _capacity_clean(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(
            {"max_open_leads": ["Give a whole number, or leave empty for no limit."]}
        ) from None
    if not 1 <= number <= 100_000:
        raise ValidationError({"max_open_leads": ["Capacity is between 1 and 100000 open leads."]})
    return number


def member_add(
    *, team: SalesTeam, user_id: Any, actor: Actor, max_open_leads: Any = None, is_active: bool = True
) -> TeamMember:
    try:
        user = sales_user_get(user_id)
    except ValidationError as exc:
        raise ValidationError({"user": exc.message_dict["assigned_to"]}) from None
    capacity = _capacity_clean(max_open_leads)
    if TeamMember.objects.filter(team=team, user=user).exists():
        raise ValidationError({"user": ["This user is already in the team."]})
    try:
        with transaction.atomic():
            member = TeamMember.objects.create(
                team=team, user=user, max_open_leads=capacity, is_active=is_active
            )
            audit_record(
                actor=actor,
                action="team.member_add",
                target=team,
                changes={"user": user.email, "capacity": capacity},
            )
    except IntegrityError:
        raise ValidationError({"user": ["This user is already in the team."]}) from None
    return member


def member_update(*, member: TeamMember, data: Mapping[str, Any], actor: Actor) -> TeamMember:
    fields: list[str] = []
    if "max_open_leads" in data:
        member.max_open_leads = _capacity_clean(data["max_open_leads"])
        fields.append("max_open_leads")
    if "is_active" in data:
        member.is_active = bool(data["is_active"])
        fields.append("is_active")
    with transaction.atomic():
        member.save(update_fields=fields or None)
        audit_record(
            actor=actor,
            action="team.member_update",
            target=member.team,
            changes={
                "user_id": member.user_id,
                "max_open_leads": member.max_open_leads,
                "is_active": member.is_active,
            },
        )
    return member


def member_remove(*, member: TeamMember, actor: Actor) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor, action="team.member_remove", target=member.team, changes={"user_id": member.user_id}
        )
        member.delete()


# --- assignment rules -------------------------------------------------------------------------------


def _rule_fields(data: Mapping[str, Any], rule: AssignmentRule | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if "name" in data or rule is None:
        name = (data.get("name") or "").strip()
        if not name:
            errors["name"] = ["Give the rule a name."]
        elif len(name) > 100:
            errors["name"] = ["At most 100 characters."]
        values["name"] = name
    if "kind" in data or rule is None:
        kind = data.get("kind") or RuleKind.ROUND_ROBIN
        if kind not in RuleKind.values:
            errors["kind"] = [f"Choose one of: {', '.join(RuleKind.values)}."]
        values["kind"] = kind
    if "is_active" in data:
        values["is_active"] = bool(data["is_active"])
    if "conditions" in data:
        try:
            values["conditions"] = conditions_clean(data["conditions"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "team" in data:
        team = data["team"]
        if team is not None and not isinstance(team, SalesTeam):
            team = SalesTeam.objects.filter(pk=team).first() if str(team).isdigit() else None
            if team is None:
                errors["team"] = ["No such team."]
        values["team"] = team
    if "user" in data:
        user = data["user"]
        if user is not None:
            try:
                user = sales_user_get(getattr(user, "pk", user))
            except ValidationError as exc:
                errors["user"] = exc.message_dict["assigned_to"]
        values["user"] = user
    kind = values.get("kind", getattr(rule, "kind", None))
    team = values.get("team", getattr(rule, "team", None))
    user = values.get("user", getattr(rule, "user", None))
    if not errors:
        if kind in (RuleKind.ROUND_ROBIN, RuleKind.CAPACITY) and team is None:
            errors["team"] = [f"A {RuleKind(kind).label.lower()} rule picks within a team: choose one."]
        elif kind in (RuleKind.ROUND_ROBIN, RuleKind.CAPACITY) and user is not None:
            errors["user"] = ["Round robin and capacity rules pick a member of the team, not one user."]
        elif kind == RuleKind.TERRITORY and team is None and user is None:
            errors["team"] = ["A territory goes to a team or to one user: choose one."]
        elif kind == RuleKind.ACCOUNT_OWNER and user is not None:
            errors["user"] = [
                "An account owner rule hands the lead to the account's owner, not a fixed user."
            ]
    if errors:
        raise ValidationError(errors)
    return values


def rule_create(*, data: Mapping[str, Any], actor: Actor) -> AssignmentRule:
    values = _rule_fields(data, None)
    with transaction.atomic():
        last = AssignmentRule.objects.aggregate(last=Max("position"))["last"]
        rule = AssignmentRule.objects.create(position=(last or 0) + 1, **values)
        audit_record(actor=actor, action="assignment_rule.create", target=rule, changes=_rule_audit(rule))
    return rule


def _rule_audit(rule: AssignmentRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "kind": rule.kind,
        "is_active": rule.is_active,
        "conditions": rule.conditions,
        "team": rule.team_id,
        "user": rule.user_id,
        "position": rule.position,
    }


def rule_update(*, rule: AssignmentRule, data: Mapping[str, Any], actor: Actor) -> AssignmentRule:
    values = _rule_fields(data, rule)
    with transaction.atomic():
        for key, value in values.items():
            setattr(rule, key, value)
        rule.save()
        audit_record(actor=actor, action="assignment_rule.update", target=rule, changes=_rule_audit(rule))
    return rule


def rule_delete(*, rule: AssignmentRule, actor: Actor) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="assignment_rule.delete", target=rule, changes=_rule_audit(rule))
        rule.delete()


def rules_reorder(*, ids: list[int], actor: Actor) -> list[AssignmentRule]:
    """Put the rules in the order given (every rule of the organization, each once)."""
    with transaction.atomic():
        rules = {r.pk: r for r in AssignmentRule.objects.select_for_update()}
        if sorted(ids) != sorted(rules) or len(set(ids)) != len(ids):
            raise ValidationError({"ids": ["List every rule of the organization exactly once."]})
        ordered = [rules[pk] for pk in ids]
        for position, rule in enumerate(ordered, start=1):
            rule.position = position
        AssignmentRule.objects.bulk_update(ordered, ["position"])
        audit_record(
            actor=actor,
            action="assignment_rule.reorder",
            target_type="AssignmentRule",
            changes={"order": ids},
        )
    return ordered


def rule_move(*, rule: AssignmentRule, offset: int, actor: Actor) -> list[AssignmentRule]:
    """Move a rule up (-1) or down (+1) in the evaluation order."""
    ids = list(AssignmentRule.objects.order_by("position", "id").values_list("pk", flat=True))
    index = ids.index(rule.pk)
    target = max(0, min(len(ids) - 1, index + offset))
    ids.insert(target, ids.pop(index))
    return rules_reorder(ids=ids, actor=actor)
