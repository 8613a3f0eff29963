from django.apps import AppConfig


class PartnerApiConfig(AppConfig):
    name = "partner_api"
    verbose_name = "Partner API"

    def ready(self) -> None:
        from fingerprinting import events
        from partner_api import schema  # noqa: F401  (registers the Bearer scheme with drf-spectacular)
        from partner_api.events import clip_event_to_webhooks

        events.subscribe(clip_event_to_webhooks)
        from partner_api import ui

        ui.register()
        from config import metrics
        from partner_api.metrics import WebhookCollector

        metrics.register("webhooks", WebhookCollector())
