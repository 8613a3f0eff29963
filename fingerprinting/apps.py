from django.apps import AppConfig


class FingerprintingConfig(AppConfig):
    name = "fingerprinting"
    verbose_name = "Attribution"
