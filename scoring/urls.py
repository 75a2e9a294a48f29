from django.urls import URLPattern, URLResolver, include, path

from scoring.chat import urls as chat_urls

urlpatterns: list[URLPattern | URLResolver] = [*chat_urls.urlpatterns]
api_urlpatterns: list[URLPattern | URLResolver] = [path("scoring/", include(chat_urls.api_urlpatterns))]
