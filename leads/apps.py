from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Capture"

    def ready(self) -> None:
        from leads import (
            handlers,  # noqa: F401  (subscribes to domain events)
            lookups,  # noqa: F401  (registers field__any_of)
        )
        from leads.landing import handlers as landing_handlers  # noqa: F401
