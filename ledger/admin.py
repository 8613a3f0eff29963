from django.contrib import admin

from config.admin import ReadOnlyAdminMixin
from ledger.models import Account, Posting, Transaction


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["code", "currency", "kind", "name", "owner_key"]
    list_filter = ["kind", "currency"]
    search_fields = ["code", "name", "owner_key"]


class PostingInline(admin.TabularInline):
    model = Posting
    extra = 0
    can_delete = False
    readonly_fields = ["account", "amount", "currency"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the ledger is corrected by reversing transactions, posted by services."""

    list_display = ["key", "effective_date", "memo", "created_at"]
    search_fields = ["key", "memo"]
    date_hierarchy = "effective_date"
    inlines = [PostingInline]
