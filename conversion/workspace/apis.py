"""The workspace API under /api/v1/conversion/: a lead's notes, activities and tasks, and the signed-in
user's notifications. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from conversion.models import Activity, Note, Notification, Task
from conversion.notifications import notifications_mark_read
from conversion.services.core import activity_log
from conversion.workspace import selectors, services
from conversion.workspace.serializers import (
    ActivityInputSerializer,
    ActivityOutputSerializer,
    NoteInputSerializer,
    NoteOutputSerializer,
    NotificationOutputSerializer,
    NotificationReadResultSerializer,
    NotificationReadSerializer,
    TaskInputSerializer,
    TaskOutputSerializer,
)
from leadhub.tenancy.models import Organization
from leads.apis.base import ApiViewSet
from leads.models import Lead


class LeadWorkViewSet(ApiViewSet):
    """A lead's records, read and written by anyone who may work the lead: a sales rep their own and
    their team's leads, other roles and API keys every lead of the organization. Another organization's
    lead, or a lead that is not the rep's, is a 404."""

    filter_backends: list[Any] = []

    @property
    def role(self) -> str | None:
        membership = getattr(self.request._request, "membership", None)
        return membership.role if membership is not None else None

    def visible_leads(self) -> QuerySet[Lead]:
        return selectors.leads_visible_to(self.request.user, self.role)

    def lead(self) -> Lead:
        lead = self.visible_leads().select_related("contact").filter(pk=self.kwargs["lead_pk"]).first()
        if lead is None:
            raise exceptions.NotFound("No such lead.")
        return lead

    def for_visible_leads(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if selectors.sees_every_lead(self.role):
            return queryset
        return queryset.filter(lead_id__in=self.visible_leads().values("pk"))

    def list(self, request: Request, lead_pk: int | None = None) -> Response:  # type: ignore[override]
        lead = self.lead()
        page = self.paginate_queryset(self.get_queryset().filter(lead_id=lead.pk))
        data = self.output_serializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)


class NoteViewSet(LeadWorkViewSet):
    """Notes on a lead. A note's `@email` or `@name` mentions of members notify them; only the author
    edits a note, and members mentioned for the first time by the edit are notified."""

    model = Note
    output_serializer = NoteOutputSerializer

    def scoped_queryset(self, organization: Organization) -> QuerySet[Note]:
        rows = Note.objects.select_related("author").prefetch_related("mentions__user")
        return self.for_visible_leads(rows)

    @extend_schema(request=NoteInputSerializer, responses={201: NoteOutputSerializer})
    def create(self, request: Request, lead_pk: int) -> Response:
        lead = self.lead()
        data = self.parse(NoteInputSerializer)
        note = services.note_create(lead=lead, body=data["body"], actor=self.actor)
        return self.render(self.get_queryset().get(pk=note.pk), status.HTTP_201_CREATED)

    @extend_schema(request=NoteInputSerializer, responses=NoteOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        note = self.get_object()
        data = self.parse(NoteInputSerializer)
        services.note_update(note=note, body=data["body"], actor=self.actor)
        return self.render(self.get_queryset().get(pk=note.pk))


class ActivityViewSet(LeadWorkViewSet):
    """Calls, emails, meetings and demos logged on a lead with their outcome. The first one after a
    handoff is its first contact (the SLA's contact clock stops)."""

    model = Activity
    output_serializer = ActivityOutputSerializer

    def scoped_queryset(self, organization: Organization) -> QuerySet[Activity]:
        return self.for_visible_leads(Activity.objects.select_related("user"))

    @extend_schema(request=ActivityInputSerializer, responses={201: ActivityOutputSerializer})
    def create(self, request: Request, lead_pk: int) -> Response:
        lead = self.lead()
        data = self.parse(ActivityInputSerializer)
        activity = activity_log(lead=lead, actor=self.actor, **data)
        return self.render(activity, status.HTTP_201_CREATED)


class TaskViewSet(LeadWorkViewSet):
    """Tasks on a lead with due dates and assignees. The assignee is told when given a task and again
    when it falls due; `complete` and `reopen` change its state (both are idempotent)."""

    model = Task
    output_serializer = TaskOutputSerializer

    def scoped_queryset(self, organization: Organization) -> QuerySet[Task]:
        return self.for_visible_leads(Task.objects.select_related("assignee", "created_by", "done_by"))

    def _fresh(self, task: Task) -> Task:
        return self.get_queryset().get(pk=task.pk)

    @extend_schema(request=TaskInputSerializer, responses={201: TaskOutputSerializer})
    def create(self, request: Request, lead_pk: int) -> Response:
        lead = self.lead()
        data = self.parse(TaskInputSerializer)
        task = services.task_create(lead=lead, actor=self.actor, **data)
        return self.render(self._fresh(task), status.HTTP_201_CREATED)

    @extend_schema(request=TaskInputSerializer(partial=True), responses=TaskOutputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        task = self.get_object()
        data = self.parse(TaskInputSerializer, partial=True)
        return self.render(self._fresh(services.task_update(task=task, data=data, actor=self.actor)))

    @extend_schema(request=None, responses=TaskOutputSerializer)
    def complete(self, request: Request, pk: str) -> Response:
        task = services.task_complete(task=self.get_object(), actor=self.actor)
        return self.render(self._fresh(task))

    @extend_schema(request=None, responses=TaskOutputSerializer)
    def reopen(self, request: Request, pk: str) -> Response:
        task = services.task_reopen(task=self.get_object(), actor=self.actor)
        return self.render(self._fresh(task))


class NotificationViewSet(ApiViewSet):
    """The signed-in user's notifications, newest first (assignments, SLA warnings, mentions, tasks due).
    They belong to a person: an API key gets 403."""

    model = Notification
    output_serializer = NotificationOutputSerializer
    filter_backends: list[Any] = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not request.user.is_authenticated:
            raise exceptions.PermissionDenied("Notifications belong to a person: use a dashboard session.")

    def scoped_queryset(self, organization: Organization) -> QuerySet[Notification]:
        return Notification.objects.filter(user_id=self.request.user.pk)

    def _result(self, marked: int) -> Response:
        body = {"marked": marked, "unread": selectors.unread_count(self.request.user)}
        return Response(NotificationReadResultSerializer(body).data)

    @extend_schema(
        operation_id="conversion_notification_read", request=None, responses=NotificationReadResultSerializer
    )
    def read(self, request: Request, pk: str) -> Response:
        note = self.get_object()
        return self._result(notifications_mark_read(user=request.user, ids=[note.pk]))

    @extend_schema(
        operation_id="conversion_notifications_read",
        request=NotificationReadSerializer,
        responses=NotificationReadResultSerializer,
    )
    def read_many(self, request: Request) -> Response:
        data = self.parse(NotificationReadSerializer)
        return self._result(notifications_mark_read(user=request.user, ids=data.get("ids")))
