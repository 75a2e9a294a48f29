from django.urls import URLPattern, URLResolver, path

from leads.landing import public, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("pages/", views.page_list, name="landing-pages"),
    path("pages/<int:pk>/", views.page_edit, name="landing-page-edit"),
    path("pages/<int:pk>/settings/", views.page_settings, name="landing-page-settings"),
    path("pages/<int:pk>/publish/", views.page_publish, name="landing-page-publish"),
    path("pages/<int:pk>/delete/", views.page_delete, name="landing-page-delete"),
    path("pages/<int:pk>/preview/", views.page_preview, name="landing-page-preview"),
    path("pages/<int:pk>/results/", views.page_results, name="landing-page-results"),
    path("pages/<int:pk>/stop/", views.experiment_stop, name="landing-experiment-stop"),
    path("pages/<int:pk>/variants/", views.variant_add, name="landing-variant-add"),
    path("pages/variants/<int:pk>/", views.variant_edit, name="landing-variant-edit"),
    path("pages/variants/<int:pk>/remove/", views.variant_remove, name="landing-variant-remove"),
    path("pages/variants/<int:pk>/blocks/", views.block_add, name="landing-block-add"),
    path("pages/blocks/<int:pk>/", views.block_edit, name="landing-block-edit"),
    path("pages/blocks/<int:pk>/move/", views.block_move, name="landing-block-move"),
    path("pages/blocks/<int:pk>/delete/", views.block_remove, name="landing-block-delete"),
    # Public (leadhub.tenancy.public): the tenant comes from the organization slug in the URL.
    path("p/<slug:org>/<slug:slug>/", public.page_public, name="landing-public"),
    path("p/<slug:org>/<slug:slug>/convert/", public.page_convert, name="landing-convert"),
]
