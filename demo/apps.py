"""The demo: synthesized music, a demo catalog, derived clips and a month of money (`make demo`).

Not part of the product: production apps never import it. It sits above every other app (it builds a
label through their services) and is kept out of catalog, fingerprinting and royalties so that their code
is what a label runs."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo"
