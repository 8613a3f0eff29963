from django.apps import AppConfig


class FingerprintingConfig(AppConfig):
    name = "fingerprinting"
    verbose_name = "Attribution"

    def ready(self) -> None:
        from fingerprinting import ui

        ui.register()
        from config import metrics
        from fingerprinting.metrics import ClipCollector

        metrics.register("clips", ClipCollector())
