from django.urls import path

from royalties import views

app_name = "royalties"
urlpatterns = [
    path("periods/", views.period_list, name="period-list"),
    path("periods/<int:pk>/", views.period_detail, name="period-detail"),
    path("statements/<int:pk>.csv", views.statement_download_csv, name="statement-csv"),
    path("statements/<int:pk>.pdf", views.statement_download_pdf, name="statement-pdf"),
    path("settlements/<int:pk>.csv", views.settlement_download_csv, name="settlement-csv"),
]
