"""Routes of the workspace: the lead workspace and its forms, notifications (pages and API), and the
API of a lead's notes, activities and tasks."""

from django.urls import URLPattern, URLResolver, path, re_path

from conversion.workspace import apis, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("conversion/leads/<int:pk>/", views.workspace_lead, name="workspace-lead"),
    path("conversion/leads/<int:pk>/notes/", views.note_add, name="workspace-note-add"),
    path("conversion/leads/<int:pk>/activities/", views.activity_add, name="workspace-activity-add"),
    path("conversion/leads/<int:pk>/tasks/", views.task_add, name="workspace-task-add"),
    path("conversion/leads/<int:pk>/bant/", views.bant_save, name="workspace-bant"),
    path("conversion/tasks/<int:pk>/complete/", views.task_complete, name="workspace-task-complete"),
    path("conversion/tasks/<int:pk>/reopen/", views.task_reopen, name="workspace-task-reopen"),
    path("conversion/outcomes/", views.outcome_suggestions, name="workspace-outcomes"),
    path("conversion/notifications/", views.notification_list, name="notifications"),
    path("conversion/notifications/bell/", views.notification_bell, name="notifications-bell"),
    path("conversion/notifications/read/", views.notification_read_all, name="notifications-read-all"),
    path("conversion/notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
]

_lead_notes = apis.NoteViewSet.as_view({"get": "list", "post": "create"})
_note = apis.NoteViewSet.as_view({"get": "retrieve", "patch": "partial_update"})
_lead_activities = apis.ActivityViewSet.as_view({"get": "list", "post": "create"})
_activity = apis.ActivityViewSet.as_view({"get": "retrieve"})
_lead_tasks = apis.TaskViewSet.as_view({"get": "list", "post": "create"})
_task = apis.TaskViewSet.as_view({"get": "retrieve", "patch": "partial_update"})
_task_complete = apis.TaskViewSet.as_view({"post": "complete"})
_task_reopen = apis.TaskViewSet.as_view({"post": "reopen"})
_notifications = apis.NotificationViewSet.as_view({"get": "list"})
_notifications_read = apis.NotificationViewSet.as_view({"post": "read_many"})
_notification_read = apis.NotificationViewSet.as_view({"post": "read"})

# Regular expressions, as the routers of the other APIs write them (ids are digits, and the OpenAPI
# paths read {lead_pk} and {id}).
LEAD = r"^conversion/leads/(?P<lead_pk>[0-9]+)"
PK = r"(?P<pk>[0-9]+)"
api_urlpatterns: list[URLPattern | URLResolver] = [
    re_path(rf"{LEAD}/notes/$", _lead_notes, name="api-conversion-lead-notes"),
    re_path(rf"^conversion/notes/{PK}/$", _note, name="api-conversion-note"),
    re_path(rf"{LEAD}/activities/$", _lead_activities, name="api-conversion-lead-activities"),
    re_path(rf"^conversion/activities/{PK}/$", _activity, name="api-conversion-activity"),
    re_path(rf"{LEAD}/tasks/$", _lead_tasks, name="api-conversion-lead-tasks"),
    re_path(rf"^conversion/tasks/{PK}/$", _task, name="api-conversion-task"),
    re_path(rf"^conversion/tasks/{PK}/complete/$", _task_complete, name="api-conversion-task-complete"),
    re_path(rf"^conversion/tasks/{PK}/reopen/$", _task_reopen, name="api-conversion-task-reopen"),
    re_path(r"^conversion/notifications/$", _notifications, name="api-conversion-notifications"),
    re_path(
        r"^conversion/notifications/read/$", _notifications_read, name="api-conversion-notifications-read"
    ),
    re_path(
        rf"^conversion/notifications/{PK}/read/$", _notification_read, name="api-conversion-notification-read"
    ),
]
