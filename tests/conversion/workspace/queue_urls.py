"""The project's routes plus stand-ins for the queue's accept and reject (another part of conversion):
the workspace must offer the buttons once those routes exist."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from leadhub.urls import urlpatterns as project_urlpatterns


def _stand_in(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(status=204)


urlpatterns = [
    *project_urlpatterns,
    path("conversion/handoffs/<int:pk>/accept/", _stand_in, name="queue-handoff-accept"),
    path("conversion/handoffs/<int:pk>/reject/", _stand_in, name="queue-handoff-reject"),
]
