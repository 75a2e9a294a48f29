from django.apps import AppConfig


class ConversionConfig(AppConfig):
    name = "conversion"
    verbose_name = "Conversion"

    def ready(self) -> None:
        from conversion.workspace import tasks as workspace_tasks  # noqa: F401  (registers the beat task)
