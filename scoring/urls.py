"""Routes of the qualification app (dashboard pages and API), gathered for leadhub/urls.py."""

from django.urls import URLPattern, URLResolver

from scoring.predictive import urls as predictive_urls

urlpatterns: list[URLPattern | URLResolver] = [*predictive_urls.urlpatterns]
api_urlpatterns: list[URLPattern | URLResolver] = [*predictive_urls.api_urlpatterns]
