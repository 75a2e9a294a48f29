from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from leads.webforms import apis, public_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("forms/", views.form_list, name="form-list"),
    path("forms/new/", views.form_create_view, name="form-create"),
    path("forms/<int:pk>/", views.form_edit, name="form-edit"),
    path("forms/<int:pk>/delete/", views.form_delete_view, name="form-delete"),
    path("forms/<int:pk>/fields/add/", views.form_field_add_view, name="form-field-add"),
    path("forms/<int:pk>/fields/<int:form_field_pk>/", views.form_field_edit, name="form-field-edit"),
    path(
        "forms/<int:pk>/fields/<int:form_field_pk>/move/", views.form_field_move_view, name="form-field-move"
    ),
    path(
        "forms/<int:pk>/fields/<int:form_field_pk>/delete/",
        views.form_field_delete_view,
        name="form-field-delete",
    ),
    path("forms/<int:pk>/consents/", views.form_consent_view, name="form-consent"),
    path(
        "forms/<int:pk>/consents/<str:purpose>/remove/",
        views.form_consent_remove_view,
        name="form-consent-remove",
    ),
    path("forms/<int:pk>/submissions/", views.form_submissions, name="form-submissions"),
    path("contacts/<int:pk>/consent/", views.contact_consent_view, name="contact-consent"),
    path(
        "forms/<int:pk>/submissions/<int:form_submission_pk>/release/",
        views.form_submission_release_view,
        name="form-submission-release",
    ),
    # Public: reached with the form's key from any website (leadhub.tenancy.public).
    path("f/confirm/<str:token>/", public_views.consent_confirm_view, name="form-confirm"),
    path("f/<str:key>/", public_views.form_public, name="form-public"),
    path("f/<str:key>/fields/", public_views.form_fields, name="form-public-fields"),
    path("embed/forms/<str:key>.js", public_views.embed_script, name="form-embed-script"),
]

_api_router = SimpleRouter()
_api_router.register("forms", apis.FormViewSet, basename="api-form")
_api_router.register(
    r"forms/(?P<form_pk>\d+)/submissions", apis.FormSubmissionViewSet, basename="api-form-submission"
)
_api_router.register("consents", apis.ConsentViewSet, basename="api-consent")
api_urlpatterns: list[URLPattern | URLResolver] = [*_api_router.urls]
