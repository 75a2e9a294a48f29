"""Routes of the qualification app (dashboard pages and API), gathered for leadhub/urls.py."""

from django.urls import URLPattern, URLResolver, include, path

from scoring.chat import urls as chat_urls
from scoring.predictive import urls as predictive_urls

urlpatterns: list[URLPattern | URLResolver] = [*chat_urls.urlpatterns, *predictive_urls.urlpatterns]
api_urlpatterns: list[URLPattern | URLResolver] = [
    path("scoring/", include(chat_urls.api_urlpatterns)),
    *predictive_urls.api_urlpatterns,
]
