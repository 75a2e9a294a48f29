from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from conversion import urls as conversion_urls
from leadhub.api.errors import api_not_found, api_server_error
from leadhub.tenancy import urls as tenancy_urls
from leadhub.tenancy import views as tenancy_views
from leads import urls as leads_urls
from scoring import urls as scoring_urls

api_v1 = [
    *tenancy_urls.api_urlpatterns,
    *leads_urls.api_urlpatterns,
    *scoring_urls.api_urlpatterns,
    *conversion_urls.api_urlpatterns,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(tenancy_urls.urlpatterns)),
    path("", include(leads_urls.urlpatterns)),
    path("", include(scoring_urls.urlpatterns)),
    path("", include(conversion_urls.urlpatterns)),
]


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_not_found(request, exception)
    return tenancy_views.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_server_error(request)
    return tenancy_views.server_error(request)
