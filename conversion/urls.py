"""Routes of the conversion app (dashboard pages and API), gathered for leadhub/urls.py from its parts."""

from django.urls import URLPattern, URLResolver

from conversion.workspace import urls as workspace_urls

api_urlpatterns: list[URLPattern | URLResolver] = [*workspace_urls.api_urlpatterns]
urlpatterns: list[URLPattern | URLResolver] = [*workspace_urls.urlpatterns]
