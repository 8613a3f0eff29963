from datetime import UTC

import django_filters

from config.errors import InvalidInput
from fingerprinting.models import Clip, ClipStatus


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 with any offset Python accepts; compared in UTC (PostgreSQL refuses offsets over 15:59)."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise InvalidInput(
                    "The date is out of range.", fields={self.field_name: ["Date out of range."]}
                )
        return super().filter(qs, value)


class ClipFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ClipStatus.choices)
    external_id = django_filters.CharFilter(max_length=200)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Clip
        fields = ["status", "external_id", "created_after", "created_before"]
