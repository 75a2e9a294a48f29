from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TenancyConfig(AppConfig):
    name = "leadhub.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"

    def ready(self) -> None:
        from leadhub.tenancy import checks, rls  # noqa: F401  (registers the system checks)

        post_migrate.connect(rls.on_post_migrate, sender=self, dispatch_uid="tenancy_rls_install")
