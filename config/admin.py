class ReadOnlyAdminMixin:
    """For records that only services write (attributions, ledger transactions, deals): the admin shows
    them and nothing else."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
