from django.contrib import admin

from catalog.admin import LabelScopedAdmin
from config.admin import ReadOnlyAdminMixin
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


class ThroughPeriodScopedAdmin(admin.ModelAdmin):
    """Staff see only their labels' rows (superusers see all), for models reached through a path."""

    label_path = "period__label"

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        return rows.filter(**{f"{self.label_path}__memberships__user": request.user}).distinct()


class ReadOnlyAdmin(ReadOnlyAdminMixin, ThroughPeriodScopedAdmin):
    """Rows written by the close or the ingestion service only."""


@admin.register(Deal)
class DealAdmin(ReadOnlyAdminMixin, LabelScopedAdmin):
    """Read-only: deals are created by `royalties.services.deal_create` (which rejects overlaps) and never
    edited, because closed periods were priced, and are reconciled, with their terms."""

    list_display = [
        "label",
        "partner",
        "royalty_rate",
        "attributed_fraction",
        "label_share",
        "publishing_fraction",
        "currency",
        "effective_from",
        "effective_to",
    ]
    list_filter = ["currency", "pro_rata_rule"]


@admin.register(PayeeProfile)
class PayeeProfileAdmin(ThroughPeriodScopedAdmin):
    label_path = "party__label"
    list_display = ["party", "currency", "iban", "bic", "withholding_rate", "advance_amount"]
    search_fields = ["party__name", "iban"]


@admin.register(LabelRoyaltySettings)
class LabelRoyaltySettingsAdmin(ThroughPeriodScopedAdmin):
    label_path = "label"


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    list_display = ["month", "base", "quote", "rate", "source"]


@admin.register(UsageLine)
class UsageLineAdmin(ReadOnlyAdmin):
    label_path = "label"
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
    label_path = "label"
    list_display = ["label", "month", "status", "closed_at"]
    list_filter = ["status"]


class StatementLineInline(admin.TabularInline):
    model = StatementLine
    extra = 0
    can_delete = False
    readonly_fields = [
        "kind",
        "right",
        "right_type",
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
    label_path = "label"
    list_display = ["pk", "label", "currency", "status", "created_at", "paid_at"]


@admin.register(PayoutLine)
class PayoutLineAdmin(ReadOnlyAdmin):
    label_path = "batch__label"
    list_display = ["batch", "party", "amount", "currency", "status"]
