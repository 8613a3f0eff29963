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


class NoEmptyFilterSet(django_filters.FilterSet):
    """A filter given with no value (`?status=`) is a mistake, answered 400, not silently ignored."""

    def is_valid(self) -> bool:
        empty = sorted(name for name in self.filters if name in self.data and self.data.get(name) == "")
        if empty:
            raise InvalidInput(
                f"Empty filter values: {', '.join(empty)}. Leave a filter out to not filter.",
                fields={name: ["This filter needs a value."] for name in empty},
            )
        return super().is_valid()


class ClipFilter(NoEmptyFilterSet):
    status = django_filters.ChoiceFilter(choices=ClipStatus.choices, help_text="Only clips in this status.")
    external_id = django_filters.CharFilter(min_length=1, max_length=200)
    created_after = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Only clips received at or after this time."
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Only clips received before this time."
    )

    class Meta:
        model = Clip
        fields = ["status", "external_id", "created_after", "created_before"]
