from django.contrib import admin

from partner_api.models import ApiKey, IdempotencyRecord, UsageReport, WebhookDelivery, WebhookEndpoint
from partner_api.services import apikey_revoke, webhook_secret_generate


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created with `manage.py apikey_create` (shown once); here they are only seen and revoked."""

    list_display = ["prefix", "name", "partner", "label", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["label", "partner"]
    search_fields = ["prefix", "name"]
    readonly_fields = [f.name for f in ApiKey._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            apikey_revoke(api_key=api_key)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "partner", "label", "is_active", "created_at"]
    list_filter = ["is_active", "label", "partner"]
    exclude = ["secret_encrypted"]  # never shown; stored encrypted

    def save_model(self, request, obj, form, change):
        if not obj.secret_encrypted:  # an endpoint added here gets a secret as the API would give it
            obj.secret = webhook_secret_generate()
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event_type"]


@admin.register(UsageReport)
class UsageReportAdmin(ReadOnlyAdmin):
    list_display = [
        "report_ref",
        "partner",
        "label",
        "status",
        "accepted_count",
        "rejected_count",
        "created_at",
    ]
    list_filter = ["status", "label", "partner"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "partner", "response_status", "created_at"]
    search_fields = ["key"]
