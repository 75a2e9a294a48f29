from django.apps import AppConfig


class ConversionConfig(AppConfig):
    name = "conversion"
    verbose_name = "Conversion"

    def ready(self) -> None:
        # Subscriptions to domain events, the parts' tasks (beat names them) and their signal receivers:
        # SLA clocks follow the handoff's signals, the referral programme follows won deals.
        from conversion import handlers  # noqa: F401
        from conversion.queue import tasks as queue_tasks  # noqa: F401
        from conversion.referrals import receivers as referral_receivers
        from conversion.sla import receivers, tasks  # noqa: F401
        from conversion.workspace import tasks as workspace_tasks  # noqa: F401

        referral_receivers.connect()
