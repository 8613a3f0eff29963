from django.contrib import admin

from catalog.models import Label, Membership, Partner, Party, Recording, Split, SplitShare, Work


class LabelScopedAdmin(admin.ModelAdmin):
    """Admin that shows staff only their labels' rows (superusers see all). Subclass for label-owned models."""

    label_field = "label"

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "label" and not request.user.is_superuser:
            kwargs["queryset"] = Label.objects.filter(memberships__user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "default_currency", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(memberships__user=request.user)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Party)
class PartyAdmin(LabelScopedAdmin):
    list_display = ["name", "kind", "ipi", "isni", "label"]
    list_filter = ["kind"]
    search_fields = ["name", "ipi", "isni"]


class SplitShareInline(admin.TabularInline):
    model = SplitShare
    extra = 0
    readonly_fields = ["party", "share"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Split)
class SplitAdmin(LabelScopedAdmin):
    """Read-only: split versions are created through `split_create`, which checks the sum."""

    label_field = "recording__label"
    list_display = ["recording", "right_type", "effective_from", "created_at"]
    list_filter = ["right_type"]
    search_fields = ["recording__isrc", "recording__title"]
    inlines = [SplitShareInline]
    readonly_fields = ["recording", "right_type", "effective_from", "note", "created_by", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WorkInline(admin.TabularInline):
    model = Work.recordings.through
    extra = 0


@admin.register(Recording)
class RecordingAdmin(LabelScopedAdmin):
    list_display = ["isrc", "title", "display_artist", "status", "duration_seconds", "label"]
    list_filter = ["status"]
    search_fields = ["isrc", "title", "display_artist"]
    readonly_fields = ["audio_sha256", "status", "status_reason"]


@admin.register(Work)
class WorkAdmin(LabelScopedAdmin):
    list_display = ["iswc", "title", "label"]
    search_fields = ["iswc", "title"]
    filter_horizontal = ["recordings"]
