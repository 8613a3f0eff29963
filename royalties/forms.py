"""The deal form: terms entered as percentages, as people state them ("50 %"), stored as fractions."""

from decimal import Decimal

from django import forms

from catalog.models import Partner
from royalties.models import RATE_PLACES, ProRataRule

PERCENT_PLACES = RATE_PLACES - 2  # a fraction with six places is a percentage with four


def percent_field(label: str, initial: str, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label, min_value=Decimal(0), max_value=Decimal(100), decimal_places=PERCENT_PLACES,
        initial=Decimal(initial), help_text=help_text,
    )  # fmt: skip


class DealForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.order_by("name"))
    name = forms.CharField(max_length=200, required=False)
    effective_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    currency = forms.CharField(max_length=3, min_length=3)
    royalty_rate = percent_field("Royalty rate (%)", "50", "of the partner's net revenue")
    label_share = percent_field("Label share (%)", "0", "of the pool, kept by the label")
    attributed_fraction = percent_field("Attributed (%)", "100", "of the rest, paid by attribution shares")
    publishing_fraction = percent_field(
        "Publishing (%)", "0", "of the parties' part, paid to publishing splits"
    )
    pro_rata_rule = forms.ChoiceField(choices=ProRataRule.choices)

    def terms(self) -> dict:
        """The service's keyword arguments, percentages as fractions."""
        data = self.cleaned_data
        fraction = {
            k: data[k] / 100
            for k in ("royalty_rate", "label_share", "attributed_fraction", "publishing_fraction")
        }
        return {
            "partner": data["partner"], "name": data["name"], "effective_from": data["effective_from"],
            "currency": data["currency"].upper(), "pro_rata_rule": data["pro_rata_rule"], **fraction,
        }  # fmt: skip
