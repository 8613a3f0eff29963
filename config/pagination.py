"""Pages of a long list that stay fast deep into it: the page's ids first, then its rows.

`Paginator(queryset).get_page(500)` asks the database for OFFSET 24,950 LIMIT 50 of the whole query, joins
and all: the database builds 25,000 joined rows to return 50 (130 ms at 50,000 clips, and growing with the
list). Here the offset walks an index of ids alone (the list's ordering index, without the joins), and only
the page's 50 rows are then read with their joins and prefetches.
"""

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet


def ids_first_page(queryset: QuerySet, per_page: int, number) -> Page:
    """`Paginator(queryset, per_page).get_page(number)`, the page's rows read by id after the offset."""
    ids = queryset.select_related(None).prefetch_related(None).values_list("pk", flat=True)
    page = Paginator(ids, per_page).get_page(number)
    chosen = list(page.object_list)
    rows = {row.pk: row for row in queryset.filter(pk__in=chosen).order_by()}
    page.object_list = [rows[pk] for pk in chosen if pk in rows]
    return page
