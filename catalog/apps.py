from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from catalog import ui
        from catalog.consent_views import recording_consent_panel

        ui.register_recording_panel(
            ui.Panel(
                title="Consent",
                order=5,
                template="catalog/recording_consent_panel.html",
                context=recording_consent_panel,
            )
        )
        ui.register_nav_link(ui.NavLink("Consent", "catalog:label-consent", 28))
