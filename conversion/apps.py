from django.apps import AppConfig


class ConversionConfig(AppConfig):
    name = "conversion"
    verbose_name = "Conversion"

    def ready(self) -> None:
        from conversion import handlers  # noqa: F401  (subscribes to domain events)
        from conversion.referrals import receivers as referral_receivers

        referral_receivers.connect()
