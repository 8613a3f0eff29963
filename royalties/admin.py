from django.contrib import admin

from royalties.models import (
    Deal,
    FxRate,
    LabelRoyaltySettings,
    PartnerSettlement,
    PayeeProfile,
    PayoutBatch,
    PayoutLine,
    Period,
    Statement,
    StatementLine,
    UsageLine,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the close or the ingestion service only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = [
        "label",
        "partner",
        "royalty_rate",
        "attributed_fraction",
        "label_share",
        "currency",
        "effective_from",
        "effective_to",
    ]
    list_filter = ["currency", "pro_rata_rule"]


@admin.register(PayeeProfile)
class PayeeProfileAdmin(admin.ModelAdmin):
    list_display = ["party", "currency", "iban", "bic", "withholding_rate", "advance_amount"]
    search_fields = ["party__name", "iban"]


admin.site.register(LabelRoyaltySettings)


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    list_display = ["month", "base", "quote", "rate", "source"]


@admin.register(UsageLine)
class UsageLineAdmin(ReadOnlyAdmin):
    list_display = [
        "partner",
        "partner_line_id",
        "clip",
        "usage_date",
        "usage_count",
        "net_revenue",
        "currency",
    ]
    list_filter = ["line_type", "currency"]
    search_fields = ["partner_line_id"]


@admin.register(Period)
class PeriodAdmin(ReadOnlyAdmin):
    list_display = ["label", "month", "status", "closed_at"]
    list_filter = ["status"]


class StatementLineInline(admin.TabularInline):
    model = StatementLine
    extra = 0
    can_delete = False
    readonly_fields = [
        "kind",
        "partner",
        "recording",
        "clip",
        "usage_count",
        "amount_exact",
        "currency",
        "reference",
    ]
    max_num = 0


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ["number", "party", "currency", "earnings", "closing_balance", "carried_forward"]
    search_fields = ["number", "party__name"]
    inlines = [StatementLineInline]


@admin.register(PartnerSettlement)
class PartnerSettlementAdmin(ReadOnlyAdmin):
    list_display = ["period", "partner", "currency", "amount_due"]


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ReadOnlyAdmin):
    list_display = ["pk", "label", "currency", "status", "created_at", "paid_at"]


@admin.register(PayoutLine)
class PayoutLineAdmin(ReadOnlyAdmin):
    list_display = ["batch", "party", "amount", "currency", "status"]
