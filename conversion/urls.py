"""Routes of the conversion app (dashboard pages and API), gathered for leadhub/urls.py from its parts."""

from django.urls import URLPattern, URLResolver

api_urlpatterns: list[URLPattern | URLResolver] = []
urlpatterns: list[URLPattern | URLResolver] = []
