from django.contrib import admin

from config.admin import ReadOnlyAdminMixin
from fingerprinting.models import Attribution, AttributionShare, Clip, IndexVersion


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Attributions are immutable records: the admin shows them, services write them."""


class AttributionShareInline(admin.TabularInline):
    model = AttributionShare
    fields = ("rank", "recording", "share", "right", "lane")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "label",
        "partner",
        "external_id",
        "status",
        "reject_code",
        "duration_seconds",
        "created_at",
    )
    list_filter = ("status", "label", "partner")
    search_fields = ("external_id", "title", "audio_sha256")
    readonly_fields = [f.name for f in Clip._meta.fields]


@admin.register(Attribution)
class AttributionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "clip",
        "version",
        "unattributed",
        "review_state",
        "confidence",
        "index_version",
        "created_at",
    )
    list_filter = ("review_state", "engine_version")
    inlines = [AttributionShareInline]
    readonly_fields = [f.name for f in Attribution._meta.fields]


@admin.register(IndexVersion)
class IndexVersionAdmin(ReadOnlyAdmin):
    list_display = ("label", "version", "kind", "n_recordings", "n_segments", "is_current", "created_at")
    list_filter = ("label", "is_current", "kind")
    readonly_fields = [f.name for f in IndexVersion._meta.fields]
