from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Qualification"

    def ready(self) -> None:
        from scoring import handlers  # noqa: F401  (subscribes to domain events)
        from scoring.predictive import handlers as predictive_handlers  # noqa: F401  (subscribes; registers tasks)
