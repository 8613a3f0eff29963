from django.urls import path

from royalties import training_views, views

app_name = "royalties"
urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("periods/", views.period_list, name="period-list"),
    path("periods/<int:pk>/", views.period_detail, name="period-detail"),
    path("periods/<int:pk>/reconciliation/", views.period_reconciliation, name="period-reconciliation"),
    path("periods/<int:pk>/month.csv", views.period_month_csv, name="period-month-csv"),
    path("periods/<int:pk>/close/", views.period_close_confirm, name="period-close"),
    path("statements/<int:pk>/", views.statement_detail, name="statement-detail"),
    path("statements/<int:pk>.csv", views.statement_download_csv, name="statement-csv"),
    path("statements/<int:pk>.pdf", views.statement_download_pdf, name="statement-pdf"),
    path("settlements/<int:pk>.csv", views.settlement_download_csv, name="settlement-csv"),
    path("training/", training_views.training_preview, name="training-preview"),
    path("deals/new/", views.deal_new, name="deal-new"),
    path("payouts/", views.payout_list, name="payout-list"),
    path("payouts/new/", views.payout_batch_new, name="payout-new"),
    path("payouts/<int:pk>/", views.payout_detail, name="payout-detail"),
    path("payouts/<int:pk>/export.csv", views.payout_export, name="payout-export"),
    path("payouts/<int:pk>/paid/", views.payout_mark_paid, name="payout-paid"),
    path("payouts/<int:pk>/lines/<int:line_pk>/void/", views.payout_line_void_view, name="payout-line-void"),
]
