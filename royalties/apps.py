"""Deals, usage, periods, statements and payouts."""

from django.apps import AppConfig


class RoyaltiesConfig(AppConfig):
    name = "royalties"
    verbose_name = "Royalties"

    def ready(self) -> None:
        from catalog import ui
        from catalog.consent import register_closed_through
        from royalties.selectors import label_closed_through, recording_earnings

        register_closed_through(label_closed_through)
        from fingerprinting.licence import register_partner_licence
        from royalties.selectors import partner_licensed

        register_partner_licence(partner_licensed)

        ui.register_recording_panel(
            ui.Panel(
                title="Earnings",
                order=60,
                template="royalties/recording_earnings_panel.html",
                context=lambda request, recording: {"rows": recording_earnings(recording=recording)},
            )
        )
        from royalties.training_views import recording_training_panel

        ui.register_recording_panel(
            ui.Panel(
                title="Training downloads",
                order=65,
                template="royalties/recording_training_panel.html",
                context=recording_training_panel,
            )
        )
        from fingerprinting import review
        from royalties.selectors import clips_with_held_money

        review.register_money_annotator(clips_with_held_money)
        from fingerprinting import events
        from royalties.dashboard import frozen_invalidate

        events.subscribe(frozen_invalidate)  # a frozen day of the dashboard's window changed
        from royalties import ui as royalties_ui

        royalties_ui.register()
        from config import metrics
        from royalties.metrics import CloseCollector

        metrics.register("closes", CloseCollector())
