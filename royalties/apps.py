"""Deals, usage, periods, statements and payouts."""

from django.apps import AppConfig


class RoyaltiesConfig(AppConfig):
    name = "royalties"
    verbose_name = "Royalties"

    def ready(self) -> None:
        from catalog import ui
        from royalties.selectors import recording_earnings

        ui.register_recording_panel(
            ui.Panel(
                title="Earnings",
                order=60,
                template="royalties/recording_earnings_panel.html",
                context=lambda request, recording: {"rows": recording_earnings(recording=recording)},
            )
        )
        from fingerprinting import review
        from royalties.selectors import clips_with_held_money

        review.register_money_annotator(clips_with_held_money)
        from royalties import ui as royalties_ui

        royalties_ui.register()
        from config import metrics
        from royalties.metrics import CloseCollector

        metrics.register("closes", CloseCollector())
