from django.apps import AppConfig


class RoyaltiesConfig(AppConfig):
    name = "royalties"
    verbose_name = "Royalties"

    def ready(self) -> None:
        from royalties import ui

        ui.register()
        from config import metrics
        from royalties.metrics import CloseCollector

        metrics.register("closes", CloseCollector())
