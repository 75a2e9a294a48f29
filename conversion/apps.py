from django.apps import AppConfig


class ConversionConfig(AppConfig):
    name = "conversion"
    verbose_name = "Conversion"

    def ready(self) -> None:
        from conversion import handlers  # noqa: F401  (subscribes to domain events)
        from conversion.queue import tasks as queue_tasks  # noqa: F401  (registers the queue's tasks)

        # SLA clocks follow the handoff's signals; its sweep tasks live in the part's own package.
        from conversion.sla import receivers, tasks  # noqa: F401
        from conversion.workspace import tasks as workspace_tasks  # noqa: F401  (registers the beat task)
        from conversion.referrals import receivers as referral_receivers

        referral_receivers.connect()
