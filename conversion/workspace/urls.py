"""Routes of the workspace: the lead workspace and its forms, notifications (pages and API), and the
API of a lead's notes, activities and tasks."""

from django.urls import URLPattern, URLResolver, path

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

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("conversion/leads/<int:lead_pk>/notes/", _lead_notes, name="api-conversion-lead-notes"),
    path("conversion/notes/<int:pk>/", _note, name="api-conversion-note"),
    path(
        "conversion/leads/<int:lead_pk>/activities/", _lead_activities, name="api-conversion-lead-activities"
    ),
    path("conversion/activities/<int:pk>/", _activity, name="api-conversion-activity"),
    path("conversion/leads/<int:lead_pk>/tasks/", _lead_tasks, name="api-conversion-lead-tasks"),
    path("conversion/tasks/<int:pk>/", _task, name="api-conversion-task"),
    path(
        "conversion/tasks/<int:pk>/complete/",
        apis.TaskViewSet.as_view({"post": "complete"}),
        name="api-conversion-task-complete",
    ),
    path(
        "conversion/tasks/<int:pk>/reopen/",
        apis.TaskViewSet.as_view({"post": "reopen"}),
        name="api-conversion-task-reopen",
    ),
    path(
        "conversion/notifications/",
        apis.NotificationViewSet.as_view({"get": "list"}),
        name="api-conversion-notifications",
    ),
    path(
        "conversion/notifications/read/",
        apis.NotificationViewSet.as_view({"post": "read_many"}),
        name="api-conversion-notifications-read",
    ),
    path(
        "conversion/notifications/<int:pk>/read/",
        apis.NotificationViewSet.as_view({"post": "read"}),
        name="api-conversion-notification-read",
    ),
]
