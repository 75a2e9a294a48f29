from django.apps import AppConfig


class ConversionConfig(AppConfig):
    name = "conversion"
    verbose_name = "Conversion"

    def ready(self) -> None:
        # SLA clocks follow the handoff's signals; its sweep tasks live in the part's own package.
        from conversion.sla import receivers, tasks  # noqa: F401
