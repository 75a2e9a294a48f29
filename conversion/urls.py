"""Routes of the conversion app (dashboard pages and API), gathered for leadhub/urls.py from its parts."""

from django.urls import URLPattern, URLResolver

from conversion.deals import urls as deals_urls

api_urlpatterns: list[URLPattern | URLResolver] = [*deals_urls.api_urlpatterns]
urlpatterns: list[URLPattern | URLResolver] = [*deals_urls.urlpatterns]
