import django_filters

from fingerprinting.models import Clip, ClipStatus


class ClipFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ClipStatus.choices)
    external_id = django_filters.CharFilter(max_length=200)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Clip
        fields = ["status", "external_id", "created_after", "created_before"]
