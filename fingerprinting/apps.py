from django.apps import AppConfig


class FingerprintingConfig(AppConfig):
    name = "fingerprinting"
    verbose_name = "Attribution"

    def ready(self) -> None:
        from catalog import events as catalog_events
        from fingerprinting.tasks import index_new_audio

        catalog_events.subscribe(index_new_audio)
        from fingerprinting import ui

        ui.register()
        from config import metrics
        from fingerprinting import events
        from fingerprinting.metrics import ClipCollector, clip_event_observe

        metrics.register("clips", ClipCollector())
        events.subscribe(clip_event_observe)
