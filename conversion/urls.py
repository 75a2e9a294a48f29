"""Routes of the conversion app (dashboard pages and API), gathered for leadhub/urls.py from its parts."""

from django.urls import URLPattern, URLResolver

from conversion.deals import urls as deals_urls
from conversion.queue import urls as queue_urls
from conversion.sla import urls as sla_urls
from conversion.workspace import urls as workspace_urls

api_urlpatterns: list[URLPattern | URLResolver] = [
    *queue_urls.api_urlpatterns,
    *sla_urls.api_urlpatterns,
    *workspace_urls.api_urlpatterns,
    *deals_urls.api_urlpatterns,
]
urlpatterns: list[URLPattern | URLResolver] = [
    *queue_urls.urlpatterns,
    *sla_urls.urlpatterns,
    *workspace_urls.urlpatterns,
    *deals_urls.urlpatterns,
]
