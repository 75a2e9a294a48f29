from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from leads.tracking import apis, public, views

urlpatterns: list[URLPattern | URLResolver] = [
    # Public: the snippet, its endpoints, referral links and ad lead webhooks (leadhub.tenancy.public).
    path("t.js", public.snippet, name="tracking-snippet"),
    path("t/<str:key>/collect", public.collect, name="tracking-collect"),
    path("t/<str:key>/identify", public.identify, name="tracking-identify"),
    path("r/<str:key>", public.referral_redirect, name="referral-redirect"),
    path("hooks/<str:key>/", public.ad_hook, name="ad-hook"),
    # Dashboard
    path("tracking/", views.tracking, name="tracking"),
    path("tracking/sites/<int:pk>/", views.tracking_site, name="tracking-site"),
    path("tracking/sites/<int:pk>/delete/", views.tracking_site_delete, name="tracking-site-delete"),
    path("tracking/referrals/", views.referral_create, name="referral-create"),
    path("ad-sources/", views.ad_source_list, name="ad-sources"),
    path("ad-sources/<int:pk>/", views.ad_source_detail, name="ad-source"),
    path("ad-sources/<int:pk>/rotate/", views.ad_source_rotate, name="ad-source-rotate"),
    path("ad-sources/<int:pk>/delete/", views.ad_source_delete, name="ad-source-delete"),
]

_api_router = SimpleRouter()
_api_router.register("events", apis.EventViewSet, basename="api-event")
api_urlpatterns: list[URLPattern | URLResolver] = [*_api_router.urls]
